"""ResNet for CIFAR-sized inputs (He et al. 2016, "Deep Residual Learning", sec. 4.2), the master.

Stem conv 3x3/16 (stride 1), then 3 stages of n basic blocks (conv 3x3 -> BN -> ReLU -> conv 3x3 ->
BN, added to the shortcut, -> ReLU) with 16, 32 and 64 channels (times alpha, rounded with
``make_divisible``) and strides 1, 2, 2; the shortcut is a 1x1 conv + BN projection when the shape
changes (option B of the paper), the identity otherwise. Global average pool and a dense softmax,
no dropout. Depth 6n+2 = 20 by default: about 40 M MACs on 32x32 frames, an order of magnitude more
than the small minions. Designed for small frames already, so there is no stem-stride rule here.

Layer names: ``stem``, ``stage{s}_block{b}_conv1``/``_conv2``/``_shortcut`` (+ ``_bn``, ``_relu``),
``stage{s}_block{b}_add`` and ``stage{s}_block{b}_out_relu``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmnet.format.errors import ConfigError
from mmnet.pipeline._tf import keras
from mmnet.pipeline.zoo.layers import classifier_head, conv_bn, make_divisible, model_input

if TYPE_CHECKING:
    from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["STAGES", "DEFAULT_DEPTH", "build"]

# (channels at alpha=1, stride of the first block) per stage.
STAGES = ((16, 1), (32, 2), (64, 2))
DEFAULT_DEPTH = 20
_STEM_FILTERS = 16


def _basic_block(x, filters: int, strides: int, *, name: str):
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, strides=strides, activation=None, name=f"{name}_shortcut")
    y = conv_bn(x, filters, 3, strides=strides, activation="relu", name=f"{name}_conv1")
    y = conv_bn(y, filters, 3, activation=None, name=f"{name}_conv2")
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out_relu")(y)


def build(spec: VariantSpec, *, channels: int, num_classes: int, depth: int = DEFAULT_DEPTH) -> keras.Model:
    """ResNet-``depth`` (6n+2) at ``spec.alpha`` for ``spec.resolution`` square inputs."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6 != 0:
        raise ConfigError(f"depth must be 6n+2 with n >= 1 (8, 14, 20, ...), got {depth!r}")
    blocks_per_stage = (depth - 2) // 6
    inputs = model_input(spec.resolution, channels)
    x = conv_bn(inputs, make_divisible(_STEM_FILTERS * spec.alpha), 3, activation="relu", name="stem")
    for s, (filters, first_stride) in enumerate(STAGES, start=1):
        for b in range(1, blocks_per_stage + 1):
            x = _basic_block(
                x,
                make_divisible(filters * spec.alpha),
                first_stride if b == 1 else 1,
                name=f"stage{s}_block{b}",
            )
    outputs = classifier_head(x, num_classes, dropout=0.0)
    return keras.Model(inputs, outputs, name=spec.name)
