"""The probe models: tf_keras models of ONE layer each, and chains of tiny ops that expose the
per-invoke overhead, converted to .tflite files for timing.

The single layers are drawn seeded from grids covering the zoo's layers (:func:`layer_specs`,
built by :func:`build_layer`); the chains (:data:`OVERHEAD_CHAINS`, :func:`build_chain`) are
timed for the overhead (see the package docstring). TensorFlow is imported only when a model is
built or converted.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.checks import check_bool, check_choice, check_int

__all__ = ["LAYER_KINDS", "LayerSpec", "layer_specs", "build_layer", "OVERHEAD_CHAINS", "build_chain", "convert"]

# The kinds of single-layer model, as build_layer names them.
LAYER_KINDS = (
    "conv", "depthwise", "dense", "add", "mul", "mean", "avg_pool", "max_pool", "logistic", "hard_swish", "softmax",
)


@dataclass(frozen=True)
class LayerSpec:
    """One single-layer model: its kind, input map and layer parameters."""

    kind: str
    h: int
    w: int
    c: int  # input channels (features for dense and softmax, whose input is (c,))
    out_c: int = 0
    kernel: int = 1
    stride: int = 1
    keepdims: bool = False

    def __post_init__(self) -> None:
        check_choice("layer spec: kind", self.kind, LAYER_KINDS)
        for name in ("h", "w", "c", "kernel", "stride"):
            check_int(f"layer spec {self.kind}: {name}", getattr(self, name), low=1)
        check_int(f"layer spec {self.kind}: out_c", self.out_c, low=0)
        check_bool(f"layer spec {self.kind}: keepdims", self.keepdims)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.c,) if self.kind in ("dense", "softmax") else (self.h, self.w, self.c)

    @property
    def macs(self) -> int:
        out_h, out_w = -(-self.h // self.stride), -(-self.w // self.stride)
        if self.kind == "conv":
            return self.kernel * self.kernel * self.c * self.out_c * out_h * out_w
        if self.kind == "depthwise":
            return self.kernel * self.kernel * self.c * out_h * out_w
        if self.kind == "dense":
            return self.c * self.out_c
        return 0


# Grids covering the zoo: stems on 1 or 3 channels, expand/project 1x1 convs, the 1280-channel
# head, squeeze-excite convs on 1x1 maps, ResNet 3x3 convs; maps from 32 px down to the 1x1 maps
# of 8 px inputs.
_MAPS = (1, 2, 4, 8, 16, 32)
_CONV_KERNELS = (1, 1, 3, 3, 5)  # 1x1 convs are most of a MobileNet's layers
_CONV_IN = (1, 3, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384)
_CONV_OUT = (2, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 1280)
_DW_CHANNELS = (8, 16, 24, 32, 48, 64, 96, 144, 192, 288, 384, 576, 960)
_DENSE_IN = (16, 32, 64, 128, 256, 512, 1024, 1280)
_DENSE_OUT = (2, 10, 16, 64, 100, 256, 1000)
_ELEMENT_CHANNELS = (8, 16, 32, 64, 96, 144, 192, 384, 576, 960)
_SOFTMAX_CLASSES = (2, 3, 5, 10, 20, 50, 100, 200, 1000)
# Caps keep the grid where models are (the zoo's largest layer is ~2.4 M MACs) and timing cheap.
_MAX_MACS = 12_000_000
_MAX_ELEMENTS = 400_000


def _choice(rng: np.random.Generator, values: tuple) -> Any:
    return values[int(rng.integers(len(values)))]


def _sample_conv(rng: np.random.Generator) -> LayerSpec:
    size = _choice(rng, _MAPS)
    return LayerSpec(
        "conv", size, size, _choice(rng, _CONV_IN), _choice(rng, _CONV_OUT),
        _choice(rng, _CONV_KERNELS), _choice(rng, (1, 2)),
    )


def _sample_depthwise(rng: np.random.Generator) -> LayerSpec:
    size = _choice(rng, _MAPS)
    return LayerSpec(
        "depthwise", size, size, _choice(rng, _DW_CHANNELS), 0, _choice(rng, (3, 5)), _choice(rng, (1, 2))
    )


def _sample_dense(rng: np.random.Generator) -> LayerSpec:
    return LayerSpec("dense", 1, 1, _choice(rng, _DENSE_IN), _choice(rng, _DENSE_OUT))


def _elementwise_sampler(kind: str, maps: tuple[int, ...] = _MAPS) -> Callable[[np.random.Generator], LayerSpec]:
    def sample(rng: np.random.Generator) -> LayerSpec:
        size = _choice(rng, maps)
        return LayerSpec(
            kind, size, size, _choice(rng, _ELEMENT_CHANNELS),
            kernel=_choice(rng, (2, 3)), stride=2, keepdims=bool(rng.integers(2)),
        )

    return sample


def _sample_softmax(rng: np.random.Generator) -> LayerSpec:
    return LayerSpec("softmax", 1, 1, _choice(rng, _SOFTMAX_CLASSES))


def _plus_constant(constant: np.ndarray) -> Any:
    """A layer adding ``constant``: the converter keeps it as one ADD op with a constant operand."""
    from mmnet.pipeline._tf import keras, tf

    return keras.layers.Lambda(lambda x: x + tf.constant(constant))


def _times_constant(constant: np.ndarray) -> Any:
    """A layer multiplying by ``constant``: one MUL op with a constant operand."""
    from mmnet.pipeline._tf import keras, tf

    return keras.layers.Lambda(lambda x: x * tf.constant(constant))


def build_layer(spec: LayerSpec, rng: np.random.Generator) -> Any:
    """A tf_keras model of ``spec``'s one layer; second operands of ADD/MUL are constants."""
    from mmnet.pipeline._tf import keras, tf

    init = keras.initializers.HeNormal(seed=int(rng.integers(2**31)))
    shape = spec.input_shape
    layers = {
        "conv": lambda: keras.layers.Conv2D(
            spec.out_c, spec.kernel, strides=spec.stride, padding="same", activation="relu", kernel_initializer=init
        ),
        "depthwise": lambda: keras.layers.DepthwiseConv2D(
            spec.kernel, strides=spec.stride, padding="same", activation="relu", depthwise_initializer=init
        ),
        "dense": lambda: keras.layers.Dense(spec.out_c, kernel_initializer=init),
        # Residual add of two maps of the same shape, as in MobileNetV2/MnasNet/ResNet blocks.
        "add": lambda: _plus_constant(rng.standard_normal((1, *shape)).astype(np.float32)),
        # Squeeze-excite rescale: a map times one gate per channel (broadcast).
        "mul": lambda: _times_constant(rng.uniform(0, 1, (spec.c,)).astype(np.float32)),
        "mean": lambda: keras.layers.GlobalAveragePooling2D(keepdims=spec.keepdims),
        "avg_pool": lambda: keras.layers.AveragePooling2D(spec.kernel, spec.stride, padding="same"),
        "max_pool": lambda: keras.layers.MaxPooling2D(spec.kernel, spec.stride, padding="same"),
        "logistic": lambda: keras.layers.Activation("sigmoid"),
        # The converter fuses this pattern into HARD_SWISH (MobileNetV3's activation).
        "hard_swish": lambda: keras.layers.Lambda(lambda x: x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)),
        "softmax": lambda: keras.layers.Activation("softmax"),
    }
    inputs = keras.Input(shape)
    return keras.Model(inputs, layers[spec.kind]()(inputs))


