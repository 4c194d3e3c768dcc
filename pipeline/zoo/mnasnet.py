"""MnasNet-A1 (Tan et al. 2019, Fig. 7), a minion family.

Stem conv 3x3/32 -> SepConv k3 -> 16 (depthwise 3x3 + linear 1x1 projection, no skip), then MBConv
stages (expand 1x1 by e -> BN -> ReLU -> depthwise kxk -> BN -> ReLU -> [squeeze-excite] -> project 1x1
-> BN, residual add when the stride is 1 and the widths match):

    MBConv6 k3     x2 -> 24  s2        MBConv6 k3 SE x2 -> 112 s1
    MBConv3 k5 SE  x3 -> 40  s2        MBConv6 k5 SE x3 -> 160 s2
    MBConv6 k3     x4 -> 80  s2        MBConv6 k3    x1 -> 320 s1

then conv 1x1 -> 1280, global average pool, dropout 0.2 and a dense softmax. The table, the SE width
(``max(1, int(0.25 * block input filters))``, ReLU inside, sigmoid gate) and the fixed 1280-channel
head follow the reference implementation (tensorflow/tpu ``mnasnet_models.py``/``mnasnet_model.py``).
Widths are ``make_divisible(c * alpha, 8)``. Small-input adaptation: the stem stride follows
:func:`mmnet.pipeline.zoo.layers.stem_stride`; the block strides are those of the paper.

Layer names: ``stem``, ``block{i}_expand``, ``block{i}_dw``, ``block{i}_se_*``, ``block{i}_project``
(+ ``_bn``, ``_relu``), ``block{i}_add``, i = 1..16, and ``head``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmnet.pipeline._tf import keras
from mmnet.pipeline.zoo.layers import (
    classifier_head,
    conv_bn,
    depthwise_bn,
    make_divisible,
    model_input,
    squeeze_excite,
    stem_stride,
)

if TYPE_CHECKING:
    from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["STAGES", "SE_RATIO", "build"]

# (repeats, kernel, expansion, squeeze-excite, output channels at alpha=1, stride of the first
# repeat, residual allowed); the first row is the SepConv block.
STAGES = (
    (1, 3, 1, False, 16, 1, False),
    (2, 3, 6, False, 24, 2, True),
    (3, 5, 3, True, 40, 2, True),
    (4, 3, 6, False, 80, 2, True),
    (2, 3, 6, True, 112, 1, True),
    (3, 5, 6, True, 160, 2, True),
    (1, 3, 6, False, 320, 1, True),
)
SE_RATIO = 0.25
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280
_DROPOUT = 0.2


def _mbconv(x, *, kernel: int, expansion: int, se: bool, filters: int, strides: int, skip: bool, name: str):
    in_filters = x.shape[-1]
    y = x
    if expansion != 1:
        y = conv_bn(y, expansion * in_filters, 1, activation="relu", name=f"{name}_expand")
    y = depthwise_bn(y, kernel, strides=strides, activation="relu", name=f"{name}_dw")
    if se:
        y = squeeze_excite(y, max(1, int(in_filters * SE_RATIO)), name=f"{name}_se")
    y = conv_bn(y, filters, 1, activation=None, name=f"{name}_project")
    if skip and strides == 1 and in_filters == filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def build(spec: VariantSpec, *, channels: int, num_classes: int) -> keras.Model:
    """MnasNet-A1 at ``spec.alpha`` for ``spec.resolution`` square inputs with ``channels`` channels."""
    inputs = model_input(spec.resolution, channels)
    x = conv_bn(
        inputs,
        make_divisible(_STEM_FILTERS * spec.alpha),
        3,
        strides=stem_stride(spec.resolution),
        activation="relu",
        name="stem",
    )
    index = 0
    for repeats, kernel, expansion, se, filters, first_stride, skip in STAGES:
        for repeat in range(repeats):
            index += 1
            x = _mbconv(
                x,
                kernel=kernel,
                expansion=expansion,
                se=se,
                filters=make_divisible(filters * spec.alpha),
                strides=first_stride if repeat == 0 else 1,
                skip=skip,
                name=f"block{index}",
            )
    x = conv_bn(x, _HEAD_FILTERS, 1, activation="relu", name="head")
    outputs = classifier_head(x, num_classes, dropout=_DROPOUT)
    return keras.Model(inputs, outputs, name=spec.name)
