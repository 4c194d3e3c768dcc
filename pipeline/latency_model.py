"""Latency model: a Neurosurgeon-style per-layer regression that estimates a model's latency L_m.

Neurosurgeon (Kang et al., ASPLOS 2017) predicts a DNN's latency from "the number and size of
input and output feature maps as well as the characteristics of each layer": it times many
single-layer networks, fits one regression per layer type and sums the predictions of a model's
layers. The Python LiteRT interpreter has no per-op profiler, so this module does exactly that:

1. :func:`measure_layer_timings` builds small tf_keras models holding ONE layer each (Conv2D,
   DepthwiseConv2D, Dense, Add, Multiply, global average pooling, pooling, activations), drawn
   seeded from a grid covering the zoo's layers, converts each with
   :func:`mmnet.pipeline.export.convert_keras_model` at every configured precision and times it in the
   LiteRT interpreter (1 thread, XNNPACK, as :mod:`mmnet.pipeline.latency` times whole models).
2. :meth:`LatencyRegression.fit` fits one linear regression per (TFLite op, precision) on the
   features of :meth:`LayerFeatures.vector` (MACs, input and output elements, weights), by
   non-negative least squares on relative errors.
3. :meth:`LatencyRegression.predict_model` reads a .tflite file's op list
   (:func:`tflite_layer_features`) and sums the per-layer predictions plus a per-invoke overhead.

The overhead is measured, not fitted: a single-layer model's time is ``overhead + layer``, and
from single-layer models alone the two cannot be told apart (each layer type would absorb it into
its intercept, and a 100-op model would then count it 100 times). So chains of 1 to 16 tiny ops
are timed, in rounds interleaved with the layers: the slope of time against chain length is the
cost of one such op, the intercept the overhead of an ``invoke()`` itself. Each single-layer time
minus that overhead is attributed to its layer; each regression keeps an intercept for the fixed
cost an op adds, which dominates the zoo's tiny minions (a 100-op minion on 8x8 frames runs in
~20 us).

float16 models run float32 kernels on weights dequantised once at load, so their ops are
predicted from the float32 timings and their constant DEQUANTIZE ops cost nothing.

Measured when this was written (2-core x86 host, XNNPACK, 1 thread): the default config times
272 single-layer models in ~13 s, and predicted the 25 models of the digits demo bundle (never
used in fitting) with a median absolute error of 3% (max 11%) against their measured latency.

Artifact on disk (``work_dir``): ``layers/<kind>-<i>-<precision>.tflite`` (the single-layer
models and ``overhead-<n>-<precision>.tflite`` probes) and ``timings.json`` (the
:class:`LayerTiming` list and the key it was measured under; reused only for the same config,
interpreter backend and host).
"""

from __future__ import annotations

import json
import logging
import math
import platform
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmnet.format.errors import ConfigError, ModelError
from mmnet.runtime.interpreter import interpreter_backend, load_interpreter
from mmnet.pipeline.zoo.costs import conv_macs, dense_macs, depthwise_macs

__all__ = [
    "LATENCY_PRECISIONS",
    "INVOKE_OP",
    "FEATURE_NAMES",
    "LatencyModelConfig",
    "LayerFeatures",
    "tflite_layer_features",
    "LayerTiming",
    "measure_layer_timings",
    "LatencyRegression",
    "evaluate_on_models",
    "build_latency_model",
]

log = logging.getLogger(__name__)

# The arithmetic an op runs in; float16 models run float32 kernels (see the module docstring).
LATENCY_PRECISIONS = ("float32", "int8")
# Pseudo-op of the LayerTiming that carries a precision's per-invoke overhead.
INVOKE_OP = "INVOKE"
FEATURE_NAMES = ("macs", "in_elements", "out_elements", "weights")

_REGRESSION_FORMAT = "mmnet.latency_regression/1"
_TIMINGS_FORMAT = "mmnet.layer_timings/2"


# ------------------------------------------------------------------------------------------ config


