"""The latency model on converted Keras models: layer features of real .tflite files, probe layers against
their converted ops, the timer, the regression's fit and predictions, and the stage end to end.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmnet.format.errors import ConfigError, ModelError
from mmnet.pipeline._tf import keras
from mmnet.pipeline.export import convert_keras_model
from mmnet.pipeline.latency_model.config import LatencyModelConfig
from mmnet.pipeline.latency_model.features import FEATURE_NAMES, INVOKE_OP, LayerFeatures, tflite_layer_features
from mmnet.pipeline.latency_model.probes import LayerSpec
from mmnet.pipeline.latency_model.regression import LatencyRegression
from mmnet.pipeline.latency_model.stage import build_latency_model
from mmnet.pipeline.latency_model.timer import Timer
from mmnet.pipeline.latency_model.timings import LayerTiming
from mmnet.pipeline.zoo.costs import tflite_model_costs
from mmnet.runtime.interpreter import TFLiteClassifier, measure_latency

# ----------------------------------------------------------------------------------- features


def _small_keras_model():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="c1")(inputs)
    y = keras.layers.DepthwiseConv2D(5, padding="same", name="dw")(x)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.Conv2D(8, 1, name="pw")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def small_models(tmp_path_factory) -> dict[str, Path]:
    """_small_keras_model converted at every precision: {precision: .tflite path}."""
    directory = tmp_path_factory.mktemp("small")
    keras.utils.set_random_seed(0)
    model = _small_keras_model()
    representative = np.random.default_rng(0).standard_normal((8, 8, 8, 2)).astype(np.float32)
    paths = {}
    for precision in ("float32", "float16", "int8"):
        paths[precision] = directory / f"small-{precision}.tflite"
        paths[precision].write_bytes(convert_keras_model(model, precision, representative))
    return paths


# (op, kernel, stride, in (h, w, c), out (h, w, c), MACs) of _small_keras_model, worked by hand:
# c1: 3*3 * 2 * 4 * (4*4 output, stride 2) = 1152; dw: 5*5 * 4 * 4*4 = 1600; pw: 1*1 * 4 * 8 * 4*4 =
# 512; fc: 8 * 3 = 24; add, mean and softmax: 0 (element-wise, eq. 5.1/5.2 leave them out).
_EXPECTED_OPS = [
    ("CONV_2D", 3, 2, (8, 8, 2), (4, 4, 4), 1152),
    ("DEPTHWISE_CONV_2D", 5, 1, (4, 4, 4), (4, 4, 4), 1600),
    ("ADD", 1, 1, (4, 4, 4), (4, 4, 4), 0),
    ("CONV_2D", 1, 1, (4, 4, 4), (4, 4, 8), 512),
    ("MEAN", 1, 1, (4, 4, 8), (1, 1, 8), 0),
    ("FULLY_CONNECTED", 1, 1, (1, 1, 8), (1, 1, 3), 24),
    ("SOFTMAX", 1, 1, (1, 1, 3), (1, 1, 3), 0),
]


def _summary(features: list[LayerFeatures]) -> list[tuple]:
    return [
        (f.op, f.kernel, f.stride, (f.in_h, f.in_w, f.in_c), (f.out_h, f.out_w, f.out_c), f.macs)
        for f in features
        if not f.constant
    ]


@pytest.mark.parametrize("precision", ["float32", "float16", "int8"])
def test_layer_features_of_a_converted_model(small_models, precision):
    path = small_models[precision]
    features = tflite_layer_features(path)
    assert _summary(features) == _EXPECTED_OPS
    # Same MACs as the cost model of mmnet.pipeline.zoo.costs (eq. 5.1/5.2) for the MAC-bearing ops.
    assert [f.macs for f in features if f.macs] == [layer.macs for layer in tflite_model_costs(path).layers]
    running = {f.precision for f in features if not f.constant}
    assert running == {"int8" if precision == "int8" else "float32"}
    constant = [f for f in features if f.constant]
    if precision == "float16":  # the float16 weights are dequantised once at load
        assert constant and {f.op for f in constant} == {"DEQUANTIZE"}
    else:
        assert constant == []


def test_layer_features_vector_and_weights():
    f = LayerFeatures("CONV_2D", "float32", 3, 2, 8, 8, 2, 4, 4, 4, 1152)
    # weights = MACs per output position = 3*3 * 2 * 4
    assert f.weights == 72
    assert f.vector() == [1152.0, 128.0, 64.0, 72.0]
    assert len(f.vector()) == len(FEATURE_NAMES)
    assert LayerFeatures("ADD", "int8", 1, 1, 2, 2, 3, 2, 2, 3, 0).weights == 0


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"precision": "float16"}, r"'ADD': precision is 'float16'; expected one of \['float32', 'int8'\]"),
        ({"op": ""}, r"'': op is ''; expected a non-empty string"),
        ({"stride": 0}, r"'ADD': stride is 0; expected an int >= 1"),
        ({"in_c": -8}, r"'ADD': in_c is -8; expected an int >= 0"),
        ({"macs": 1.5}, r"'ADD': macs is 1\.5; expected an int >= 0"),
        ({"constant": 0}, r"'ADD': constant is 0; expected true or false"),
    ],
)
def test_layer_features_check_themselves(fields, message):
    good = {"op": "ADD", "precision": "float32", "kernel": 1, "stride": 1, "in_h": 1, "in_w": 1, "in_c": 8,
            "out_h": 1, "out_w": 1, "out_c": 8, "macs": 0}
    LayerFeatures(**good)
    with pytest.raises(ModelError, match=r"^layer features of " + message):
        LayerFeatures(**{**good, **fields})


def test_layer_spec_macs_match_the_converted_op():
    # _small_keras_model's first layer: 3x3 conv, stride 2, 2 -> 4 channels on 8x8 (its CONV_2D in _EXPECTED_OPS).
    assert LayerSpec("conv", 8, 8, 2, out_c=4, kernel=3, stride=2).macs == _EXPECTED_OPS[0][-1]
    assert LayerSpec("depthwise", 4, 4, 4, kernel=5).macs == _EXPECTED_OPS[1][-1]
    assert LayerSpec("dense", 1, 1, 8, out_c=3).macs == _EXPECTED_OPS[5][-1]
    assert LayerSpec("dense", 1, 1, 8, out_c=3).input_shape == (8,)
    with pytest.raises(ConfigError, match=r"^layer spec: kind is 'pool'; expected one of \['conv'"):
        LayerSpec("pool", 2, 2, 8)
    with pytest.raises(ConfigError, match=r"^layer spec conv: stride is 0; expected an int >= 1$"):
        LayerSpec("conv", 8, 8, 2, out_c=4, kernel=3, stride=0)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_timer_gives_a_median_in_milliseconds(small_models, precision):
    timer = Timer(small_models[precision], np.random.default_rng(0))
    median = timer.median_ms(warmup=1, runs=5)
    assert math.isfinite(median) and 0 < median < 1_000


# -------------------------------------------------------------------------------------- regression

# Ground truth of the synthetic timings: intercept and ms per feature unit, per (op, precision).
_TRUTH = {
    ("CONV_2D", "float32"): (2e-4, (2e-8, 1e-8, 3e-8, 5e-8)),
    ("CONV_2D", "int8"): (1e-4, (5e-9, 2e-9, 1e-8, 1e-8)),
    ("DEPTHWISE_CONV_2D", "float32"): (1.5e-4, (4e-8, 0.0, 1e-8, 0.0)),
    ("ADD", "float32"): (8e-5, (0.0, 1e-7, 0.0, 0.0)),
    ("MEAN", "float32"): (6e-5, (0.0, 5e-8, 1e-8, 0.0)),
}
_OVERHEAD = {"float32": 5e-4, "int8": 6e-4}


def _truth(features: LayerFeatures) -> float:
    intercept, slopes = _TRUTH[(features.op, features.precision)]
    return intercept + sum(s * x for s, x in zip(slopes, features.vector()))


def _random_features(op: str, precision: str, rng: np.random.Generator) -> LayerFeatures:
    size = int(rng.choice([1, 2, 4, 8, 16, 32]))
    kernel = {"CONV_2D": int(rng.choice([1, 3, 5])), "DEPTHWISE_CONV_2D": int(rng.choice([3, 5]))}.get(op, 1)
    stride = int(rng.choice([1, 2])) if kernel > 1 else 1
    out = -(-size // stride)
    c_in = int(rng.choice([8, 16, 32, 64, 128]))
    c_out = c_in if op != "CONV_2D" else int(rng.choice([8, 16, 32, 64, 128, 256]))
    out_h = out_w = 1 if op == "MEAN" else out
    macs = {
        "CONV_2D": kernel * kernel * c_in * c_out * out * out,
        "DEPTHWISE_CONV_2D": kernel * kernel * c_out * out * out,
    }.get(op, 0)
    return LayerFeatures(op, precision, kernel, stride, size, size, c_in, out_h, out_w, c_out, macs)


def _synthetic_timings(seed: int, per_group: int = 30) -> list[LayerTiming]:
    rng = np.random.default_rng(seed)
    timings = [LayerTiming(LayerFeatures(INVOKE_OP, p, 1, 1, 0, 0, 0, 0, 0, 0, 0), v) for p, v in _OVERHEAD.items()]
    for op, precision in _TRUTH:
        for _ in range(per_group):
            features = _random_features(op, precision, rng)
            timings.append(LayerTiming(features, _truth(features)))
    return timings


def test_fit_recovers_a_linear_ground_truth():
    regression = LatencyRegression.fit(_synthetic_timings(seed=1))
    assert regression.overhead_ms == pytest.approx(_OVERHEAD)
    rng = np.random.default_rng(2)  # unseen configurations
    for op, precision in _TRUTH:
        for _ in range(20):
            features = _random_features(op, precision, rng)
            assert regression.predict_layer(features) == pytest.approx(_truth(features), rel=1e-3)


def test_fit_is_robust_to_noise():
    rng = np.random.default_rng(3)
    noisy = [replace(t, median_ms=t.median_ms * rng.uniform(0.9, 1.1)) for t in _synthetic_timings(seed=4, per_group=60)]
    regression = LatencyRegression.fit(noisy)
    features = [_random_features("CONV_2D", "float32", rng) for _ in range(50)]
    predicted = sum(regression.predict_layer(f) for f in features)
    assert predicted == pytest.approx(sum(_truth(f) for f in features), rel=0.05)


def test_predict_model_sums_layers_and_overhead(small_models, caplog):
    regression = LatencyRegression.fit(_synthetic_timings(seed=5))
    features = tflite_layer_features(small_models["float16"])
    with caplog.at_level(logging.INFO, logger="mmnet.pipeline.latency_model.regression"):
        predicted = regression.predict_model(small_models["float16"])
    # Constant DEQUANTIZE ops cost nothing; every op runs float32 kernels.
    expected = _OVERHEAD["float32"] + sum(regression.predict_layer(f) for f in features if not f.constant)
    assert predicted == pytest.approx(expected)
    # The layers that were timed are predicted exactly as the ground truth.
    timed = [f for f in features if (f.op, f.precision) in _TRUTH]
    assert [regression.predict_layer(f) for f in timed] == pytest.approx([_truth(f) for f in timed], rel=1e-3)
    # FULLY_CONNECTED and SOFTMAX were never timed: they fall back, visibly, and still cost something.
    fallbacks = [r.getMessage() for r in caplog.records if "never timed" in r.getMessage()]
    assert any("FULLY_CONNECTED" in m for m in fallbacks) and any("SOFTMAX" in m for m in fallbacks)
    untimed = [f for f in features if f.op in ("FULLY_CONNECTED", "SOFTMAX")]
    assert all(regression.predict_layer(f) > 0 for f in untimed)


def test_int8_model_without_int8_timings_falls_back_to_float32(small_models, caplog):
    float_only = [t for t in _synthetic_timings(seed=6) if t.features.precision == "float32"]
    regression = LatencyRegression.fit(float_only)
    with caplog.at_level(logging.INFO, logger="mmnet.pipeline.latency_model.regression"):
        predicted = regression.predict_model(small_models["int8"])
    assert math.isfinite(predicted) and predicted > _OVERHEAD["float32"]
    assert any("invoke overhead of int8 models taken from float32" in r.getMessage() for r in caplog.records)


def test_fit_needs_timings():
    with pytest.raises(ModelError, match="no fitted layer groups"):
        LatencyRegression.fit([])


def test_layer_timing_must_be_finite():
    features = LayerFeatures("ADD", "float32", 1, 1, 1, 1, 8, 1, 1, 8, 0)
    assert LayerTiming(features, -1e-4).median_ms == -1e-4  # a layer cheaper than the overhead's noise
    with pytest.raises(ModelError, match=r"^layer timing of ADD \(float32\) is nan; expected a finite number$"):
        LayerTiming(features, float("nan"))


def test_json_round_trip_predicts_identically(small_models):
    regression = LatencyRegression.fit(_synthetic_timings(seed=7))
    doc = json.loads(json.dumps(regression.to_json()))  # plain JSON, no pickles
    restored = LatencyRegression.from_json(doc)
    assert restored.groups == regression.groups
    assert restored.overhead_ms == regression.overhead_ms
    rng = np.random.default_rng(8)
    for op, precision in _TRUTH:
        features = _random_features(op, precision, rng)
        assert restored.predict_layer(features) == regression.predict_layer(features)
    for path in small_models.values():
        assert restored.predict_model(path) == regression.predict_model(path)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(format="other/1"), r"format is 'other/1'; expected 'mmnet\.latency_regression/1'"),
        (lambda d: d.update(features=["macs"]), r"features is \['macs'\]; expected \['macs', 'in_elements'"),
        (lambda d: d["groups"][0].pop("intercept_ms"), r"groups\[0\] is \{.*\}; expected an object with the keys"),
        (lambda d: d["groups"][0]["coefficients_ms"].update(macs=float("inf")),
         r"groups\[0\]: coefficients_ms\.macs is inf; expected a finite number"),
        (lambda d: d["groups"][0]["coefficients_ms"].pop("weights"), r"groups\[0\]: coefficients_ms is \{.*\}; expected an"),
        (lambda d: d["groups"][0].update(samples=0), r"groups\[0\]: samples is 0; expected an int >= 1"),
        (lambda d: d["groups"][0].update(precision="float16"), r"groups\[0\]: precision is 'float16'; expected one of"),
        (lambda d: d.update(overhead_ms={"float32": -1.0}), r"overhead_ms\.float32 is -1\.0; expected a finite number >= 0"),
        (lambda d: d.update(overhead_ms={"int4": 0.001}), r"overhead_ms key is 'int4'; expected one of"),
        (lambda d: d.update(overhead_ms={"float32": 0.001}), "no invoke overhead for int8"),
    ],
)
def test_from_json_rejects_malformed_documents(mutate, message):
    doc = LatencyRegression.fit(_synthetic_timings(seed=9)).to_json()
    mutate(doc)
    with pytest.raises(ModelError, match=r"^latency regression.*" + message):
        LatencyRegression.from_json(doc)


def test_build_refuses_a_disabled_config(tmp_path):
    with pytest.raises(ConfigError, match=r"^latency_model\.enabled is False; expected true to build the latency model$"):
        build_latency_model(LatencyModelConfig(enabled=False), tmp_path, [])


# ------------------------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_build_latency_model_end_to_end(small_models, tmp_path):
    from mmnet.pipeline.zoo.registry import build_model
    from mmnet.pipeline.zoo.spec import VariantSpec

    keras.utils.set_random_seed(0)
    model = build_model(VariantSpec("mobilenet_v2", 0.25, 8), channels=1, num_classes=10)
    representative = np.random.default_rng(0).standard_normal((8, 8, 8, 1)).astype(np.float32)
    held_out = []
    for precision in ("float32", "int8"):
        path = tmp_path / f"mobilenet_v2-a0.25-r8-{precision}.tflite"
        path.write_bytes(convert_keras_model(model, precision, representative))
        classifier = TFLiteClassifier(path, num_threads=1, use_xnnpack=True)
        sample = np.zeros((1, 8, 8, 1), np.float32)
        held_out.append((path.stem, str(path), measure_latency(classifier, sample, warmup=5, runs=20).median_ms))

    config = LatencyModelConfig(samples_per_type=3, runs=5, warmup=1)
    progress = []
    work = tmp_path / "latency"
    result = build_latency_model(config, work, held_out, progress=lambda done, total: progress.append((done, total)))

    assert set(result) == {"regression", "evaluation", "layer_samples", "seconds", "config"}
    json.dumps(result)  # the whole result is plain JSON
    assert result["config"]["samples_per_type"] == 3
    assert result["seconds"] > 0
    assert progress and progress[-1][0] == progress[-1][1] and [d for d, _ in progress] == list(range(1, len(progress) + 1))
    # 3 conv + 3 depthwise + 3 dense + 2 of each of the 8 element-wise kinds, at 2 precisions.
    assert result["layer_samples"] == (3 * 3 + 2 * 8) * 2
    assert (work / "timings.json").is_file() and (work / "layers" / "conv-0-int8.tflite").is_file()

    regression = LatencyRegression.from_json(result["regression"])
    assert {("CONV_2D", "float32"), ("CONV_2D", "int8"), ("DEPTHWISE_CONV_2D", "int8")} <= set(regression.groups)
    evaluation = result["evaluation"]
    assert evaluation["count"] == 2
    for row, (model_id, _, measured) in zip(evaluation["models"], held_out):
        assert row["model"] == model_id and row["measured_ms"] == measured
        assert math.isfinite(row["predicted_ms"]) and row["predicted_ms"] > 0
    for path in small_models.values():
        assert math.isfinite(regression.predict_model(path)) and regression.predict_model(path) > 0

    # A second build with the same config reuses the cached timings.
    again = build_latency_model(config, work, held_out)
    assert again["regression"] == result["regression"]