# (sampler, share of samples_per_type) per layer kind: element-wise ops are affine in their size.
_SAMPLERS: tuple[tuple[Callable[[np.random.Generator], LayerSpec], float], ...] = (
    (_sample_conv, 1.0),
    (_sample_depthwise, 1.0),
    (_sample_dense, 1.0),
    (_elementwise_sampler("add"), 1 / 3),
    (_elementwise_sampler("mul"), 1 / 3),
    (_elementwise_sampler("mean", _MAPS[1:]), 1 / 3),  # the mean of a 1x1 map converts to no op
    (_elementwise_sampler("avg_pool"), 1 / 3),
    (_elementwise_sampler("max_pool"), 1 / 3),
    (_elementwise_sampler("logistic"), 1 / 3),
    (_elementwise_sampler("hard_swish"), 1 / 3),
    (_sample_softmax, 1 / 3),
)


def layer_specs(samples_per_type: int, rng: np.random.Generator) -> list[LayerSpec]:
    """Distinct single-layer specs per kind, drawn seeded and kept under the size caps: about
    ``samples_per_type`` of each kind with MACs, a third as many (at least 2) of the others."""
    specs: list[LayerSpec] = []
    for sample, share in _SAMPLERS:
        wanted = max(2, round(samples_per_type * share))
        chosen: dict[LayerSpec, None] = {}
        for _ in range(100 * wanted):  # a small grid (softmax) may hold fewer distinct specs: take them all
            spec = sample(rng)
            if spec.macs <= _MAX_MACS and spec.h * spec.w * max(spec.c, spec.out_c) <= _MAX_ELEMENTS:
                chosen.setdefault(spec)
            if len(chosen) == wanted:
                break
        specs.extend(chosen)
    return specs


# Overhead probe: chains of this many tiny ops, alternately a sigmoid and a multiplication by a
# constant. Neither kind may repeat back to back: the converter folds consecutive constant
# arithmetic into one op and XNNPACK runs consecutive int8 sigmoids as one lookup table, and either
# would hide the cost of an op.
OVERHEAD_CHAINS = (1, 4, 8, 16)
_OVERHEAD_SHAPE = (8,)


def build_chain(length: int, rng: np.random.Generator) -> Any:
    """A tf_keras chain of ``length`` tiny ops (see :data:`OVERHEAD_CHAINS`)."""
    from mmnet.pipeline._tf import keras

    inputs = keras.Input(_OVERHEAD_SHAPE)
    x = inputs
    for i in range(length):
        if i % 2 == 0:
            x = keras.layers.Activation("sigmoid")(x)
        else:
            x = _times_constant(rng.uniform(0.5, 1.5, _OVERHEAD_SHAPE).astype(np.float32))(x)
    return keras.Model(inputs, x)


def convert(model: Any, precision: str, rng: np.random.Generator, path: Path) -> Path:
    """``model`` converted to a .tflite file at ``path`` in ``precision`` (int8: calibrated on random frames)."""
    from mmnet.pipeline.export import convert_keras_model

    # A handful of random frames: only the int8 kernels are timed, not their accuracy.
    representative = rng.standard_normal((4, *model.input_shape[1:])).astype(np.float32)
    with warnings.catch_warnings():
        # The converter warns about deprecated paths and missing input statistics on every call.
        warnings.simplefilter("ignore")
        path.write_bytes(convert_keras_model(model, precision, representative))
    return path
