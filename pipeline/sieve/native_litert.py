"""The native search's evaluator: a float TFLite model quantised per layer by LiteRT's ai-edge-quantizer
and run by the LiteRT interpreter (1 thread, XNNPACK), so what the search measures is what ships.

Layers are the float model's weighted ops (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED), named by the
Keras layer their output tensors carry. A per-layer assignment becomes a recipe with one entry per
reduced op whose regex is the op's exact scope (its output tensor names), so no other op matches; the
whole-model assignment (``{"*": format}``) is the quantiser's own whole-model recipe (regex ``.*``,
every supported op, the pooling and reshapes too for static int8). Static int8 is calibrated once on the
calibration frames with the whole-model static recipe; every assignment reuses those ranges.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.errors import DataError, DependencyError, ModelError
from mmnet.pipeline.sieve.native import FLOAT32, WHOLE_MODEL, WeightedLayer

__all__ = ["LiteRTNativeEvaluator", "quantize_assignment", "weighted_layers", "with_signature", "calibrate", "native_model",
           "CALIBRATION_FRAMES"]

log = logging.getLogger(__name__)

WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
CALIBRATION_FRAMES = 200  # the first val frames set static int8's activation ranges


def _aeq() -> Any:
    try:
        import ai_edge_quantizer
        from ai_edge_quantizer import quantizer, recipe_manager  # noqa: F401
        from ai_edge_quantizer.utils import tfl_flatbuffer_utils  # noqa: F401
    except ImportError as e:
        raise DependencyError(f"ai-edge-quantizer is not installed ({e}); pip install 'mmnet[pipeline]'") from e
    return ai_edge_quantizer


def _layer_name(scope: str, index: int) -> str:
    """The Keras layer an op belongs to: the most common middle part of its output tensor names
    (``model/conv1/Relu;model/conv1/Conv2D`` → ``conv1``); ``op<index>`` when there is none."""
    parts = [name.split("/")[1] for name in scope.split(";") if name.count("/") >= 2]
    return Counter(parts).most_common(1)[0][0] if parts else f"op{index}"


def _add_config(manager: Any, fmt: str, regex: str, operation: Any) -> None:
    from ai_edge_quantizer import algorithm_manager

    if fmt == "float16":
        manager.add_weight_only_config(regex=regex, operation_name=operation, num_bits=16,
                                       algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
    elif fmt in ("int8_weight_only", "int4_weight_only"):
        manager.add_weight_only_config(regex=regex, operation_name=operation, num_bits=int(fmt[3]))
    elif fmt == "int8_dynamic":
        manager.add_dynamic_config(regex=regex, operation_name=operation, num_bits=8)
    elif fmt == "int8_static":
        manager.add_static_config(regex=regex, operation_name=operation, activation_num_bits=8, weight_num_bits=8)
    else:
        raise ModelError(f"native format {fmt!r} has no quantiser recipe")


def quantize_assignment(float_model: bytes, scopes: Mapping[str, tuple[str, str]], assignment: Mapping[str, str],
                        calibration: Any = None) -> bytes:
    """``float_model`` with each assigned layer (``scopes``: layer → (op scope, TFLite op name)) in its
    format, or every supported op in ``assignment["*"]``; float32 layers are left alone."""
    _aeq()
    from ai_edge_quantizer import qtyping, quantizer, recipe_manager

    manager = recipe_manager.RecipeManager()
    for layer, fmt in assignment.items():
        if fmt == FLOAT32:
            continue
        if layer == WHOLE_MODEL:
            _add_config(manager, fmt, ".*", qtyping.TFLOperationName.ALL_SUPPORTED)
        else:
            scope, op = scopes[layer]
            _add_config(manager, fmt, f"^{re.escape(scope)}$", qtyping.TFLOperationName(op))
    recipe = manager.get_quantization_recipe()
    if not recipe:
        return float_model
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a summary per model
        qt = quantizer.Quantizer(float_model)
        qt.load_quantization_recipe(recipe)
        result = qt.quantize(calibration if qt.need_calibration else None)
    return bytes(result.quantized_model)


def weighted_layers(float_model: bytes) -> tuple[tuple[WeightedLayer, ...], dict[str, tuple[str, str]]]:
    """The float model's weighted ops as layers, and each layer's (op scope, TFLite op name)."""
    _aeq()
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as fu

    model = fu.read_model(float_model)
    subgraph = model.subgraphs[0]
    layers, scopes = [], {}
    for index, op in enumerate(subgraph.operators):
        name = fu.TFL_OP_CODE_TO_NAME.get(model.operatorCodes[op.opcodeIndex].builtinCode)
        if name is None or name.value not in WEIGHTED_OPS:
            continue
        scope = fu.get_op_scope(op, subgraph.tensors)
        layer = _layer_name(scope, index)
        if layer in scopes:
            layer = f"{layer}#{index}"
        scopes[layer] = (scope, name.value)
        layers.append(WeightedLayer(layer, name.value, int(np.prod(subgraph.tensors[op.inputs[1]].shape))))
    if not layers:
        raise ModelError("the float model has no CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED op; "
                         "expected a weighted layer to quantise")
    return tuple(layers), scopes


def with_signature(float_model: bytes) -> bytes:
    """``float_model`` with a ``serving_default`` signature over its main subgraph's input and output
    when it has none (a model converted from a concrete function): the quantiser calibrates through one."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(float_model))
    if model.signatureDefs:
        return float_model
    subgraph = model.subgraphs[0]

    def tensor_maps(indices: Any) -> list[Any]:
        maps = []
        for index in indices:
            tensor_map = schema.TensorMapT()
            tensor_map.name, tensor_map.tensorIndex = subgraph.tensors[index].name, int(index)
            maps.append(tensor_map)
        return maps

    signature = schema.SignatureDefT()
    signature.inputs, signature.outputs = tensor_maps(subgraph.inputs), tensor_maps(subgraph.outputs)
    signature.signatureKey, signature.subgraphIndex = "serving_default", 0
    model.signatureDefs = [signature]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def calibrate(float_model: bytes, frames: np.ndarray) -> Any:
    """Static int8's activation ranges of every tensor, from ``frames`` (normalised float32, N×H×W×C)."""
    _aeq()
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    signatures = Interpreter(model_content=float_model).get_signature_list()
    if len(signatures) != 1:
        raise ModelError(f"the float model has signatures {sorted(signatures)}; expected exactly one to calibrate")
    key, signature = next(iter(signatures.items()))
    (input_name,) = signature["inputs"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # progress bars
        qt = quantizer.Quantizer(float_model)
        qt.load_quantization_recipe(recipe.static_wi8_ai8())
        return qt.calibrate({key: [{input_name: np.asarray(frame[None], np.float32)} for frame in frames]})


def native_model(float_model: bytes, assignment: Mapping[str, str], x_val: np.ndarray) -> bytes:
    """The shipped file of a native search's model: ``float_model`` with ``assignment``, static int8
    calibrated on the first :data:`CALIBRATION_FRAMES` val frames as in the search."""
    float_model = with_signature(float_model)
    _, scopes = weighted_layers(float_model)
    needs_ranges = "int8_static" in assignment.values()
    ranges = calibrate(float_model, x_val[:CALIBRATION_FRAMES]) if needs_ranges else None
    return quantize_assignment(float_model, scopes, assignment, ranges)


class LiteRTNativeEvaluator:
    """:class:`~mmnet.pipeline.sieve.native.NativeEvaluator` on a float TFLite model and a val split.

    ``x_val`` normalised float32 frames (N, H, W, C), ``y_val`` labels; the first
    :data:`CALIBRATION_FRAMES` val frames set static int8's activation ranges. Quantised files go to
    ``workdir``; latencies are ``passes`` side-by-side passes of ``runs`` invokes.
    """

    def __init__(self, float_model: bytes, x_val: np.ndarray, y_val: np.ndarray, *, workdir: Path | None = None,
                 passes: int = 5, runs: int = 100) -> None:
        if len(x_val) != len(y_val) or len(x_val) == 0:
            raise DataError(f"val split has {len(x_val)} frames and {len(y_val)} labels; expected as many, at least 1")
        self.float_model = with_signature(bytes(float_model))
        self.x_val = np.asarray(x_val, dtype=np.float32)
        self.y_val = np.asarray(y_val)
        self.passes, self.runs = passes, runs
        self._tmp = None if workdir is not None else tempfile.TemporaryDirectory(prefix="mmnet-native-")
        self.workdir = Path(workdir) if workdir is not None else Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.layers, self.scopes = weighted_layers(self.float_model)
        self._calibration = calibrate(self.float_model, self.x_val[:CALIBRATION_FRAMES])
        self._files: dict[tuple[tuple[str, str], ...], Path] = {}
        self._accuracy: dict[tuple[tuple[str, str], ...], float] = {}

    @staticmethod
    def _key(assignment: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, v) for k, v in assignment.items() if v != FLOAT32))

    def model_file(self, assignment: Mapping[str, str]) -> Path:
        """The quantised TFLite file of ``assignment`` (written once)."""
        key = self._key(assignment)
        if key not in self._files:
            path = self.workdir / f"native-{len(self._files):04d}.tflite"
            path.write_bytes(quantize_assignment(self.float_model, self.scopes, dict(key), self._calibration))
            self._files[key] = path
        return self._files[key]

    def accuracy(self, assignment: Mapping[str, str]) -> float:
        from mmnet.runtime.interpreter import TFLiteClassifier

        key = self._key(assignment)
        if key not in self._accuracy:
            classifier = TFLiteClassifier(self.model_file(assignment), num_threads=1)
            self._accuracy[key] = float(np.mean(np.argmax(classifier.predict(self.x_val), axis=1) == self.y_val))
        return self._accuracy[key]

    def latency_ratios(self, assignments: Mapping[str, Mapping[str, str]]) -> dict[str, list[float]]:
        from mmnet.runtime.interpreter import TFLiteClassifier, measure_latency

        classifiers = {name: TFLiteClassifier(self.model_file(a), num_threads=1) for name, a in assignments.items()}
        classifiers[FLOAT32] = TFLiteClassifier(self.model_file({}), num_threads=1)
        passes: dict[str, list[float]] = {name: [] for name in classifiers}
        for _ in range(self.passes):  # round robin: every model once per pass, so a pass compares like with like
            for name, classifier in classifiers.items():
                passes[name].append(measure_latency(classifier, self.x_val[:1], warmup=10, runs=self.runs).median_ms)
        return {name: [t / f for t, f in zip(times, passes[FLOAT32], strict=True)]
                for name, times in passes.items() if name != FLOAT32}
