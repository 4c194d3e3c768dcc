from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmnet.format.errors import ConfigError, DataError, ModelError
from mmnet.runtime.interpreter import (
    LatencyStats,
    TFLiteClassifier,
    interpreter_backend,
    load_interpreter,
    measure_latency,
)
from tests.support import tflite_fixtures as tfx


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tflite")
    return {p: tfx.write_tflite(root / f"{p}.tflite", p) for p in ("float32", "int8")}


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return tfx.normalised_inputs(16, seed=7)


@pytest.fixture(scope="module")
def keras_scores(inputs) -> np.ndarray:
    return tfx.reference_scores(inputs)


def test_backend_is_ai_edge_litert():
    assert interpreter_backend() == "ai_edge_litert"


def test_float32_classifier_properties(model_files):
    clf = TFLiteClassifier(model_files["float32"])
    assert clf.input_shape == (tfx.RESOLUTION, tfx.RESOLUTION, tfx.CHANNELS)
    assert clf.input_dtype == np.float32
    assert clf.num_classes == tfx.NUM_CLASSES
    assert clf.input_quantization is None and clf.output_quantization is None


def test_int8_classifier_properties(model_files):
    clf = TFLiteClassifier(model_files["int8"])
    assert clf.input_dtype == np.int8 and clf.output_dtype == np.int8
    in_scale, in_zero = clf.input_quantization
    out_scale, out_zero = clf.output_quantization
    assert in_scale > 0 and -128 <= in_zero <= 127
    # The converter fixes a softmax output to scale 1/256, zero point -128 (covers 0..1).
    assert out_scale == pytest.approx(1 / 256) and out_zero == -128


def test_float32_predict_matches_keras(model_files, inputs, keras_scores):
    scores = TFLiteClassifier(model_files["float32"]).predict(inputs)
    assert scores.shape == (len(inputs), tfx.NUM_CLASSES) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, keras_scores, atol=1e-5)


def test_int8_predict_close_to_keras(model_files, inputs, keras_scores):
    scores = TFLiteClassifier(model_files["int8"]).predict(inputs)
    assert scores.dtype == np.float32
    # Quantisation error: a few output steps of 1/256 plus input/weight rounding.
    np.testing.assert_allclose(scores, keras_scores, atol=0.06)
    confident = keras_scores.max(axis=1) > 0.6
    assert confident.sum() >= 4 and len(set(keras_scores.argmax(axis=1))) >= 2
    np.testing.assert_array_equal(
        scores[confident].argmax(axis=1), keras_scores[confident].argmax(axis=1)
    )


def test_xnnpack_off_gives_same_scores(model_files, inputs):
    for precision in ("float32", "int8"):
        with_delegate = TFLiteClassifier(model_files[precision]).predict(inputs)
        builtin = TFLiteClassifier(model_files[precision], use_xnnpack=False).predict(inputs)
        tolerance = 1e-5 if precision == "float32" else 1 / 256  # at most one int8 output step
        np.testing.assert_allclose(builtin, with_delegate, atol=tolerance)


