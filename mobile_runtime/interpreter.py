"""Running TFLite classifiers with the LiteRT interpreter (no TensorFlow needed).

The interpreter backend is ``ai_edge_litert`` when installed, else ``tflite_runtime``, else
``tensorflow.lite``; TensorFlow is only imported in that last fallback.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.checks import check_bool, check_int, check_number
from mmnet.format.errors import BundleError, DataError, DependencyError, ModelError

__all__ = [
    "interpreter_backend",
    "load_interpreter",
    "TFLiteClassifier",
    "check_model_file",
    "LatencyStats",
    "measure_latency",
]

logger = logging.getLogger(__name__)

_BACKEND_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
}
_TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier at bytes 4..8
_SUPPORTED_DTYPES = (np.float32, np.int8, np.uint8)


def interpreter_backend() -> str:
    """Name of the first importable interpreter backend."""
    for name, module in _BACKEND_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return name
    try:
        importlib.import_module("tensorflow")
    except ImportError as e:
        raise DependencyError(
            "no TFLite interpreter is installed; install one of: ai-edge-litert "
            "(pip install ai-edge-litert, recommended), tflite-runtime, tensorflow"
        ) from e
    return "tensorflow.lite"


def _interpreter_api() -> tuple[Any, Any]:
    """(Interpreter class, OpResolverType enum) of the active backend."""
    backend = interpreter_backend()
    if backend in _BACKEND_MODULES:
        module = importlib.import_module(_BACKEND_MODULES[backend])
        return module.Interpreter, module.OpResolverType
    tf = importlib.import_module("tensorflow")
    return tf.lite.Interpreter, tf.lite.experimental.OpResolverType


def load_interpreter(path: str | Path, *, num_threads: int = 1, use_xnnpack: bool = True) -> Any:
    """Load ``path`` into an Interpreter with its tensors allocated.

    ``use_xnnpack=False`` selects the builtin kernels without the default (XNNPACK) delegate.
    """
    check_int("num_threads", num_threads, low=1)
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; expected a .tflite file")
    try:
        with path.open("rb") as f:
            header = f.read(8)
    except OSError as e:
        raise ModelError(f"model file {path} cannot be read: {e}") from e
    if len(header) < 8 or header[4:8] != _TFLITE_IDENTIFIER:
        raise ModelError(
            f"model file {path} is not a TFLite flatbuffer: identifier {header[4:8]!r}, "
            f"expected {_TFLITE_IDENTIFIER!r}"
        )
    interpreter_cls, resolver = _interpreter_api()
    resolver_type = resolver.AUTO if use_xnnpack else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        interpreter = interpreter_cls(
            model_path=str(path),
            num_threads=num_threads,
            experimental_op_resolver_type=resolver_type,
        )
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"model file {path} cannot be loaded by the interpreter: {e}") from e
    return interpreter


def _quantization(detail: dict[str, Any]) -> tuple[float, int] | None:
    scale, zero_point = detail["quantization"]
    if scale == 0.0:
        return None
    return float(scale), int(zero_point)


class TFLiteClassifier:
    """A single-input, single-output TFLite image classifier with a fixed batch of 1.

    ``predict`` takes normalised float32 frames and returns float32 class scores, quantising the
    input and dequantising the output of integer models.
    """

    def __init__(
        self, path: str | Path, *, num_threads: int = 1, use_xnnpack: bool = True
    ) -> None:
        self._path = Path(path)
        self._num_threads = num_threads
        self._use_xnnpack = use_xnnpack
        self._interpreter = load_interpreter(
            self._path, num_threads=num_threads, use_xnnpack=use_xnnpack
        )
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"model file {self._path} has {len(inputs)} inputs and {len(outputs)} outputs; "
                "expected 1 and 1"
            )
        self._input, self._output = inputs[0], outputs[0]
        in_shape = tuple(int(v) for v in self._input["shape"])
        out_shape = tuple(int(v) for v in self._output["shape"])
        if len(in_shape) != 4 or in_shape[0] != 1:
            raise ModelError(
                f"model file {self._path} has input shape {in_shape}; expected (1, H, W, C)"
            )
        if len(out_shape) != 2 or out_shape[0] != 1:
            raise ModelError(
                f"model file {self._path} has output shape {out_shape}; expected (1, num_classes)"
            )
        for role, detail in (("input", self._input), ("output", self._output)):
            dtype = np.dtype(detail["dtype"])
            if dtype not in _SUPPORTED_DTYPES:
                raise ModelError(
                    f"model file {self._path} has {role} dtype {dtype}; "
                    "expected float32, int8 or uint8"
                )
            if dtype != np.float32 and _quantization(detail) is None:
                raise ModelError(
                    f"model file {self._path} has a {dtype} {role} without quantization "
                    "parameters; expected a scale and zero point"
                )
        self._input_shape = in_shape[1:]
        self._num_classes = out_shape[1]
        self._input_index = self._input["index"]
        self._output_index = self._output["index"]
        self._input_quant = self.input_quantization
        self._output_quant = self.output_quantization
        self._dequantization_table: list[float] | None = None
        if self._output_quant is not None:
            codes = np.arange(256, dtype=np.uint8).view(self.output_dtype)  # byte b read as the output's type
            self._dequantization_table = self.dequantize_output(codes).tolist()

    def __repr__(self) -> str:
        return (
            f"TFLiteClassifier({str(self._path)!r}, input={self._input_shape} "
            f"{self.input_dtype}, classes={self._num_classes})"
        )

    @property
    def path(self) -> Path:
        return self._path

    @property
    def num_threads(self) -> int:
        return self._num_threads

    @property
    def use_xnnpack(self) -> bool:
        return self._use_xnnpack

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one input frame."""
        return self._input_shape

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    @property
    def output_dtype(self) -> np.dtype:
        return np.dtype(self._output["dtype"])

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def input_quantization(self) -> tuple[float, int] | None:
        """(scale, zero_point) of the input, None for a float input."""
        return _quantization(self._input) if self.input_dtype != np.float32 else None

    @property
    def output_quantization(self) -> tuple[float, int] | None:
        """(scale, zero_point) of the output, None for a float output."""
        return _quantization(self._output) if self.output_dtype != np.float32 else None

    def prepare_input(self, batch: np.ndarray) -> np.ndarray:
        """Check a normalised float batch ``(N, H, W, C)`` and convert it to the input dtype.

        Integer inputs are quantised as ``clip(round(x / scale) + zero_point, dtype range)``.
        """
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[1:] != self._input_shape:
            raise DataError(
                f"input batch for {self._path.name} has shape {batch.shape}; "
                f"expected (N, {', '.join(str(v) for v in self._input_shape)})"
            )
        if not np.issubdtype(batch.dtype, np.floating):
            raise DataError(
                f"input batch for {self._path.name} has dtype {batch.dtype}; "
                "expected normalised float32 values"
            )
        return self.quantize_one(batch.astype(np.float32, copy=False))

    def quantize_one(self, batch: np.ndarray) -> np.ndarray:
        """:meth:`prepare_input` without its checks, for the runtime's single frame ``(1, H, W, C)``
        (normalised float32, which the caller has checked)."""
        quant = self._input_quant
        if quant is None:
            return np.ascontiguousarray(batch)
        scale, zero_point = quant
        info = np.iinfo(self.input_dtype)
        q = np.round(batch / np.float32(scale)) + zero_point
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def _set_input(self, x: np.ndarray) -> None:
        self._interpreter.set_tensor(self._input_index, x)

    def _invoke(self) -> None:
        self._interpreter.invoke()

    def invoke_raw(self, x: np.ndarray) -> np.ndarray:
        """Run one already-prepared input ``(1, H, W, C)`` in the input dtype; raw output (1, K)."""
        x = np.asarray(x)
        expected = (1, *self._input_shape)
        if x.shape != expected or x.dtype != self.input_dtype:
            raise DataError(
                f"raw input for {self._path.name} has shape {x.shape} dtype {x.dtype}; "
                f"expected shape {expected} dtype {self.input_dtype}"
            )
        return self.invoke_one(np.ascontiguousarray(x))

    # The single-frame path of Runtime.classify in stages the runtime times apart (preprocessing:
    # quantize_one; the interpreter: invoke_one). With scores_one, or the dequantization table,
    # they give the same values as predict() without its checks and batch handling.

    def invoke_one(self, prepared: np.ndarray) -> np.ndarray:
        """The interpreter alone on an input from :meth:`quantize_one`: the raw output ``(1, K)``."""
        interpreter = self._interpreter
        interpreter.set_tensor(self._input_index, prepared)
        interpreter.invoke()
        return interpreter.get_tensor(self._output_index)  # a copy: the next invoke leaves it alone

    def scores_one(self, raw: np.ndarray) -> np.ndarray:
        """The float32 class scores ``(K,)`` of :meth:`invoke_one`'s output."""
        return self.dequantize_output(raw)[0]

    @property
    def dequantization_table(self) -> list[float] | None:
        """For 8-bit outputs, the float32 score of each code byte 0..255 (as Python floats), so
        the detector can calibrate raw codes by lookup (detector.calibration_table); else None."""
        return self._dequantization_table

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        """Raw outputs to float32 scores: ``(q - zero_point) * scale`` for integer outputs."""
        quant = self.output_quantization
        if quant is None:
            return np.asarray(raw, dtype=np.float32)
        scale, zero_point = quant
        return ((np.asarray(raw).astype(np.float32) - zero_point) * np.float32(scale)).astype(
            np.float32
        )

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Class scores float32 ``(N, num_classes)`` for a normalised float32 batch."""
        prepared = self.prepare_input(batch)
        raw = np.empty((prepared.shape[0], self._num_classes), dtype=self.output_dtype)
        for i in range(prepared.shape[0]):
            raw[i] = self.invoke_one(prepared[i : i + 1])[0]
        return self.dequantize_output(raw)


def check_model_file(
    classifier: TFLiteClassifier, model_id: str, *, resolution: int, channels: int, num_classes: int
) -> None:
    """BundleError unless the loaded file takes the input the manifest records for ``model_id``
    (resolution × resolution × channels, batch 1) and gives one output per class: a model file
    swapped for another (its hash updated with it) fails at load, not on every frame."""
    expected = (resolution, resolution, channels)
    if classifier.input_shape != expected or classifier.num_classes != num_classes:
        raise BundleError(
            f"model {model_id!r} ({classifier.path}): the manifest says input (1, {', '.join(map(str, expected))}) "
            f"and {num_classes} classes; the file takes (1, {', '.join(map(str, classifier.input_shape))}) "
            f"and gives {classifier.num_classes} outputs"
        )


@dataclass(frozen=True)
class LatencyStats:
    """Wall-clock time of ``invoke()`` for one input, in milliseconds."""

    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    runs: int
    warmup: int
    threads: int
    xnnpack: bool

    def __post_init__(self) -> None:
        for name in ("median_ms", "p90_ms", "mean_ms", "min_ms"):
            check_number(f"LatencyStats.{name}", getattr(self, name))
        for name, low in (("runs", 1), ("warmup", 0), ("threads", 1)):
            check_int(f"LatencyStats.{name}", getattr(self, name), low=low)
        check_bool("LatencyStats.xnnpack", self.xnnpack)

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``host_latency_ms`` object."""
        return {
            "median": self.median_ms,
            "p90": self.p90_ms,
            "mean": self.mean_ms,
            "min": self.min_ms,
            "runs": self.runs,
            "warmup": self.warmup,
            "threads": self.threads,
            "xnnpack": self.xnnpack,
        }


