"""The per-layer latency regression of mmnet.pipeline.latency_model (Neurosurgeon-style estimate of L_m):
its config, the probe layers it times and the evaluation of its predictions.

The parts that convert or run Keras models are tested in tests/integration/test_latency_model.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from mmnet.format.errors import ConfigError, ModelError
from mmnet.pipeline.latency_model.config import LatencyModelConfig
from mmnet.pipeline.latency_model.evaluation import evaluate_on_models
from mmnet.pipeline.latency_model.probes import LAYER_KINDS, layer_specs

# ------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("enabled", "yes", "true or false"),
        ("precisions", (), "a non-empty tuple of precisions"),
        ("precisions", ["float32"], "a non-empty tuple of precisions"),  # a list, not a tuple
        ("precisions", ("float32", "float32"), "no precision twice"),
        ("samples_per_type", 0, r"an int in \[1, 1000\]"),
        ("samples_per_type", 2.5, r"an int in \[1, 1000\]"),
        ("runs", 0, r"an int in \[1, 100000\]"),
        ("runs", True, r"an int in \[1, 100000\]"),
        ("warmup", -1, r"an int in \[0, 10000\]"),
        ("seed", -3, r"an int in \[0, "),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value, expected):
    with pytest.raises(ConfigError, match=rf"^latency_model\.{field} is {re.escape(repr(value))}; expected {expected}"):
        LatencyModelConfig(**{field: value})


def test_config_rejects_float16_and_says_why():
    with pytest.raises(ConfigError, match=r"latency_model\.precisions\[1\] is 'float16'; expected one of "
                                          r"\['float32', 'int8'\] \(float16 models run float32 kernels"):
        LatencyModelConfig(precisions=("float32", "float16"))


def test_config_defaults_are_valid():
    config = LatencyModelConfig()
    assert config.precisions == ("float32", "int8") and config.enabled


# ------------------------------------------------------------------------------------- probe layers


def test_layer_specs_cover_every_kind_within_the_caps():
    specs = layer_specs(6, np.random.default_rng(0))
    kinds = [spec.kind for spec in specs]
    assert set(kinds) == set(LAYER_KINDS)
    assert kinds.count("conv") == kinds.count("depthwise") == kinds.count("dense") == 6
    assert all(kinds.count(kind) == 2 for kind in LAYER_KINDS if kind not in ("conv", "depthwise", "dense"))
    assert len(set(specs)) == len(specs)
    assert all(spec.macs <= 12_000_000 and spec.h * spec.w * max(spec.c, spec.out_c) <= 400_000 for spec in specs)
    assert all(spec.h > 1 for spec in specs if spec.kind == "mean")  # the mean of a 1x1 map converts to no op
    assert layer_specs(6, np.random.default_rng(0)) == specs
    assert layer_specs(6, np.random.default_rng(1)) != specs


# -------------------------------------------------------------------------------------- evaluation


class _FixedPredictions:
    """A stand-in regression predicting a fixed time per model path."""

    def __init__(self, predictions: dict[str, float]) -> None:
        self._predictions = predictions

    def predict_model(self, path: str) -> float:
        return self._predictions[path]


def test_evaluate_on_models_computes_errors():
    regression = _FixedPredictions({"a.tflite": 3.0, "b.tflite": 3.0, "c.tflite": 1.1})
    result = evaluate_on_models(
        regression, [("a", "a.tflite", 2.0), ("b", "b.tflite", 4.0), ("c", "c.tflite", 1.0)]
    )
    # a: (3 - 2) / 2 = +50%; b: (3 - 4) / 4 = -25%; c: (1.1 - 1) / 1 = +10%.
    assert [r["model"] for r in result["models"]] == ["a", "b", "c"]
    assert [r["error_pct"] for r in result["models"]] == pytest.approx([50.0, -25.0, 10.0])
    assert [r["predicted_ms"] for r in result["models"]] == [3.0, 3.0, 1.1]
    assert [r["measured_ms"] for r in result["models"]] == [2.0, 4.0, 1.0]
    assert result["mape_pct"] == pytest.approx((50 + 25 + 10) / 3)
    assert result["median_ape_pct"] == pytest.approx(25.0)
    assert result["max_ape_pct"] == pytest.approx(50.0)
    assert result["count"] == 3


def test_evaluate_on_models_edge_cases():
    empty = evaluate_on_models(_FixedPredictions({}), [])
    assert empty == {"models": [], "mape_pct": None, "median_ape_pct": None, "max_ape_pct": None, "count": 0}
    with pytest.raises(ModelError, match=r"^m: measured latency \(ms\) is 0\.0; expected a finite number > 0$"):
        evaluate_on_models(_FixedPredictions({"m.tflite": 1.0}), [("m", "m.tflite", 0.0)])