def _require_int(field: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"latency_model.{field}: expected an integer in [{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class LatencyModelConfig:
    """How the per-layer latency regression is measured.

    ``samples_per_type`` single-layer configurations are drawn per layer type with MACs (Conv2D,
    DepthwiseConv2D, Dense) and precision; the element-wise types, whose cost is affine in their
    size, get a third as many (at least 2). ``runs`` timed invokes (median) follow ``warmup``
    untimed ones for every single-layer model.
    """

    enabled: bool = True
    precisions: tuple[str, ...] = LATENCY_PRECISIONS
    samples_per_type: int = 24
    runs: int = 30
    warmup: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"latency_model.enabled: expected true/false, got {self.enabled!r}")
        if not isinstance(self.precisions, tuple) or not self.precisions:
            raise ConfigError(f"latency_model.precisions: expected a non-empty list, got {self.precisions!r}")
        for i, precision in enumerate(self.precisions):
            if precision not in LATENCY_PRECISIONS:
                raise ConfigError(
                    f"latency_model.precisions[{i}]: expected one of {', '.join(LATENCY_PRECISIONS)} "
                    f"(float16 models run float32 kernels and are predicted from float32), got {precision!r}"
                )
        if len(set(self.precisions)) != len(self.precisions):
            raise ConfigError(f"latency_model.precisions: expected no duplicates, got {list(self.precisions)}")
        _require_int("samples_per_type", self.samples_per_type, 1, 1_000)
        _require_int("runs", self.runs, 1, 100_000)
        _require_int("warmup", self.warmup, 0, 10_000)
        _require_int("seed", self.seed, 0, 2**32 - 1)


# ---------------------------------------------------------------------------------------- features


@dataclass(frozen=True)
class LayerFeatures:
    """One TFLite op as the regression sees it.

    Shapes drop the batch of 1: a 4-D NHWC tensor gives (H, W, C), a (1, C) vector (1, 1, C), any
    other shape (rows, 1, last dim). ``kernel`` is the filter size of (depthwise) convolutions, 1
    for every other op (pooling windows are not in the op list). ``stride`` of convolutions and
    pooling is inferred from the map sizes (the interpreter does not expose op options):
    ``round(in_h / out_h)``, at least 1; every other op has stride 1.
    ``constant`` marks an op whose inputs are all constants (a float16 model's weight DEQUANTIZE):
    the interpreter evaluates it once when the model is loaded.
    """

    op: str
    precision: str
    kernel: int
    stride: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    macs: int
    constant: bool = False

    @property
    def in_elements(self) -> int:
        return self.in_h * self.in_w * self.in_c

    @property
    def out_elements(self) -> int:
        return self.out_h * self.out_w * self.out_c

    @property
    def weights(self) -> int:
        """Filter elements of a MAC-bearing op: its MACs per output position (eq. 5.1/5.2)."""
        return self.macs // (self.out_h * self.out_w) if self.macs else 0

    def vector(self) -> list[float]:
        """The regression's features, in the order of :data:`FEATURE_NAMES`.

        Kernel, stride and channel counts enter through these sizes (as in Neurosurgeon): MACs for
        the arithmetic, input and output elements for the memory traffic, weights for the filter
        reads that dominate convolutions on 1x1 maps.
        """
        return [float(self.macs), float(self.in_elements), float(self.out_elements), float(self.weights)]


def _hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 4:
        return shape[0] * shape[1], shape[2], shape[3]
    if len(shape) == 2 and shape[0] == 1:
        return 1, 1, shape[1]
    if not shape:
        return 1, 1, 1
    return math.prod(shape[:-1]), 1, shape[-1]


def _conv(filter_shape: tuple[int, ...], out_h: int, out_w: int) -> tuple[int, int]:
    n, kh, kw, m = filter_shape  # [N, Kh, Kw, M]
    return max(kh, kw), round(conv_macs((kh, kw), m, n, out_h, out_w))


def _depthwise(filter_shape: tuple[int, ...], out_h: int, out_w: int) -> tuple[int, int]:
    _, kh, kw, c = filter_shape  # [1, Kh, Kw, M * multiplier]
    return max(kh, kw), round(depthwise_macs((kh, kw), c, out_h, out_w))


def _dense(filter_shape: tuple[int, ...], out_h: int, out_w: int) -> tuple[int, int]:
    n, m = filter_shape  # [N, M], applied to every output row
    return 1, out_h * out_w * dense_macs(m, n)


