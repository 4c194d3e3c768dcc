"""MobileNetV1 (Howard et al. 2017, "MobileNets", Table 1), a minion family.

Stem conv 3x3/32, then 13 depthwise-separable blocks (depthwise 3x3 -> BN -> ReLU6 -> pointwise 1x1
-> BN -> ReLU6), global average pool, dropout 1e-3 (the Keras/TF-slim default) and a dense softmax.
Every width is ``make_divisible(c * alpha, 8)``, which is how the width multiplier alpha of eq. 5.1
is realised. Small-input adaptation: the stem stride follows :func:`mmnet.pipeline.zoo.layers.stem_stride`
(1 below 64 pixels, 2 otherwise); the block strides are those of the paper.

Layer names: ``stem``, ``block{i}_dw``, ``block{i}_pw`` (+ ``_bn``, ``_relu6``), i = 1..13.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmnet.pipeline._tf import keras
from mmnet.pipeline.zoo.layers import classifier_head, conv_bn, depthwise_bn, make_divisible, model_input, stem_stride

if TYPE_CHECKING:
    from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["BLOCKS", "build"]

# (pointwise output channels at alpha=1, depthwise stride), Howard et al. Table 1.
BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
_STEM_FILTERS = 32
_DROPOUT = 1e-3


def build(spec: VariantSpec, *, channels: int, num_classes: int) -> keras.Model:
    """MobileNetV1 at ``spec.alpha`` for ``spec.resolution`` square inputs with ``channels`` channels."""
    inputs = model_input(spec.resolution, channels)
    x = conv_bn(
        inputs,
        make_divisible(_STEM_FILTERS * spec.alpha),
        3,
        strides=stem_stride(spec.resolution),
        activation="relu6",
        name="stem",
    )
    for i, (filters, strides) in enumerate(BLOCKS, start=1):
        x = depthwise_bn(x, 3, strides=strides, activation="relu6", name=f"block{i}_dw")
        x = conv_bn(x, make_divisible(filters * spec.alpha), 1, activation="relu6", name=f"block{i}_pw")
    outputs = classifier_head(x, num_classes, dropout=_DROPOUT)
    return keras.Model(inputs, outputs, name=spec.name)
