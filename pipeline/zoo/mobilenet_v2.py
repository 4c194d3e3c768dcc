"""MobileNetV2 (Sandler et al. 2018, Table 2), a minion family.

Stem conv 3x3/32, then 17 inverted-residual blocks: expand 1x1 (factor t; none in the first block,
t=1) -> BN -> ReLU6 -> depthwise 3x3 -> BN -> ReLU6 -> project 1x1 -> BN (linear bottleneck), with
a residual add when the stride is 1 and the block's input and output widths match. Then conv 1x1
to 1280 channels, global average pool, dropout 0.2 (TF-slim's keep probability 0.8) and a dense
softmax. Widths are ``make_divisible(c * alpha, 8)``; as in the paper the 1280-channel last conv is
not scaled down for alpha < 1, only up for alpha > 1. Small-input adaptation: the stem stride follows
:func:`mmnet.pipeline.zoo.layers.stem_stride`; the block strides are those of the paper.

Layer names: ``stem``, ``block{i}_expand``, ``block{i}_dw``, ``block{i}_project`` (+ ``_bn``,
``_relu6``), ``block{i}_add``, i = 1..17, and ``head``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmnet.pipeline._tf import keras
from mmnet.pipeline.zoo.layers import classifier_head, conv_bn, depthwise_bn, make_divisible, model_input, stem_stride

if TYPE_CHECKING:
    from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["STAGES", "build"]

# (expansion t, output channels c at alpha=1, repeats n, stride s of the first repeat), Table 2.
STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280
_DROPOUT = 0.2


def _inverted_residual(x, *, expansion: int, filters: int, strides: int, name: str):
    in_filters = x.shape[-1]
    y = x
    if expansion != 1:
        y = conv_bn(y, expansion * in_filters, 1, activation="relu6", name=f"{name}_expand")
    y = depthwise_bn(y, 3, strides=strides, activation="relu6", name=f"{name}_dw")
    y = conv_bn(y, filters, 1, activation=None, name=f"{name}_project")
    if strides == 1 and in_filters == filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def build(spec: VariantSpec, *, channels: int, num_classes: int) -> keras.Model:
    """MobileNetV2 at ``spec.alpha`` for ``spec.resolution`` square inputs with ``channels`` channels."""
    inputs = model_input(spec.resolution, channels)
    x = conv_bn(
        inputs,
        make_divisible(_STEM_FILTERS * spec.alpha),
        3,
        strides=stem_stride(spec.resolution),
        activation="relu6",
        name="stem",
    )
    index = 0
    for expansion, filters, repeats, first_stride in STAGES:
        for repeat in range(repeats):
            index += 1
            x = _inverted_residual(
                x,
                expansion=expansion,
                filters=make_divisible(filters * spec.alpha),
                strides=first_stride if repeat == 0 else 1,
                name=f"block{index}",
            )
    head_filters = make_divisible(_HEAD_FILTERS * spec.alpha) if spec.alpha > 1.0 else _HEAD_FILTERS
    x = conv_bn(x, head_filters, 1, activation="relu6", name="head")
    outputs = classifier_head(x, num_classes, dropout=_DROPOUT)
    return keras.Model(inputs, outputs, name=spec.name)
