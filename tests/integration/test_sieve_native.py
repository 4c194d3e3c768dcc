"""SIEVE's native search on a real model: a small CNN trained on scikit-learn's digits, converted as the
export stage converts it, quantised per layer by ai-edge-quantizer and evaluated by the LiteRT
interpreter. Each format lands on its layer only (the stored weight type, the ops LiteRT runs), the
search's chosen model keeps its target on val, and the file the export stage rebuilds from the
assignment is the file the search measured."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from mmnet.pipeline._tf import keras
from mmnet.pipeline.export import convert_keras_model
from mmnet.pipeline.sieve.native import NATIVE_FORMATS, WHOLE_MODEL, NativeSearchConfig, run_native_search
from mmnet.pipeline.sieve.native_litert import LiteRTNativeEvaluator, native_model


@functools.cache
def _model_and_val() -> tuple[bytes, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = ((digits.images[..., np.newaxis] - 4.9) / 6.0).astype(np.float32)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(32, activation="relu", name="hidden")(h)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="logits")(h))
    model.compile(keras.optimizers.legacy.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x[:1200], digits.target[:1200], epochs=6, batch_size=64, verbose=0)
    return convert_keras_model(model, "float32"), x[1200:1500], digits.target[1200:1500]


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory) -> LiteRTNativeEvaluator:
    float_model, x_val, y_val = _model_and_val()
    return LiteRTNativeEvaluator(float_model, x_val, y_val, workdir=tmp_path_factory.mktemp("native"), passes=3, runs=20)


def _ops(path) -> list[str]:
    interpreter = Interpreter(model_path=str(path))
    return [op["op_name"] for op in interpreter._get_ops_details()]  # noqa: SLF001


def test_layers_are_the_weighted_ops_named_by_their_keras_layers(evaluator):
    assert [(layer.name, layer.op, layer.weights) for layer in evaluator.layers] == [
        ("conv", "CONV_2D", 8 * 3 * 3 * 1), ("hidden", "FULLY_CONNECTED", 32 * 128), ("logits", "FULLY_CONNECTED", 10 * 32)]
    assert evaluator.accuracy({}) > 0.8


@pytest.mark.parametrize(("fmt", "expected_op", "weight_type"), [
    ("float16", "DEQUANTIZE", "float16"), ("int8_weight_only", "DEQUANTIZE", "int8"),
    ("int4_weight_only", "DEQUANTIZE", "int4"), ("int8_dynamic", None, "int8"), ("int8_static", "QUANTIZE", "int8")])
def test_each_format_lands_on_its_layer_only(evaluator, fmt, expected_op, weight_type):
    float_ops = _ops(evaluator.model_file({}))
    path = evaluator.model_file({"hidden": fmt})
    ops = _ops(path)
    interpreter = Interpreter(model_path=str(path))
    types = {np.dtype(t["dtype"]).name if t["dtype"] is not None else "" for t in interpreter.get_tensor_details()}
    assert weight_type in types or (weight_type == "int4" and "int8" in types)
    if expected_op is not None:
        assert ops.count(expected_op) == float_ops.count(expected_op) + 1  # one conversion: for this layer alone
    else:
        assert len(ops) == len(float_ops)  # dynamic int8: the op itself quantises its input per invoke
    # the other layers keep float32 weights: the whole-model recipe gives another, smaller file
    whole = evaluator.model_file({WHOLE_MODEL: fmt})
    assert whole.stat().st_size < path.stat().st_size
    if fmt == "int8_static":  # the whole model in integers, its input and output too, as int8 PTQ
        assert Interpreter(model_path=str(whole)).get_input_details()[0]["dtype"] == np.int8
    assert 0.0 < evaluator.accuracy({"hidden": fmt}) <= 1.0


def test_search_keeps_its_targets_and_export_rebuilds_the_measured_file(evaluator, tmp_path):
    result = run_native_search(evaluator, NativeSearchConfig(latency_passes=3, latency_runs=20))
    assert set(result.costs) == set(NATIVE_FORMATS) and result.costs["int4_weight_only"] > 0
    assert [s.layer.name for s in result.sweeps] == ["conv", "hidden", "logits"]
    float_model, x_val, _ = _model_and_val()
    for model in result.models.values():
        assert model.normalized >= model.target
        assert model.accuracy == evaluator.accuracy(model.assignment)
        assert set(model.latency_ratios) >= {"float32", model.chosen}
        rebuilt = native_model(float_model, model.assignment, x_val)
        assert rebuilt == evaluator.model_file(model.assignment).read_bytes()
