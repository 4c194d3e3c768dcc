"""SIEVE's format search (mmnet.pipeline.sieve.search): the §4.4.1 sweep order and stopping rules,
the exact / accurate / approximate picks, the combination's repair, on fakes and a numpy network."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pytest

from mmnet.format.custom_float import ExponentHistogram, FloatFormat, exponent_histogram, quantize
from mmnet.format.errors import ConfigError, DataError
from mmnet.pipeline.sieve.search import (
    SearchConfig,
    TensorInfo,
    TensorSweep,
    Trial,
    average_bits,
    combine,
    pick_trial,
    run_search,
    sweep_tensor,
    sweeps_from_json,
    validate_search_document,
)


def _tensor(name: str, histogram: dict[int, int], kind: str = "weight", elements: int = 100) -> TensorInfo:
    return TensorInfo(name, kind, name.split("/")[0], elements, ExponentHistogram.from_dict(histogram))


@pytest.mark.parametrize(("field", "value"), [("coverage", 0.0), ("coverage", 1.5), ("max_mantissa_bits", 24),
                                              ("stop_accuracy", -1.0), ("repair", "yes"), ("min_coverage", 0.999)])
def test_config_refuses_bad_values_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=f"sieve.search.{field}"):
        SearchConfig(**{field: value})


def test_the_build_config_refuses_unknown_search_keys():
    from mmnet.pipeline.config import config_from_mapping

    def sieve(search):
        return config_from_mapping({"name": "t", "dataset": {"source": "builtin:digits"}, "sieve": {"search": search}})

    with pytest.raises(ConfigError, match="sieve.search.coverge: unknown key"):
        sieve({"coverge": 0.9})
    assert sieve({"coverage": 0.99}).sieve.search.coverage == 0.99


def test_sweep_goes_down_mantissa_then_exponent_and_stops_as_the_paper_says():
    # exponents -8 … -1, evenly: e_max covers all 8 (needs 4 bits: 8 + 2 reserved codes <= 14)
    tensor = _tensor("w/kernel", {e: 10 for e in range(-8, 0)})
    calls: list[FloatFormat] = []

    def accuracy_with(fmt: FloatFormat) -> float:
        calls.append(fmt)
        return 1.0 if fmt.mantissa_bits >= 3 else 0.9  # below 99.8% from m2 on

    sweep = sweep_tensor(tensor, accuracy_with, 1.0, SearchConfig())
    assert (sweep.e_max, sweep.bias) == (4, 9)  # b = 1 - (-8)
    # e4 (coverage 1.0), e3 (6 of 8 exponents: 0.75), e2 (2 of 8: 0.25 < 0.5 stops before any trial)
    assert [(f.exponent_bits, f.mantissa_bits) for f in calls] == [(4, m) for m in (6, 5, 4, 3, 2)] + [
        (3, m) for m in (6, 5, 4, 3, 2)]
    assert sweep.trials[5].coverage == pytest.approx(0.75)
    assert sweep.trials[5].format.bias == 7  # the highest 6-exponent window: -6 … -1, b = 1 - (-6)
    assert "coverage 0.250 below 0.5" in sweep.stops[-1]
    assert "m2 at 0.9000 normalised" in sweep.stops[0]


def _sweep(name: str, results: list[tuple[str, float]], baseline: float = 1.0) -> TensorSweep:
    trials = tuple(Trial(FloatFormat.parse(f), 1.0, acc, acc / baseline) for f, acc in results)
    return TensorSweep(_tensor(name, {-1: 1}), 4, 8, trials, ())


def test_picks_exact_accurate_approximate_and_falls_back_to_the_most_accurate():
    sweep = _sweep("a", [("e4m6b8", 1.0), ("e4m2b8", 1.0), ("e4m1b8", 0.9995), ("e3m6b4", 1.001), ("e3m0b4", 0.99)])
    assert pick_trial(sweep, None)[0].format.name == "e3m6b4"  # most accurate
    assert pick_trial(_sweep("c", [("e4m6b8", 1.0), ("e4m2b8", 1.0)]), None)[0].format.name == "e4m6b8"  # widest of equals
    assert pick_trial(sweep, 1.0)[0].format.name == "e4m2b8"  # narrowest at >= 100% (7 bits vs e3m6's 10)
    assert pick_trial(sweep, 0.999)[0].format.name == "e4m1b8"
    trial, reason = pick_trial(_sweep("b", [("e4m6b8", 0.99), ("e4m5b8", 0.995)]), 1.0)
    assert trial.format.name == "e4m5b8" and reason.startswith("no trial reached")


def test_average_bits_weights_by_elements_and_counts_float32_where_no_format():
    tensors = (_tensor("a/kernel", {-1: 1}, elements=300), _tensor("b/kernel", {-1: 1}, elements=100),
               _tensor("x:out", {-1: 1}, kind="activation", elements=50))
    formats = {"a/kernel": FloatFormat.parse("e4m3b7")}  # 8 bits
    assert average_bits(tensors, formats, "weight") == pytest.approx((300 * 8 + 100 * 32) / 400)
    assert average_bits(tensors, formats, "activation") == 32.0


class _Interacting:
    """Two tensors that each keep 100% alone but not together (the aggregation of §4.4.1)."""

    def __init__(self) -> None:
        self.tensors = (_tensor("a/kernel", {-1: 1}), _tensor("b/kernel", {-1: 1}))

    def accuracy(self, formats: Mapping[str, FloatFormat]) -> float:
        narrow = [k for k, f in formats.items() if f.mantissa_bits < 4]
        return 0.95 if len(narrow) == 2 else 1.0


def test_combination_records_why_it_loses_and_repairs_to_the_target():
    evaluator = _Interacting()
    sweeps = (_sweep("a/kernel", [("e4m6b8", 1.0), ("e4m2b8", 1.0)]),
              _sweep("b/kernel", [("e4m6b8", 1.0), ("e4m1b8", 1.0)]))
    model = combine("accurate", sweeps, evaluator, 1.0, SearchConfig())
    assert model.picked_accuracy == 0.95  # each alone 100%, together not
    # either one stepped back to m6 alone ends the loss; of equal gains the narrower format steps back
    assert model.losses[0]["gains"] == {"b/kernel": pytest.approx(0.05), "a/kernel": pytest.approx(0.05)}
    assert model.repairs == ("b/kernel: e4m1b8 -> e4m6b8 (+0.0500 accuracy)",)
    assert model.normalized == 1.0 and model.formats["b/kernel"].name == "e4m6b8"

    unrepaired = combine("accurate", sweeps, evaluator, 1.0, SearchConfig(repair=False))
    assert unrepaired.normalized == 0.95 and unrepaired.losses and not unrepaired.repairs


def test_repair_steps_back_to_float32_from_the_widest_trial():
    class Lossy(_Interacting):
        def accuracy(self, formats):
            return 0.9 if formats else 1.0  # any reformatted tensor loses

    sweeps = (_sweep("a/kernel", [("e4m6b8", 1.0)]), _sweep("b/kernel", [("e4m6b8", 1.0)]))
    model = combine("accurate", sweeps, Lossy(), 1.0, SearchConfig())
    assert model.formats == {} and model.normalized == 1.0
    assert [r.endswith("-> float32 (+0.0000 accuracy)") for r in model.repairs] == [True, False]


def test_repair_is_bounded_by_its_evaluation_budget_and_says_so():
    class Stubborn:
        """Loses while any tensor is reformatted: only all of them back at float32 keeps the target."""

        def __init__(self) -> None:
            self.tensors = tuple(_tensor(f"t{i}/kernel", {-1: 1}) for i in range(6))
            self.calls = 0
            self.references = 0

        def accuracy(self, formats):
            self.calls += 1
            return 0.9 if formats else 1.0

        def set_reference(self, formats):
            self.references += 1
            return self.accuracy(formats)

    evaluator = Stubborn()
    sweeps = tuple(_sweep(t.name, [("e4m6b8", 1.0), ("e4m2b8", 1.0)]) for t in evaluator.tensors)
    model = combine("accurate", sweeps, evaluator, 1.0, SearchConfig(repair_evaluations=10))
    # the picks (1); round 1: 6 gains, none positive, so the first ranked steps back (1); round 2
    # would need 5 more gains, over the budget of 10, so it does not start; then the rebuild from
    # float32 tries each of the 6 picks once and keeps none (each loses alone here)
    assert len(model.repairs) == 1 and model.repair_evaluations == 7 + 2 + 6 and evaluator.calls == 8 + 2 + 6
    # the exact picks (the widest trials) lose too, so the rebuild starts from float32
    assert model.repair_stop == ("evaluation budget (10) spent; rebuilt from float32 putting in the picks by bits saved: "
                                 "kept 0 of 6")
    assert model.formats == {} and model.normalized == 1.0
    # the picks and every step became the base, then the rebuild's two starts (exact picks, float32)
    assert evaluator.references == 1 + len(model.repairs) + 2
    rounds = combine("accurate", sweeps, Stubborn(), 1.0, SearchConfig(repair_rounds=1))
    assert rounds.repair_stop.startswith("1 rounds done; rebuilt") and len(rounds.losses) == 1


def test_the_rebuild_from_float32_keeps_the_picks_that_keep_the_target_together():
    class Pairwise:
        """t0 and t1 may not both be narrow; the others lose nothing."""

        def __init__(self) -> None:
            self.tensors = tuple(_tensor(f"t{i}/kernel", {-1: 1}, elements=100 * (4 - i)) for i in range(4))

        def accuracy(self, formats):
            return 0.95 if {"t0/kernel", "t1/kernel"} <= set(formats) else 1.0

    evaluator = Pairwise()
    sweeps = tuple(_sweep(t.name, [("e4m6b8", 1.0), ("e4m2b8", 1.0)]) for t in evaluator.tensors)
    model = combine("accurate", sweeps, evaluator, 1.0, SearchConfig(repair_evaluations=1))
    # no repair round fits the budget; the rebuild adds t0 (most bits saved), refuses t1, adds t2, t3
    assert sorted(model.formats) == ["t0/kernel", "t2/kernel", "t3/kernel"] and model.normalized == 1.0
    assert model.repair_stop.endswith("rebuilt from float32 putting in the picks by bits saved: kept 3 of 4")
    assert not model.repairs


def test_the_rebuild_starts_from_the_exact_picks_when_they_keep_the_target():
    class NarrowPairs:
        """Mantissas below 4 bits: t0 and t1 may not both have them; the exact picks (m6) lose nothing."""

        def __init__(self) -> None:
            self.tensors = tuple(_tensor(f"t{i}/kernel", {-1: 1}, elements=100 * (4 - i)) for i in range(4))

        def accuracy(self, formats):
            narrow = {k for k, f in formats.items() if f.mantissa_bits < 4}
            return 0.95 if {"t0/kernel", "t1/kernel"} <= narrow else 1.0

    evaluator = NarrowPairs()
    sweeps = tuple(_sweep(t.name, [("e4m6b8", 1.0), ("e4m2b8", 1.0)]) for t in evaluator.tensors)
    model = combine("accurate", sweeps, evaluator, 1.0, SearchConfig(repair_evaluations=1))
    assert {k: f.name for k, f in model.formats.items()} == {
        "t0/kernel": "e4m2b8", "t1/kernel": "e4m6b8", "t2/kernel": "e4m2b8", "t3/kernel": "e4m2b8"}
    assert model.repair_stop.endswith("rebuilt from the exact model's picks putting in the picks by bits saved: kept 3 of 4")


def test_a_combination_above_its_target_takes_narrower_trials_that_keep_it():
    class Slack:
        """a's narrow trial loses 0.5% alone; b's narrow trial gains 1%: together they keep the target."""

        def __init__(self) -> None:
            self.tensors = (_tensor("a/kernel", {-1: 1}, elements=300), _tensor("b/kernel", {-1: 1}, elements=100))

        def accuracy(self, formats):
            narrow = {k for k, f in formats.items() if f.mantissa_bits < 4}
            return 1.0 - 0.005 * ("a/kernel" in narrow) + 0.01 * ("b/kernel" in narrow)

    sweeps = (_sweep("a/kernel", [("e4m6b8", 1.0), ("e4m2b8", 0.995), ("e4m0b8", 0.98)]),
              _sweep("b/kernel", [("e4m6b8", 1.0), ("e4m1b8", 1.01)]))
    model = combine("accurate", sweeps, Slack(), 1.0, SearchConfig())
    assert model.picked["a/kernel"].name == "e4m6b8"  # alone, its narrower trials miss 100%
    # a's next narrower trial keeps the combination at 100.5%; its next one (100% - 0.5% + 1%) too, then
    # b has nothing narrower; each step is recorded with the combination's accuracy
    assert {k: f.name for k, f in model.formats.items()} == {"a/kernel": "e4m0b8", "b/kernel": "e4m1b8"}
    assert model.tightened == ("a/kernel: e4m6b8 -> e4m2b8 (combination at 1.0050 of baseline)",
                               "a/kernel: e4m2b8 -> e4m0b8 (combination at 1.0050 of baseline)")
    assert model.normalized >= 1.0 and model.weight_bits < combine("accurate", sweeps, Slack(), 1.0,
                                                                     SearchConfig(tighten=False)).weight_bits
    # the exact model has no target to keep: it is never tightened
    assert not combine("exact", sweeps, Slack(), 1.0, SearchConfig()).tightened


class _NumpyNet:
    """A real two-layer network in numpy (ReLU hidden layer), reformatted with the exact codec."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((400, 16)).astype(np.float32)
        self.w1 = (rng.standard_normal((16, 32)) * 0.3).astype(np.float32)
        self.w2 = (rng.standard_normal((32, 5)) * 0.2).astype(np.float32)
        logits = self._forward({})
        top2 = np.sort(logits, axis=1)[:, -2:]
        self.x = self.x[top2[:, 1] - top2[:, 0] > 0.2]  # frames the float network answers with a margin
        self.y = self._forward({}).argmax(axis=1)  # labels: the float network's answers (baseline 100%)
        hidden = np.maximum(self.x @ self.w1, 0)
        self.tensors = (
            TensorInfo("input:out", "activation", "input", 16, exponent_histogram(self.x)),
            TensorInfo("fc1/kernel", "weight", "fc1", self.w1.size, exponent_histogram(self.w1)),
            TensorInfo("relu:out", "activation", "relu", 32, exponent_histogram(hidden)),
            TensorInfo("fc2/kernel", "weight", "fc2", self.w2.size, exponent_histogram(self.w2)),
        )

    def _forward(self, formats: Mapping[str, FloatFormat]) -> np.ndarray:
        def q(name, value):
            return quantize(value, formats[name]) if name in formats else value

        hidden = np.maximum(q("input:out", self.x) @ q("fc1/kernel", self.w1), 0).astype(np.float32)
        return q("relu:out", hidden) @ q("fc2/kernel", self.w2)

    def accuracy(self, formats: Mapping[str, FloatFormat]) -> float:
        return float(np.mean(self._forward(formats).argmax(axis=1) == self.y))


