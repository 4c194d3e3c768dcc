"""Building blocks shared by every family of the zoo.

All layers are plain Keras 2 (tf_keras) layers with explicit, deterministic names, so that building
the same variant twice yields identical layer names (artifacts, tests and the cost table refer to
layers by name). Batch normalisation uses momentum 0.9 and epsilon 1e-3 everywhere: the 0.999
momentum of ``keras.applications`` keeps the moving statistics far from the batch statistics for
the few hundred steps a small dataset gives, and the model then predicts garbage at inference.

Small-input adaptation: the ImageNet families (MobileNetV1/V2, MnasNet) downsample their input 32x,
meant for 224x224 images; our datasets have 8x8 to 32x32 frames. :func:`stem_stride` is the single
rule all three use: below 64 pixels the stem convolution has stride 1 instead of 2 (the usual CIFAR
adaptation), which halves the total downsampling to 16x. The rest of each schedule is unchanged;
'same' padding turns maps smaller than the remaining strides into 1x1 maps, which is harmless.
"""

from __future__ import annotations

from mmnet.pipeline._tf import keras

__all__ = [
    "BN_MOMENTUM",
    "BN_EPSILON",
    "SMALL_INPUT_LIMIT",
    "make_divisible",
    "stem_stride",
    "model_input",
    "conv_bn",
    "depthwise_bn",
    "squeeze_excite",
    "classifier_head",
]

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-3
SMALL_INPUT_LIMIT = 64  # inputs below this many pixels get a stride-1 stem

_CONV_INIT = "he_normal"  # ReLU networks (He et al. 2015)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Rounds a channel count to the nearest multiple of ``divisor`` (the TF-slim/Keras rule).

    Never below ``min_value`` (default ``divisor``) and never more than 10% below ``value``:
    ``make_divisible(0.25 * 32) == 8``, ``make_divisible(0.35 * 16) == 8``,
    ``make_divisible(0.75 * 40) == 32`` (30 rounds to 32).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def stem_stride(resolution: int) -> int:
    """Stride of the stem convolution of the ImageNet families for a square input of ``resolution``.

    2 as in the papers for inputs of at least :data:`SMALL_INPUT_LIMIT` pixels, 1 below (see the
    module docstring).
    """
    return 1 if resolution < SMALL_INPUT_LIMIT else 2


def model_input(resolution: int, channels: int):
    """The float32 input of a zoo model: normalised frames of shape (resolution, resolution, channels)."""
    return keras.Input(shape=(resolution, resolution, channels), dtype="float32", name="input")


def _bn(x, name: str):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)


def _activation(x, activation: str | None, name: str):
    """``relu6``, ``relu`` or ``None`` (linear, e.g. the MobileNetV2 bottleneck projection)."""
    if activation is None:
        return x
    max_value = {"relu6": 6.0, "relu": None}[activation]
    return keras.layers.ReLU(max_value=max_value, name=f"{name}_{activation}")(x)


def conv_bn(x, filters: int, kernel_size: int, *, strides: int = 1, activation: str | None, name: str):
    """Conv2D (no bias, 'same') -> BatchNormalization -> activation.

    Layers: ``{name}``, ``{name}_bn`` and ``{name}_{activation}``.
    """
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=_CONV_INIT,
        name=name,
    )(x)
    x = _bn(x, f"{name}_bn")
    return _activation(x, activation, name)


def depthwise_bn(x, kernel_size: int, *, strides: int = 1, activation: str | None, name: str):
    """DepthwiseConv2D (multiplier 1, no bias, 'same') -> BatchNormalization -> activation.

    Layers: ``{name}``, ``{name}_bn`` and ``{name}_{activation}``.
    """
    x = keras.layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        depthwise_initializer=_CONV_INIT,
        name=name,
    )(x)
    x = _bn(x, f"{name}_bn")
    return _activation(x, activation, name)


def squeeze_excite(x, reduced_filters: int, *, name: str):
    """Squeeze-and-excitation (Hu et al. 2018) as in MnasNet: pool, 1x1 ReLU, 1x1 sigmoid, rescale.

    Made of standard layers only (they convert to plain TFLite ops): ``{name}_squeeze``
    (GlobalAveragePooling2D), ``{name}_reduce``, ``{name}_expand`` (Conv2D 1x1 with bias) and
    ``{name}_excite`` (Multiply).
    """
    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = keras.layers.Conv2D(
        reduced_filters, 1, activation="relu", kernel_initializer=_CONV_INIT, name=f"{name}_reduce"
    )(s)
    s = keras.layers.Conv2D(channels, 1, activation="sigmoid", kernel_initializer=_CONV_INIT, name=f"{name}_expand")(s)
    return keras.layers.Multiply(name=f"{name}_excite")([x, s])


def classifier_head(x, num_classes: int, *, dropout: float):
    """Global average pool -> dropout (if ``dropout`` > 0) -> dense logits -> float32 softmax.

    Layers: ``global_pool``, ``dropout``, ``logits`` and ``probabilities``; the softmax runs in
    float32 even under a mixed-precision policy.
    """
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