# (kernel, MACs) of the MAC-bearing ops from their filter and output map, as mmnet.pipeline.zoo.costs
# counts them; every other op has kernel 1 and 0 MACs.
_MAC_OPS = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise, "FULLY_CONNECTED": _dense}
# Ops sliding a window over a map: the only ones with a stride.
_WINDOW_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"})


def tflite_layer_features(path: str | Path) -> list[LayerFeatures]:
    """Features of every op of a .tflite file, in execution order.

    The op list is read without the XNNPACK delegate, so it is the model's own operators (with
    XNNPACK they collapse into one DELEGATE node). An op's precision is ``int8`` when its first
    non-constant input is int8/uint8, else ``float32`` (float16 constants feed float32 kernels).
    """
    path = Path(path)
    interpreter = load_interpreter(path, use_xnnpack=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001 - the public API has no op list
    produced = {out for op in ops for out in op["outputs"]}
    graph_inputs = {t["index"] for t in interpreter.get_input_details()}

    constant: dict[int, bool] = {}
    for op in ops:  # execution order: every input is settled before the op that reads it
        for index in op["inputs"]:
            if index >= 0 and index not in constant:
                constant[index] = index not in graph_inputs and index not in produced
        constant.update({out: all(constant[i] for i in op["inputs"] if i >= 0) for out in op["outputs"]})

    def shape(index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in tensors[index]["shape"])

    features = []
    for op in ops:
        inputs = [i for i in op["inputs"] if i >= 0]
        if not op["outputs"]:
            raise ModelError(f"{path}: op {op['index']} ({op['op_name']}) has no outputs; expected at least one")
        variable = [i for i in inputs if not constant[i]]
        main = (variable or inputs or op["outputs"])[0]  # an op without inputs is sized by its output
        in_hwc = _hwc(shape(main))
        out_hwc = _hwc(shape(op["outputs"][0]))
        kernel, macs = 1, 0
        if op["op_name"] in _MAC_OPS:
            filter_shape = shape(inputs[1]) if len(inputs) > 1 else ()
            try:
                kernel, macs = _MAC_OPS[op["op_name"]](filter_shape, out_hwc[0], out_hwc[1])
            except ValueError as e:  # a filter of unexpected rank
                raise ModelError(
                    f"{path}: op {op['index']} ({op['op_name']}) has filter shape {list(filter_shape)}; "
                    f"expected the TFLite layout ({e})"
                ) from e
        dtype = np.dtype(tensors[main]["dtype"])
        features.append(
            LayerFeatures(
                op=op["op_name"],
                precision="int8" if dtype in (np.int8, np.uint8) else "float32",
                kernel=kernel,
                stride=max(1, round(in_hwc[0] / out_hwc[0])) if op["op_name"] in _WINDOW_OPS else 1,
                in_h=in_hwc[0],
                in_w=in_hwc[1],
                in_c=in_hwc[2],
                out_h=out_hwc[0],
                out_w=out_hwc[1],
                out_c=out_hwc[2],
                macs=macs,
                constant=not variable,
            )
        )
    return features


# ---------------------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class LayerTiming:
    """Time attributed to one layer: its single-layer model's median invoke minus the overhead.

    For ``features.op == INVOKE_OP`` it is the per-invoke overhead of ``features.precision``.
    """

    features: LayerFeatures
    median_ms: float

    def to_json(self) -> dict[str, Any]:
        return {"features": asdict(self.features), "median_ms": self.median_ms}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LayerTiming:
        return cls(LayerFeatures(**doc["features"]), float(doc["median_ms"]))


@dataclass(frozen=True)
class _LayerSpec:
    """One single-layer model: its kind, input map and layer parameters."""

    kind: str
    h: int
    w: int
    c: int  # input channels (features for dense and softmax, whose input is (c,))
    out_c: int = 0
    kernel: int = 1
    stride: int = 1
    keepdims: bool = False

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


def _sample_conv(rng: np.random.Generator) -> _LayerSpec:
    size = _choice(rng, _MAPS)
    return _LayerSpec(
        "conv", size, size, _choice(rng, _CONV_IN), _choice(rng, _CONV_OUT),
        _choice(rng, _CONV_KERNELS), _choice(rng, (1, 2)),
    )


def _sample_depthwise(rng: np.random.Generator) -> _LayerSpec:
    size = _choice(rng, _MAPS)
    return _LayerSpec(
        "depthwise", size, size, _choice(rng, _DW_CHANNELS), 0, _choice(rng, (3, 5)), _choice(rng, (1, 2))
    )


def _sample_dense(rng: np.random.Generator) -> _LayerSpec:
    return _LayerSpec("dense", 1, 1, _choice(rng, _DENSE_IN), _choice(rng, _DENSE_OUT))


def _elementwise_sampler(kind: str, maps: tuple[int, ...] = _MAPS) -> Callable[[np.random.Generator], _LayerSpec]:
    def sample(rng: np.random.Generator) -> _LayerSpec:
        size = _choice(rng, maps)
        return _LayerSpec(
            kind, size, size, _choice(rng, _ELEMENT_CHANNELS),
            kernel=_choice(rng, (2, 3)), stride=2, keepdims=bool(rng.integers(2)),
        )

    return sample


def _sample_softmax(rng: np.random.Generator) -> _LayerSpec:
    return _LayerSpec("softmax", 1, 1, _choice(rng, _SOFTMAX_CLASSES))


def _build_layer(spec: _LayerSpec, rng: np.random.Generator) -> Any:
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
        "add": lambda: keras.layers.Lambda(
            lambda x, c=rng.standard_normal((1, *shape)).astype(np.float32): x + tf.constant(c)
        ),
        # Squeeze-excite rescale: a map times one gate per channel (broadcast).
        "mul": lambda: keras.layers.Lambda(
            lambda x, c=rng.uniform(0, 1, (spec.c,)).astype(np.float32): x * tf.constant(c)
        ),
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
_KINDS: tuple[tuple[Callable[[np.random.Generator], _LayerSpec], float], ...] = (
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


def _layer_specs(config: LatencyModelConfig, rng: np.random.Generator) -> list[_LayerSpec]:
    """Distinct single-layer specs per kind, drawn seeded and kept under the size caps."""
    specs: list[_LayerSpec] = []
    for sample, share in _KINDS:
        wanted = max(2, round(config.samples_per_type * share))
        chosen: dict[_LayerSpec, None] = {}
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
_OVERHEAD_CHAINS = (1, 4, 8, 16)
_OVERHEAD_SHAPE = (8,)


def _build_chain(length: int, rng: np.random.Generator) -> Any:
    from mmnet.pipeline._tf import keras, tf

    inputs = keras.Input(_OVERHEAD_SHAPE)
    x = inputs
    for i in range(length):
        if i % 2 == 0:
            x = keras.layers.Activation("sigmoid")(x)
        else:
            x = keras.layers.Lambda(lambda t, c=rng.uniform(0.5, 1.5, _OVERHEAD_SHAPE).astype(np.float32): t * tf.constant(c))(x)
    return keras.Model(inputs, x)


def _convert(model: Any, precision: str, rng: np.random.Generator, path: Path) -> Path:
    from mmnet.pipeline.export import convert_keras_model

    # A handful of random frames: only the int8 kernels are timed, not their accuracy.
    representative = rng.standard_normal((4, *model.input_shape[1:])).astype(np.float32)
    with warnings.catch_warnings():
        # The converter warns about deprecated paths and missing input statistics on every call.
        warnings.simplefilter("ignore")
        path.write_bytes(convert_keras_model(model, precision, representative))
    return path


class _Timer:
    """Median invoke time of a .tflite model, timed like mmnet.runtime.interpreter.measure_latency."""

    def __init__(self, path: Path, rng: np.random.Generator) -> None:
        self._interpreter = load_interpreter(path, num_threads=1, use_xnnpack=True)
        detail = self._interpreter.get_input_details()[0]
        dtype = np.dtype(detail["dtype"])
        if dtype == np.float32:
            x = rng.standard_normal(detail["shape"]).astype(np.float32)
        else:
            info = np.iinfo(dtype)
            x = rng.integers(info.min, info.max + 1, detail["shape"]).astype(dtype)
        self._interpreter.set_tensor(detail["index"], x)

    def median_ms(self, warmup: int, runs: int) -> float:
        invoke = self._interpreter.invoke
        for _ in range(warmup):
            invoke()
        times = np.empty(runs)
        for i in range(runs):
            start = time.perf_counter()
            invoke()
            times[i] = time.perf_counter() - start
        return float(np.median(times)) * 1000.0


def _invoke_features(precision: str) -> LayerFeatures:
    return LayerFeatures(INVOKE_OP, precision, 1, 1, 0, 0, 0, 0, 0, 0, 0)


class _OverheadProbe:
    """The overhead chains of one precision, timed in rounds interleaved with the layer timings, so
    the overhead subtracted is measured under the same (drifting) load as the layers."""

    def __init__(self, precision: str, layers_dir: Path, rng: np.random.Generator) -> None:
        self.precision = precision
        self._timers = [
            _Timer(_convert(_build_chain(n, rng), precision, rng, layers_dir / f"overhead-{n}-{precision}.tflite"), rng)
            for n in _OVERHEAD_CHAINS
        ]
        self._rounds: list[list[float]] = []

    def time_round(self, config: LatencyModelConfig) -> None:
        self._rounds.append([timer.median_ms(config.warmup, config.runs) for timer in self._timers])

    def overhead_ms(self) -> float:
        """The intercept of the line through the chains' (length, median over rounds)."""
        per_op, overhead = np.polyfit(_OVERHEAD_CHAINS, np.median(self._rounds, axis=0), 1)
        log.info("%s invoke overhead %.5f ms (one tiny op %.5f ms)", self.precision, overhead, per_op)
        return max(0.0, float(overhead))


def _cache_key(config: LatencyModelConfig) -> dict[str, Any]:
    fields = asdict(config)
    fields.pop("enabled")
    # Timings belong to one machine and interpreter: a work dir copied elsewhere is re-measured.
    return {
        "format": _TIMINGS_FORMAT,
        "config": {**fields, "precisions": list(config.precisions)},
        "backend": interpreter_backend(),
        "host": platform.node(),
    }


def measure_layer_timings(
    config: LatencyModelConfig, work_dir: Path, *, progress: Callable[[int, int], None] | None = None
) -> list[LayerTiming]:
    """Times single-layer models and attributes each time, minus the invoke overhead, to its layer.

    Returns one :data:`INVOKE_OP` timing per precision (the overhead) and one timing per
    single-layer model and precision. A converted model whose op list is not exactly one
    non-constant op is left out with a warning (its time could not be attributed). ``progress``
    is called with (models timed, models to time). Timings are cached in ``work_dir/timings.json``.
    """
    work_dir = Path(work_dir)
    cache = work_dir / "timings.json"
    key = _cache_key(config)
    if cache.is_file():
        try:
            doc = json.loads(cache.read_text(encoding="utf-8"))
            if doc["key"] == key:
                timings = [LayerTiming.from_json(t) for t in doc["timings"]]
                log.info("reusing %d layer timings from %s", len(timings), cache)
                return timings
            log.info("%s was measured with another config or on another host; re-measuring", cache)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("%s is not a layer timings cache (%s: %s); re-measuring", cache, type(e).__name__, e)

    layers_dir = work_dir / "layers"
    layers_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    specs = _layer_specs(config, rng)
    total = len(specs) * len(config.precisions)
    probes = [_OverheadProbe(p, layers_dir, rng) for p in config.precisions]
    measured: list[tuple[LayerFeatures, str, float]] = []
    done = skipped = 0
    counters: dict[str, int] = {}
    for spec in specs:
        index = counters[spec.kind] = counters.get(spec.kind, -1) + 1
        model = _build_layer(spec, rng)
        for precision in config.precisions:
            path = _convert(model, precision, rng, layers_dir / f"{spec.kind}-{index}-{precision}.tflite")
            layers = [f for f in tflite_layer_features(path) if not f.constant]
            median = _Timer(path, rng).median_ms(config.warmup, config.runs)
            done += 1
            if progress is not None:
                progress(done, total)
            if len(layers) == 1:
                measured.append((layers[0], precision, median))
            else:
                skipped += 1
                log.warning("%s: %d ops (%s), expected one; not used", path.name, len(layers), ", ".join(f.op for f in layers))
        for probe in probes:
            probe.time_round(config)
    overhead = {probe.precision: probe.overhead_ms() for probe in probes}
    timings = [LayerTiming(_invoke_features(p), overhead[p]) for p in config.precisions]
    timings += [LayerTiming(features, median - overhead[precision]) for features, precision, median in measured]
    if skipped:
        log.warning("%d of %d single-layer models were not used", skipped, total)
    tmp = cache.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"key": key, "timings": [t.to_json() for t in timings]}, indent=1), encoding="utf-8")
    tmp.replace(cache)  # atomic: a crash never leaves a half cache that looks complete
    return timings


