"""SIEVE's per-layer search over native formats (mmnet.pipeline.sieve.native): the sweep's stops, the
picks by measured cost, the combination's repair within its budget and the final choice, on a fake
evaluator whose accuracy and latency are functions of the assignment."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from mmnet.format.errors import ConfigError
from mmnet.pipeline.sieve.native import (
    FLOAT32,
    NATIVE_FORMATS,
    WHOLE_MODEL,
    LayerSweep,
    NativeSearchConfig,
    NativeTrial,
    WeightedLayer,
    average_weight_bits,
    choose_model,
    pick_format,
    run_native_search,
    sweep_layer,
)

BASELINE = 0.9
# whole-model latency over float32 per format (the costs the fake measures)
COSTS = {"float16": 1.0, "int8_weight_only": 1.0, "int8_dynamic": 0.7, "int8_static": 0.6, "int4_weight_only": 2.5}


class FakeEvaluator:
    """Accuracy: the baseline minus each reduced layer's loss in its format (``losses[layer][fmt]``),
    minus ``together`` per reduced layer beyond the first (the losses that add up only in combination), or,
    with ``crowd``, ``together`` once when at least ``crowd`` layers are reduced (a loss no single layer undoes).
    Latency over float32: the whole-model cost of a uniform assignment; a per-layer one, the average of
    its layers' costs plus ``overhead`` (the conversions between formats a mixed model runs)."""

    def __init__(self, losses: Mapping[str, Mapping[str, float]], together: float = 0.0, overhead: float = 0.0,
                 crowd: int | None = None) -> None:
        self.layers = tuple(WeightedLayer(name, "CONV_2D", 100) for name in losses)
        self.losses = losses
        self.together = together
        self.overhead = overhead
        self.crowd = crowd
        self.calls: list[dict[str, str]] = []

    def _per_layer(self, assignment: Mapping[str, str]) -> dict[str, str]:
        if WHOLE_MODEL in assignment:
            return {layer.name: assignment[WHOLE_MODEL] for layer in self.layers}
        return {k: v for k, v in assignment.items() if v != FLOAT32}

    def accuracy(self, assignment: Mapping[str, str]) -> float:
        self.calls.append(dict(assignment))
        per_layer = self._per_layer(assignment)
        loss = sum(self.losses[k].get(v, 0.0) for k, v in per_layer.items())
        if self.crowd is not None:
            return BASELINE - loss - (self.together if len(per_layer) >= self.crowd else 0.0)
        return BASELINE - loss - self.together * max(0, len(per_layer) - 1)

    def latency_ratios(self, assignments: Mapping[str, Mapping[str, str]]) -> dict[str, list[float]]:
        out = {}
        for name, assignment in assignments.items():
            if WHOLE_MODEL in assignment:
                ratio = COSTS[assignment[WHOLE_MODEL]]
            else:
                ratio = self.overhead + sum(COSTS[assignment[layer.name]] if layer.name in assignment else 1.0
                                            for layer in self.layers) / len(self.layers)
            out[name] = [ratio, ratio * 1.01, ratio * 0.99]
        return out


def _trials(**normalized: float) -> LayerSweep:
    return LayerSweep(WeightedLayer("conv", "CONV_2D", 10),
                      tuple(NativeTrial(k, BASELINE * v, v) for k, v in normalized.items()), ())


@pytest.mark.parametrize(("field", "value"), [("formats", ()), ("formats", ("int2",)), ("formats", ("float16", "float16")),
                                              ("stop_accuracy", 0.0), ("latency_tolerance", 2.0),
                                              ("repair_evaluations", -1), ("latency_passes", 0)])
def test_config_refuses_bad_values_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=f"sieve.native.{field}"):
        NativeSearchConfig(**{field: value})


def test_the_build_config_takes_lists_and_refuses_unknown_keys():
    from mmnet.pipeline.config import config_from_mapping

    def native(section):
        return config_from_mapping({"name": "t", "dataset": {"source": "builtin:digits"},
                                    "sieve": {"native": section}}).sieve.native

    config = native({"formats": ["int8_static", "float16"], "repair_evaluations": 3})
    assert config.formats == ("int8_static", "float16") and config.repair_evaluations == 3
    assert native(config.to_json()) == config
    with pytest.raises(ConfigError, match="sieve.native.speed: unknown key"):
        native({"speed": 1})


