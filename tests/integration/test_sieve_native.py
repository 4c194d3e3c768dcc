"""SIEVE's native search on a real model: a small CNN trained on scikit-learn's digits, converted as the
export stage converts it, quantised per layer by ai-edge-quantizer and evaluated by the LiteRT
interpreter. Each format lands on its layer only (the stored weight type, the ops LiteRT runs), the
search's chosen model keeps its target on val, and the file the export stage rebuilds from the
assignment is the file the search measured; a native model goes through the Beam build into a bundle."""

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


def test_a_native_sieve_model_through_the_build(tmp_path):
    """``sieve.models: [accurate_native]`` through the real Beam build: a LeNet-5 digits master (three
    epochs), the native search in the SIEVE stage, the export stage's per-layer quantisation, the
    parity gate against the master's Keras model, a plain TFLite in a bundle that verifies."""
    from mmnet.format.bundle import load_bundle
    from mmnet.pipeline.build import run_build
    from mmnet.pipeline.config import config_from_mapping

    config = config_from_mapping({
        "name": "digits-native",
        "dataset": {"source": "builtin:digits"},
        "master": {"family": "lenet5", "alpha": 1.0, "resolution": 8},
        "minions": {"families": []},
        "training": {"epochs": 3, "master_epochs": 3},
        "export": {"precisions": ["float32"], "parity_margin_points": 1.0},
        # the search on the whole val split, so the exported file's val accuracy is the one the search measured
        "sieve": {"enabled": True, "models": ["accurate_native"], "search_fraction": 1.0,
                  "native": {"latency_passes": 2, "latency_runs": 20}},
        "runtime": {"latency_model": False, "single_minion_systems": True,
                    "detector": {"members": ["per_class_confidence"], "folds": 2}},
        "beam": {"num_workers": 1},
    }, base_dir=tmp_path)
    result = run_build(config, tmp_path / "bundle", progress=False)
    assert result.failures == [] and result.counters.get("sieve_completed") == 1
    bundle = load_bundle(result.bundle_dir)
    (record,) = [m for m in bundle.manifest["models"] if m.get("sieve")]
    master = next(m for m in bundle.manifest["models"] if m["role"] == "master")
    assert record["family"] == "sieve" and record["quantization"] == "sieve" and record["file"].endswith(".tflite")
    assert "packing" not in record and record["sieve"]["model"] == "accurate_native"
    assert record["blessed"], record["reason"]
    # gated against the master's own Keras model, and the exported file is the model the search measured
    assert record["metrics"]["keras_val_accuracy"] == master["metrics"]["keras_val_accuracy"]
    assert record["metrics"]["val_accuracy"] == record["sieve"]["search_val_accuracy"]
    assert "search_val_frames" not in record["sieve"]
    assert record["sieve"]["normalized_val_accuracy"] >= 1.0
    native = record["sieve"]["native"]
    assert native["chosen"] in {"per-layer", "float32"} or native["chosen"].startswith("uniform ")
    assert record["sieve"]["formats"] or native["chosen"] == "float32"
    searched = list((tmp_path / ".bundle.work" / "stages" / "sieve").glob("*/native_search.json"))
    assert len(searched) == 1