def test_search_on_a_numpy_network_keeps_the_targets_with_fewer_bits():
    net = _NumpyNet()
    result = run_search(net, model_name="numpy-mlp")
    assert result.baseline_accuracy == 1.0
    accurate, approximate = result.models["accurate"], result.models["approximate"]
    assert accurate.normalized >= 1.0 and approximate.normalized >= 0.999
    assert accurate.weight_bits < 12 and accurate.activation_bits < 12
    assert approximate.weight_bits <= accurate.weight_bits + 1e-9 or approximate.repairs
    assert net.accuracy(accurate.formats) == accurate.accuracy  # the recorded accuracy is the model's
    for sweep in result.sweeps:
        assert sweep.trials and all(t.format.exponent_bits <= sweep.e_max for t in sweep.trials)
        ms = [t.format.mantissa_bits for t in sweep.trials if t.format.exponent_bits == sweep.e_max]
        assert ms == list(range(6, 6 - len(ms), -1))  # 6 → 0, in order
    assert result.evaluations >= 1 + sum(len(s.trials) for s in result.sweeps) + 3
    doc = json.loads(json.dumps(result.to_json()))
    validate_search_document(doc)
    doc["models"]["accurate"]["formats"]["fc1/kernel"] = "e9m3b7"
    with pytest.raises(DataError, match=r"sieve_search.json: \$.models.accurate.formats\['fc1/kernel'\]"):
        validate_search_document(doc)
    assert doc["schema"] == "mmnet.sieve-search/1"
    assert set(doc["models"]) == {"exact", "accurate", "approximate"}
    assert doc["models"]["accurate"]["avg_bits_per_weight"] == pytest.approx(accurate.weight_bits, abs=1e-4)