def test_sweep_skips_what_reduces_a_format_below_the_floor():
    # int8 weight-only falls below the floor: int8 dynamic (which reduces it), int8 static (which reduces
    # that) and int4 weight-only are not tried; float16 and int8 weight-only are.
    accuracy = {"float16": BASELINE, "int8_weight_only": BASELINE * 0.99}
    tried = []

    def accuracy_with(fmt: str) -> float:
        tried.append(fmt)
        return accuracy.get(fmt, 0.0)

    sweep = sweep_layer(WeightedLayer("conv", "CONV_2D", 10), accuracy_with, BASELINE, NativeSearchConfig())
    assert tried == ["float16", "int8_weight_only"]
    assert [s.split(":")[0] for s in sweep.skipped] == ["int8_dynamic", "int8_static", "int4_weight_only"]
    assert sweep.trials[1].normalized == pytest.approx(0.99)


def test_sweep_keeps_going_past_a_format_nothing_reduces_further():
    tried = []

    def accuracy_with(fmt: str) -> float:
        tried.append(fmt)
        return 0.0 if fmt == "int8_static" else BASELINE

    sweep = sweep_layer(WeightedLayer("conv", "CONV_2D", 10), accuracy_with, BASELINE, NativeSearchConfig())
    assert tried == list(NATIVE_FORMATS) and sweep.skipped == ()


def test_pick_takes_the_fastest_format_at_the_target():
    sweep = _trials(float16=1.0, int8_weight_only=1.0, int8_dynamic=1.0, int8_static=0.995, int4_weight_only=1.0)
    assert pick_format(sweep, 1.0, COSTS, 0.05)[0] == "int8_dynamic"  # static is faster but misses the target
    assert pick_format(sweep, 0.99, COSTS, 0.05)[0] == "int8_static"


def test_pick_prefers_fewer_bits_among_equally_fast_formats_and_float32_over_slower_ones():
    # float16 and int8 weight-only run as fast as float32: the 8-bit one wins on bytes
    sweep = _trials(float16=1.0, int8_weight_only=1.0, int8_dynamic=0.9, int4_weight_only=1.0)
    fmt, reason = pick_format(sweep, 1.0, COSTS, 0.05)
    assert fmt == "int8_weight_only" and "fastest" in reason
    # int4 weight-only alone keeps the target but runs 2.5x slower: the layer stays float32
    fmt, reason = pick_format(_trials(float16=0.9, int4_weight_only=1.0), 1.0, COSTS, 0.05)
    assert fmt == FLOAT32 and "faster than float32" in reason
    fmt, reason = pick_format(_trials(float16=0.9), 1.0, COSTS, 0.05)
    assert fmt == FLOAT32 and "no format kept" in reason


def test_choose_model_fastest_then_fewest_bits_within_tolerance():
    candidates = {FLOAT32: (1.0, 32.0), "per-layer": (0.62, 10.0), "uniform int8_static": (0.60, 8.0),
                  "uniform int8_dynamic": (0.70, 8.0)}
    assert choose_model(candidates, 0.05) == "uniform int8_static"
    candidates["per-layer"] = (0.50, 10.0)
    assert choose_model(candidates, 0.05) == "per-layer"
    assert choose_model({FLOAT32: (1.0, 32.0), "uniform float16": (1.01, 16.0)}, 0.05) == "uniform float16"


def test_average_weight_bits_weights_by_element_count():
    layers = (WeightedLayer("a", "CONV_2D", 100), WeightedLayer("b", "FULLY_CONNECTED", 300))
    assert average_weight_bits(layers, {"a": "int8_static"}) == pytest.approx((100 * 8 + 300 * 32) / 400)
    assert average_weight_bits(layers, {WHOLE_MODEL: "int4_weight_only"}) == 4.0


def test_search_combines_the_picks_when_they_keep_the_target_together():
    # a loses nothing in int8 static, b nothing in int8 dynamic; static and int4 cost b accuracy
    losses = {"a": {}, "b": {"int8_static": 0.05, "int4_weight_only": 0.05}}
    evaluator = FakeEvaluator(losses)
    result = run_native_search(evaluator, NativeSearchConfig(latency_passes=3))
    accurate = result.models["accurate"]
    assert accurate.picked == {"a": "int8_static", "b": "int8_dynamic"}
    assert accurate.repairs == () and accurate.combination_accuracy == pytest.approx(BASELINE)
    assert accurate.chosen == "per-layer" and accurate.assignment == accurate.picked
    assert accurate.latency_ratios["per-layer"][0] == pytest.approx((0.6 + 0.7) / 2)
    # uniform int8 static loses b's 0.05, so it is not a candidate at the target; uniform int8 dynamic is (0.7)
    assert "uniform int8_static" not in accurate.latency_ratios and "uniform int8_dynamic" in accurate.latency_ratios
    assert result.costs == COSTS and result.uniform["int8_static"].normalized < 1.0


