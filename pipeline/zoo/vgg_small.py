"""A small VGG for small frames (Simonyan & Zisserman 2015; the CIFAR "VGG-like" nets SNIP prunes).

Three stages of two conv 3x3 -> BN -> ReLU layers with 32, 64 and 128 channels (times alpha, rounded
with ``make_divisible``), each stage closed by a 2x2 max pool ('same' padding, so 8x8 frames end at
1x1 and 28x28 ones at 4x4); then flatten -> FC (128 x alpha) -> ReLU -> dropout 0.3 -> logits ->
float32 softmax. About 38 M MACs on 32x32 frames, as heavy as the ResNet-20 master, but a plain
chain of convolutions and two fully connected layers: the shape pruning papers report on.

Layer names: ``stage{s}_conv{c}`` (+ ``_bn``, ``_relu``), ``stage{s}_pool``, ``flatten``, ``fc``,
``dropout``, ``logits``, ``probabilities``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmnet.pipeline._tf import keras
from mmnet.pipeline.zoo.layers import conv_bn, make_divisible, model_input

if TYPE_CHECKING:
    from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["STAGES", "CONVS_PER_STAGE", "FC_WIDTH", "build"]

STAGES = (32, 64, 128)  # channels at alpha = 1
CONVS_PER_STAGE = 2
FC_WIDTH = 128
_DROPOUT = 0.3


def build(spec: VariantSpec, *, channels: int, num_classes: int) -> keras.Model:
    """The small VGG at ``spec.alpha`` for ``spec.resolution`` square inputs."""
    inputs = model_input(spec.resolution, channels)
    x = inputs
    for s, filters in enumerate(STAGES, start=1):
        for c in range(1, CONVS_PER_STAGE + 1):
            x = conv_bn(x, make_divisible(filters * spec.alpha), 3, activation="relu", name=f"stage{s}_conv{c}")
        x = keras.layers.MaxPooling2D(2, padding="same", name=f"stage{s}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(make_divisible(FC_WIDTH * spec.alpha), activation="relu", name="fc")(x)
    x = keras.layers.Dropout(_DROPOUT, name="dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=spec.name)