def test_report_tables_and_plots_from_the_search_artifact(tmp_path):
    from mmnet.pipeline.sieve.report import formats_table, plot_formats, plot_pareto, summary_table

    doc = json.loads(json.dumps(run_search(_NumpyNet(), model_name="numpy-mlp").to_json()))
    table = formats_table(doc)
    assert table.count("\n") == 2 + len(doc["tensors"])
    accurate_fc1 = doc["models"]["accurate"]["formats"].get("fc1/kernel", "float32")
    assert f"`{accurate_fc1}`" in table.splitlines()[3]  # the fc1 row (second tensor) names the accurate pick
    summary = summary_table(doc, {"float32": 0.9, "exact": 0.9, "accurate": 0.9})
    assert "| accurate |" in summary and "90.00% |" in summary
    assert f"{doc['models']['accurate']['avg_bits_per_weight']:.2f}" in summary
    for path in (plot_formats(doc, tmp_path / "formats.png"), plot_pareto(doc, tmp_path / "pareto.png", {"float32": 0.9})):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_earlier_artifacts_sweeps_are_combined_again_without_sweeping():
    net = _NumpyNet()
    first = run_search(net, model_name="numpy-mlp")
    doc = json.loads(json.dumps(first.to_json()))
    again = run_search(net, SearchConfig(approximate_target=0.99), model_name="numpy-mlp",
                       sweeps=sweeps_from_json(doc, net.tensors, source="first.json"))
    assert again.evaluations < first.evaluations  # the baseline and the combinations only
    assert [s.to_json() for s in again.sweeps] == [s.to_json() for s in first.sweeps]
    assert again.models["accurate"].formats == first.models["accurate"].formats
    with pytest.raises(DataError, match="not the model's"):
        sweeps_from_json(doc, net.tensors[:1], source="first.json")