# ---------------------------------------------------------------------------------------- regression

# Relative errors are fitted (a model is a sum of many small layers); targets below this floor
# (noise around a sub-microsecond layer) are weighted as if they were this large.
_WEIGHT_FLOOR_MS = 2e-4
_ELEMENTWISE = "*ELEMENTWISE"  # pooled fallback group: every op without MACs of a precision


@dataclass(frozen=True)
class _Linear:
    """``max(0, intercept + sum(coefficient * feature))`` in milliseconds."""

    intercept_ms: float
    coefficients: tuple[float, ...]  # ms per unit of each FEATURE_NAMES entry
    samples: int

    def predict(self, vector: list[float]) -> float:
        return max(0.0, self.intercept_ms + sum(c * x for c, x in zip(self.coefficients, vector)))

    def to_json(self) -> dict[str, Any]:
        return {
            "intercept_ms": self.intercept_ms,
            "coefficients_ms": dict(zip(FEATURE_NAMES, self.coefficients)),
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> _Linear:
        coefficients = doc["coefficients_ms"]
        if not isinstance(coefficients, dict) or set(coefficients) != set(FEATURE_NAMES):
            raise ModelError(f"coefficients_ms has {sorted(coefficients)}; expected {sorted(FEATURE_NAMES)}")
        values = (doc["intercept_ms"], *coefficients.values())
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
            raise ModelError(f"intercept_ms and coefficients_ms must be finite numbers, got {values}")
        return cls(float(doc["intercept_ms"]), tuple(float(coefficients[n]) for n in FEATURE_NAMES), int(doc["samples"]))


def _fit_linear(timings: list[LayerTiming]) -> _Linear:
    """Non-negative least squares on relative errors: every cost term is a cost, never a saving,
    so predictions stay positive and grow with size even outside the sampled grid."""
    from scipy.optimize import nnls  # scipy comes with scikit-learn, part of the pipeline extra

    x = np.array([t.features.vector() for t in timings], dtype=np.float64)
    y = np.array([t.median_ms for t in timings], dtype=np.float64)
    # Columns scaled to [0, 1] for conditioning; all-zero columns (no MACs) stay zero.
    scale = np.where(x.max(axis=0) > 0, x.max(axis=0), 1.0)
    design = np.column_stack([np.ones(len(y)), x / scale])
    weight = 1.0 / np.maximum(y, _WEIGHT_FLOOR_MS)
    solution, _ = nnls(design * weight[:, None], y * weight)
    return _Linear(float(solution[0]), tuple(float(v) for v in solution[1:] / scale), len(y))


class LatencyRegression:
    """Per-(op, precision) linear latency regressions plus the per-invoke overhead, in ms.

    Prediction needs no sklearn or scipy: :meth:`to_json` stores intercepts and coefficients.
    """

    def __init__(self, groups: dict[tuple[str, str], _Linear], overhead_ms: dict[str, float]) -> None:
        if not groups:
            raise ModelError("latency regression has no fitted layer groups; expected at least one")
        missing = sorted({p for _, p in groups} - set(overhead_ms))
        if missing:
            raise ModelError(
                f"latency regression has no invoke overhead for {', '.join(missing)}; "
                "expected one per precision of its groups"
            )
        self._groups = dict(groups)
        self._overhead_ms = dict(overhead_ms)
        self._fallbacks_logged: set[tuple[str, str, str]] = set()

    @property
    def groups(self) -> tuple[tuple[str, str], ...]:
        """(op, precision) of every fitted regression, the pooled element-wise fallbacks included."""
        return tuple(sorted(self._groups))

    @property
    def overhead_ms(self) -> dict[str, float]:
        return dict(self._overhead_ms)

    @classmethod
    def fit(cls, timings: list[LayerTiming]) -> LatencyRegression:
        """One regression per (op, precision) of ``timings``, one pooled element-wise regression per
        precision (the fallback for ops never timed), and the per-invoke overhead per precision
        (median of its :data:`INVOKE_OP` timings; 0 with a warning when there are none)."""
        by_group: dict[tuple[str, str], list[LayerTiming]] = {}
        overheads: dict[str, list[float]] = {}
        for timing in timings:
            f = timing.features
            if f.precision not in LATENCY_PRECISIONS:
                raise ModelError(
                    f"layer timing of {f.op} has precision {f.precision!r}; expected one of {', '.join(LATENCY_PRECISIONS)}"
                )
            if not math.isfinite(timing.median_ms):
                raise ModelError(f"layer timing of {f.op} ({f.precision}) is {timing.median_ms!r}; expected a finite number")
            if f.op == INVOKE_OP:
                overheads.setdefault(f.precision, []).append(timing.median_ms)
                continue
            by_group.setdefault((f.op, f.precision), []).append(timing)
            if f.macs == 0:
                by_group.setdefault((_ELEMENTWISE, f.precision), []).append(timing)
        groups = {group: _fit_linear(members) for group, members in by_group.items()}
        overhead_ms = {p: max(0.0, statistics.median(v)) for p, v in overheads.items()}
        for precision in sorted({p for _, p in groups} - set(overhead_ms)):
            log.warning("no %s timings of the invoke overhead; predicting %s models without it", INVOKE_OP, precision)
            overhead_ms[precision] = 0.0
        return cls(groups, overhead_ms)

    def _regression_for(self, features: LayerFeatures) -> _Linear:
        """The op's own regression, else the op at another precision, else the pooled element-wise one."""
        others = [p for p in LATENCY_PRECISIONS if p != features.precision]
        candidates = [(features.op, features.precision), *((features.op, p) for p in others)]
        candidates += [(_ELEMENTWISE, features.precision), *((_ELEMENTWISE, p) for p in others)]
        for group in candidates:
            if group in self._groups:
                if group != candidates[0]:
                    self._log_fallback(features, group)
                return self._groups[group]
        raise ModelError(
            f"no latency regression for {features.op} ({features.precision}); fitted groups: "
            f"{', '.join(f'{op}/{p}' for op, p in self.groups)}"
        )

    def _log_fallback(self, features: LayerFeatures, group: tuple[str, str]) -> None:
        key = (features.op, features.precision, "/".join(group))
        if key not in self._fallbacks_logged:
            self._fallbacks_logged.add(key)
            log.info(
                "latency of %s (%s) predicted with the %s/%s regression (never timed)", features.op, features.precision, *group
            )

    def predict_layer(self, features: LayerFeatures) -> float:
        """Milliseconds one op adds to an invoke (>= 0); 0 for ops evaluated once at load."""
        if features.constant:
            return 0.0
        return self._regression_for(features).predict(features.vector())

    def predict_model(self, path: str | Path) -> float:
        """Milliseconds of one invoke of the .tflite model at ``path``: its ops plus the overhead of
        the precision most of its ops run in."""
        layers = tflite_layer_features(path)
        running = [f.precision for f in layers if not f.constant]
        if not running:
            raise ModelError(f"{path}: no ops that run per invoke; expected a model with at least one")
        precision = max(LATENCY_PRECISIONS, key=running.count)
        return self._overhead_for(precision) + sum(self.predict_layer(f) for f in layers)

    def _overhead_for(self, precision: str) -> float:
        if precision in self._overhead_ms:
            return self._overhead_ms[precision]
        # Only when no layer of this precision was timed: its layers fall back too (logged).
        other = max(self._overhead_ms, key=self._overhead_ms.__getitem__)
        if (INVOKE_OP, precision, other) not in self._fallbacks_logged:
            self._fallbacks_logged.add((INVOKE_OP, precision, other))
            log.info("invoke overhead of %s models taken from %s (never timed)", precision, other)
        return self._overhead_ms[other]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _REGRESSION_FORMAT,
            "features": list(FEATURE_NAMES),
            "overhead_ms": dict(sorted(self._overhead_ms.items())),
            "groups": [
                {"op": op, "precision": precision, **self._groups[(op, precision)].to_json()}
                for op, precision in self.groups
            ],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LatencyRegression:
        if not isinstance(doc, dict) or doc.get("format") != _REGRESSION_FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise ModelError(f"latency regression: format is {found!r}; expected {_REGRESSION_FORMAT!r}")
        if doc.get("features") != list(FEATURE_NAMES):
            raise ModelError(f"latency regression: features are {doc.get('features')!r}; expected {list(FEATURE_NAMES)}")
        groups = {}
        for i, group in enumerate(doc.get("groups", [])):
            try:
                if group["precision"] not in LATENCY_PRECISIONS:
                    raise ValueError(f"precision {group['precision']!r} is not one of {', '.join(LATENCY_PRECISIONS)}")
                groups[(group["op"], group["precision"])] = _Linear.from_json(group)
            except (KeyError, TypeError, ValueError) as e:
                raise ModelError(
                    f"latency regression: groups[{i}] is malformed ({e}); "
                    "expected op, precision, intercept_ms, coefficients_ms, samples"
                ) from e
        overhead = doc.get("overhead_ms")
        if not isinstance(overhead, dict) or any(
            p not in LATENCY_PRECISIONS or isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0
            for p, v in overhead.items()
        ):
            raise ModelError(f"latency regression: overhead_ms is {overhead!r}; expected {{precision: ms >= 0}}")
        return cls(groups, {p: float(v) for p, v in overhead.items()})


# ---------------------------------------------------------------------------------------- evaluation


def evaluate_on_models(regression: LatencyRegression, models: list[tuple[str, str, float]]) -> dict[str, Any]:
    """Predicted against measured latency of whole models (never used in fitting).

    ``models`` holds (model id, .tflite path, measured median ms). ``error_pct`` is signed
    (positive: predicted too slow); the summary statistics are over its absolute value and are
    None when ``models`` is empty.
    """
    rows = []
    for model_id, path, measured in models:
        if isinstance(measured, bool) or not isinstance(measured, (int, float)) or not measured > 0:
            raise ModelError(f"{model_id}: measured latency is {measured!r}; expected a number of ms > 0")
        predicted = regression.predict_model(path)
        rows.append(
            {
                "model": model_id,
                "measured_ms": float(measured),
                "predicted_ms": predicted,
                "error_pct": 100.0 * (predicted - measured) / measured,
            }
        )
    errors = [abs(r["error_pct"]) for r in rows]
    return {
        "models": rows,
        "mape_pct": statistics.fmean(errors) if errors else None,
        "median_ape_pct": statistics.median(errors) if errors else None,
        "max_ape_pct": max(errors) if errors else None,
        "count": len(rows),
    }


def build_latency_model(
    config: LatencyModelConfig,
    work_dir: Path,
    held_out: list[tuple[str, str, float]],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Measures single-layer timings, fits the regression and evaluates it on ``held_out`` models.

    Returns ``{"regression", "evaluation", "layer_samples", "seconds", "config"}``;
    ``layer_samples`` counts the single-layer timings fitted (the overhead probes excluded).
    """
    if not config.enabled:
        raise ConfigError("latency_model.enabled: expected true to build the latency model, got false")
    start = time.perf_counter()
    timings = measure_layer_timings(config, Path(work_dir), progress=progress)
    regression = LatencyRegression.fit(timings)
    evaluation = evaluate_on_models(regression, held_out)
    seconds = time.perf_counter() - start
    layer_samples = sum(t.features.op != INVOKE_OP for t in timings)
    log.info(
        "latency model: %d layer timings, held-out median APE %s%% over %d models, %.1f s",
        layer_samples, evaluation["median_ape_pct"], evaluation["count"], seconds,
    )
    return {
        "regression": regression.to_json(),
        "evaluation": evaluation,
        "layer_samples": layer_samples,
        "seconds": seconds,
        "config": {**asdict(config), "precisions": list(config.precisions)},
    }