def measure_latency(
    classifier: TFLiteClassifier, sample: np.ndarray, *, warmup: int = 10, runs: int = 50
) -> LatencyStats:
    """Time ``runs`` invokes (after ``warmup`` untimed ones) on the first frame of ``sample``.

    ``sample`` is a normalised float frame ``(H, W, C)`` or batch ``(N, H, W, C)`` as for
    ``predict``; only the ``invoke()`` call is timed.
    """
    check_int("runs", runs, low=1)
    check_int("warmup", warmup, low=0)
    sample = np.asarray(sample)
    if sample.ndim == 3:
        sample = sample[None]
    if sample.ndim != 4 or sample.shape[0] < 1:
        raise DataError(
            f"latency sample has shape {sample.shape}; expected (H, W, C) or (N >= 1, H, W, C)"
        )
    x = classifier.prepare_input(sample[:1])
    classifier._set_input(x)
    for _ in range(warmup):
        classifier._invoke()
    times = np.empty(runs, dtype=np.float64)
    for i in range(runs):
        start = time.perf_counter()
        classifier._invoke()
        times[i] = time.perf_counter() - start
    times *= 1000.0
    stats = LatencyStats(
        median_ms=float(np.median(times)),
        p90_ms=float(np.percentile(times, 90)),
        mean_ms=float(times.mean()),
        min_ms=float(times.min()),
        runs=runs,
        warmup=warmup,
        threads=classifier.num_threads,
        xnnpack=classifier.use_xnnpack,
    )
    logger.debug("latency of %s: %s", classifier.path.name, stats)
    return stats
