"""LeNet-5 (LeCun et al. 1998), the small master of the dissertation's Table 4.1 and chapter 7.

conv 6@5x5 -> 2x2 max pool -> conv 16@5x5 -> 2x2 max pool -> FC 120 -> FC 84 -> softmax, ReLU
activations and biases everywhere, no batch normalisation (the form SNIP and chapter 7 prune).
``alpha`` scales the four widths (rounded, at least 1); they are not rounded to multiples of 8 as in
the other families, since 6 and 16 are the architecture.

Input sizes: LeCun fed 28x28 MNIST digits padded to 32x32 into 'valid' convolutions. Here conv1 uses
'same' padding (the same 2-pixel border for 28x28), so a 28x28 frame yields the classic maps
28 -> 14 -> 10 -> 5 and 16*5*5 = 400 features into FC 120. conv2 stays 'valid' whenever that leaves
at least a 2x2 map for the second pool (pooled map >= 6, i.e. inputs from 12 pixels); below that
(8x8 digits: 8 -> 4) it uses 'same' padding too, giving 4 -> 2 and 16*2*2 = 64 features.

Layer names: ``conv1``, ``pool1``, ``conv2``, ``pool2``, ``flatten``, ``fc1``, ``fc2``, ``logits``,
``probabilities``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmnet.pipeline._tf import keras
from mmnet.pipeline.zoo.layers import model_input

if TYPE_CHECKING:
    from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["WIDTHS", "KERNEL", "conv2_padding", "build"]

WIDTHS = (6, 16, 120, 84)  # conv1, conv2, fc1, fc2 at alpha = 1
KERNEL = 5
_MIN_POOLED_MAP = 2  # the second 2x2 pool needs at least a 2x2 map


def conv2_padding(resolution: int) -> str:
    """'valid' as in LeNet-5 when conv2 leaves at least a 2x2 map for pool2, 'same' on smaller inputs."""
    pooled = resolution // 2
    return "valid" if pooled - (KERNEL - 1) >= _MIN_POOLED_MAP else "same"


def _width(base: int, alpha: float) -> int:
    return max(1, round(base * alpha))


def build(spec: VariantSpec, *, channels: int, num_classes: int) -> keras.Model:
    """LeNet-5 at ``spec.alpha`` for ``spec.resolution`` square inputs."""
    conv1, conv2, fc1, fc2 = (_width(w, spec.alpha) for w in WIDTHS)
    inputs = model_input(spec.resolution, channels)
    x = keras.layers.Conv2D(conv1, KERNEL, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(conv2, KERNEL, padding=conv2_padding(spec.resolution), activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(fc1, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(fc2, activation="relu", name="fc2")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=spec.name)