def test_search_says_so_when_a_whole_model_format_is_best():
    # every layer picks int8 static, but the per-layer model runs conversions the whole-model recipe avoids
    evaluator = FakeEvaluator({"a": {"int4_weight_only": 0.1}, "b": {}}, overhead=0.1)
    accurate = run_native_search(evaluator).models["accurate"]
    assert accurate.picked == {"a": "int8_static", "b": "int8_static"} == accurate.combination
    assert accurate.latency_ratios["per-layer"][0] == pytest.approx(0.7)
    assert accurate.chosen == "uniform int8_static" and accurate.assignment == {WHOLE_MODEL: "int8_static"}
    assert accurate.choice_reason.startswith("uniform int8_static: 0.60x float32")
    assert accurate.weight_bits == 8.0 and accurate.normalized == pytest.approx(1.0)


def test_repair_puts_layers_back_until_the_target_holds():
    # every pick keeps the target alone, but each extra reduced layer costs 0.004 together
    losses = {name: {} for name in "abcd"}
    evaluator = FakeEvaluator(losses, together=0.004)
    result = run_native_search(evaluator, NativeSearchConfig(approximate_target=0.98))
    accurate = result.models["accurate"]
    assert accurate.picked_accuracy < BASELINE
    assert len(accurate.repairs) == 3 and accurate.repair_stop == ""  # back to one reduced layer: no combined loss
    assert len(accurate.combination) == 1 and accurate.combination_accuracy == pytest.approx(BASELINE)
    approximate = result.models["approximate"]
    assert approximate.repairs == () and len(approximate.combination) == 4  # 0.012 / 0.9 is within 2%
    assert approximate.weight_bits == 8.0


def test_repair_respects_its_evaluation_budget():
    losses = {name: {} for name in "abcdef"}
    evaluator = FakeEvaluator(losses, together=0.01)
    config = NativeSearchConfig(repair_evaluations=8)
    before = len(evaluator.calls)
    result = run_native_search(evaluator, config)
    accurate = result.models["accurate"]
    # the round put back two layers; no budget left for another round or the rebuild: every layer float32
    assert accurate.repair_stop == ("evaluation budget (8) too small for another round; rebuilt from float32 putting in "
                                    "the picks by weight count: kept 0 of 6")
    assert accurate.combination == {} and accurate.combination_accuracy == BASELINE
    assert "per-layer" not in accurate.latency_ratios  # nothing reduced: not a candidate
    assert accurate.chosen == FLOAT32 and accurate.assignment == {}  # no uniform model keeps the target either
    # per model: 1 evaluation of the picks, then 6 gains and 2 steps (8 repair evaluations in all)
    assert len(accurate.repairs) == 2
    spent = len(evaluator.calls) - before
    baseline_uniform_and_sweeps = 1 + len(NATIVE_FORMATS) + 6 * len(NATIVE_FORMATS)
    assert spent == baseline_uniform_and_sweeps + 2 * (1 + 6 + 2)
    assert result.evaluations == spent


def test_no_repair_with_a_zero_budget():
    evaluator = FakeEvaluator({name: {} for name in "abc"}, together=0.01)
    accurate = run_native_search(evaluator, NativeSearchConfig(repair_evaluations=0)).models["accurate"]
    assert accurate.repairs == () and accurate.repair_stop.startswith("evaluation budget (0) too small")
    assert accurate.combination == {}


def test_rebuild_when_no_layer_alone_undoes_the_loss():
    # reducing any three of the four layers loses 0.01: putting one back alone gains nothing
    evaluator = FakeEvaluator({name: {} for name in "abcd"}, together=0.01, crowd=3)
    before = len(evaluator.calls)
    accurate = run_native_search(evaluator).models["accurate"]
    assert accurate.repairs == ()
    assert accurate.repair_stop == ("no layer alone gains accuracy when put back; rebuilt from float32 putting in the "
                                    "picks by weight count: kept 2 of 4")
    assert accurate.combination == {"a": "int8_static", "b": "int8_static"}
    assert accurate.combination_accuracy == pytest.approx(BASELINE)
    # the picks, 4 gains and 4 rebuild steps, for each of the two models
    baseline_uniform_and_sweeps = 1 + len(NATIVE_FORMATS) + 4 * len(NATIVE_FORMATS)
    assert len(evaluator.calls) - before == baseline_uniform_and_sweeps + 2 * (1 + 4 + 4)