def test_int8_quantisation_round_trip(model_files, inputs):
    clf = TFLiteClassifier(model_files["int8"])
    scale, zero = clf.input_quantization
    prepared = clf.prepare_input(inputs)
    assert prepared.dtype == np.int8
    # Hand-written reference of q = clip(round(x / scale) + zero, -128, 127).
    expected = np.clip(np.round(inputs / scale) + zero, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(prepared, expected)
    # Dequantising recovers in-range inputs to within half a step.
    in_range = (prepared > -128) & (prepared < 127)
    recovered = (prepared.astype(np.float32) - zero) * scale
    assert np.abs(recovered - inputs)[in_range].max() <= scale / 2 + 1e-6
    # Far out-of-range values saturate instead of wrapping around.
    extreme = np.full((1, *clf.input_shape), 1e6, np.float32)
    assert np.all(clf.prepare_input(extreme) == 127)
    assert np.all(clf.prepare_input(-extreme) == -128)


def test_int8_predict_dequantises_raw_output(model_files, inputs):
    clf = TFLiteClassifier(model_files["int8"])
    scale, zero = clf.output_quantization
    prepared = clf.prepare_input(inputs[:3])
    scores = clf.predict(inputs[:3])
    for i in range(3):
        raw = clf.invoke_raw(prepared[i : i + 1])
        assert raw.dtype == np.int8 and raw.shape == (1, tfx.NUM_CLASSES)
        np.testing.assert_allclose(scores[i], (raw[0].astype(np.float32) - zero) * scale)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_single_frame_stages_give_exactly_the_scores_of_predict(model_files, inputs, precision):
    """Runtime.classify runs quantize_one → invoke_one and hands the raw output to the detector
    (float scores as they are, 8-bit codes through the dequantization table); the pipeline
    evaluates with predict."""
    clf = TFLiteClassifier(model_files[precision])
    expected = clf.predict(inputs)
    table = clf.dequantization_table
    assert (table is None) == (precision == "float32")
    for i in range(len(inputs)):
        raw = clf.invoke_one(clf.quantize_one(inputs[i : i + 1]))
        assert clf.scores_one(raw).tolist() == expected[i].tolist()
        if table is None:  # a float output is its scores
            assert raw[0].tolist() == expected[i].tolist()
        else:  # int8 codes index the table by their byte (negative indices wrap)
            assert [table[code] for code in raw.ravel().tolist()] == expected[i].tolist()


def test_predict_empty_batch(model_files):
    clf = TFLiteClassifier(model_files["float32"])
    out = clf.predict(np.zeros((0, *clf.input_shape), np.float32))
    assert out.shape == (0, tfx.NUM_CLASSES)


@pytest.mark.parametrize(
    ("shape", "fragment"),
    [
        ((2, 8, 8, 1), r"has shape \(2, 8, 8, 1\); expected \(N, 12, 12, 1\)"),
        ((12, 12, 1), r"has shape \(12, 12, 1\); expected \(N, 12, 12, 1\)"),
        ((1, 12, 12, 3), r"has shape \(1, 12, 12, 3\)"),
    ],
)
def test_predict_wrong_shape(model_files, shape, fragment):
    clf = TFLiteClassifier(model_files["float32"])
    with pytest.raises(DataError, match=fragment):
        clf.predict(np.zeros(shape, np.float32))


def test_predict_rejects_integer_batch(model_files):
    clf = TFLiteClassifier(model_files["int8"])
    with pytest.raises(DataError, match="has dtype uint8; expected normalised float32"):
        clf.predict(np.zeros((1, 12, 12, 1), np.uint8))


def test_invoke_raw_checks_dtype(model_files):
    clf = TFLiteClassifier(model_files["int8"])
    expected = r"dtype float32; expected shape \(1, 12, 12, 1\) dtype int8"
    with pytest.raises(DataError, match=expected):
        clf.invoke_raw(np.zeros((1, 12, 12, 1), np.float32))


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.tflite"
    with pytest.raises(ModelError, match=f"model file {missing} does not exist"):
        TFLiteClassifier(missing)


def test_not_a_flatbuffer(tmp_path):
    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"this is not a model at all")
    with pytest.raises(ModelError, match=r"bogus.tflite is not a TFLite flatbuffer"):
        load_interpreter(bogus)


def test_truncated_flatbuffer(tmp_path, model_files):
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(model_files["float32"].read_bytes()[:200])
    with pytest.raises(ModelError, match="truncated.tflite"):
        load_interpreter(truncated)


def test_bad_thread_count(model_files):
    with pytest.raises(ConfigError, match="num_threads is 0"):
        load_interpreter(model_files["float32"], num_threads=0)


def test_latency_stats_are_sane(model_files, inputs):
    clf = TFLiteClassifier(model_files["int8"], num_threads=2)
    stats = measure_latency(clf, inputs[0], warmup=2, runs=7)
    assert stats.runs == 7 and stats.warmup == 2 and stats.threads == 2 and stats.xnnpack
    assert 0 < stats.min_ms <= stats.median_ms <= stats.p90_ms
    assert stats.min_ms <= stats.mean_ms
    assert stats.median_ms < 1000  # a 12x12 conv takes microseconds, not seconds
    assert set(stats.to_json()) == {
        "median", "p90", "mean", "min", "runs", "warmup", "threads", "xnnpack"
    }
    assert stats.to_json()["median"] == stats.median_ms


@pytest.mark.parametrize(
    ("kwargs", "fragment"), [({"runs": 0}, "runs is 0"), ({"warmup": -1}, "warmup is -1")]
)
def test_latency_rejects_bad_counts(model_files, inputs, kwargs, fragment):
    clf = TFLiteClassifier(model_files["float32"])
    with pytest.raises(ConfigError, match=fragment):
        measure_latency(clf, inputs, **kwargs)


def test_latency_stats_validate():
    with pytest.raises(ConfigError, match="LatencyStats.runs is 0"):
        LatencyStats(1.0, 1.0, 1.0, 1.0, runs=0, warmup=0, threads=1, xnnpack=True)
