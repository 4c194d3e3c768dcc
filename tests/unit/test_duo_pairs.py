"""Dynamic Duo pair search (mmnet.pipeline.duo.pairs) on synthetic outputs small enough to check by hand.

Every probability below is a multiple of 1/64, so the thresholds the detector family fits (differences
and sums of confidences) are exact in binary and the hand counts hold to the frame.

The scenario of :func:`scenario` (20 val frames = 20 test frames, 3 classes):

- ``L`` (little, 1 ms): right with confidence 56/64 on frames 0-9; wrong on frames 10-19 with
  confidences (26 + k)/64 for frame 10 + k, so frame 19 is its most confident wrong answer.
- ``M`` (4 ms): right except on frames 10-15 (14 of 20): the smallest model meeting a target of 14.
- ``H`` (6 ms): right on all 20.

These hand counts are the paper's point rule (``POINT``); the default, Learn-then-Test at ε = 0.3%,
certifies nothing on 20 frames (tests at the end).

Target 14 right answers. The heuristic takes big = M. With M, accepting L's 10 right answers keeps
10 + 4 (M right on 16-19) = 14 right; accepting frame 19 next would lose M's right answer there, so
P_r = 10/20 and E[L] = 1 + 0.5 × 4 = 3 ms. With H every frame L gets wrong is one H gets right:
accepting the 10 right answers keeps 20, then each of L's wrong answers, most confident first, costs
one: 6 of them fit (20 − 6 = 14), so P_r = 4/20 and E[L] = 1 + 0.2 × 6 = 2.2 ms — the exhaustive
optimum, which the heuristic misses (its big is fixed to M).
"""

from __future__ import annotations

import numpy as np
import pytest

from mmnet.format.errors import ConfigError
from mmnet.pipeline.detectors import DetectorSettings
from mmnet.pipeline.duo.pairs import (
    PAIR_SETTINGS,
    PER_CLASS_RULE,
    SINGLE,
    Candidate,
    Labels,
    evaluate_pair,
    exhaustive_search,
    heuristic_search,
    odd_corrects,
    resplit_check,
    search_targets,
    summarise,
    targets_from_baselines,
)

N, K = 20, 3
LABELS = np.arange(N) % K
POINT = DetectorSettings(threshold_mode="point")


def outputs(right: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """(N, K) probabilities: the label (where ``right``) or the next class gets ``confidence``."""
    answer = np.where(right, LABELS, (LABELS + 1) % K)
    p = np.repeat(((1.0 - confidence) / 2)[:, None], K, axis=1)
    p[np.arange(N), answer] = confidence
    return p


def model(name: str, right: np.ndarray, confidence: np.ndarray, ms: float, batched: float | None = None) -> Candidate:
    p = outputs(np.asarray(right, bool), np.asarray(confidence, float))
    return Candidate(name, p, p.copy(), {1: ms, 8: batched}, macs=int(ms * 1000))


def right_except(wrong: list[int]) -> np.ndarray:
    right = np.ones(N, bool)
    right[wrong] = False
    return right


def little() -> Candidate:
    right = np.arange(N) < 10
    confidence = np.where(right, 56 / 64, (26 + np.arange(N) - 10) / 64)
    return model("L", right, confidence, 1.0, 0.5)


def scenario() -> tuple[list[Candidate], Labels]:
    sure = np.full(N, 60 / 64)
    return ([little(), model("M", right_except(list(range(10, 16))), sure, 4.0, 2.0),
             model("H", np.ones(N, bool), sure, 6.0, 3.0)],
            Labels(LABELS, LABELS, K))


def test_odd_corrects_counts_little_right_and_big_wrong():
    assert odd_corrects(np.array([1, 1, 0, 0, 1], bool), np.array([0, 1, 1, 0, 0], bool)) == 2


@pytest.mark.parametrize("rule", [SINGLE, PER_CLASS_RULE])
def test_pair_with_the_accurate_big_model_by_hand(rule):
    candidates, labels = scenario()
    by = {c.id: c for c in candidates}
    result = evaluate_pair(by["L"], by["H"], labels, 14, rule, POINT)
    assert result is not None
    assert result.val_recovery_rate == pytest.approx(4 / 20)
    assert result.val_accuracy == pytest.approx(14 / 20)
    assert result.expected_ms[1] == pytest.approx(1 + 0.2 * 6)
    assert result.expected_ms[8] == pytest.approx(0.5 + 0.2 * 3)
    # the probe refitted on val accepts the same frames of the identical test split
    assert result.test_recovery_rate == pytest.approx(4 / 20)
    assert result.test_accuracy == pytest.approx(14 / 20)
    # complex corrects: frames 10-19 (L wrong, H right); 14-19 accepted: FN 6 of 20 frames, 6 of 10 complex
    assert result.errors["false_negative_rate"] == pytest.approx(6 / 20)
    assert result.errors["false_negative_share"] == pytest.approx(6 / 10)
    assert result.errors["false_positive_rate"] == 0.0 and result.errors["odd_corrects"] == 0
    assert result.detector["kind"] == "per_class_confidence" and len(result.detector["thresholds"]) == K


def test_pair_with_the_target_model_as_big_by_hand():
    candidates, labels = scenario()
    by = {c.id: c for c in candidates}
    result = evaluate_pair(by["L"], by["M"], labels, 14, SINGLE, POINT)
    assert result.val_recovery_rate == pytest.approx(10 / 20)
    assert result.expected_ms[1] == pytest.approx(1 + 0.5 * 4)
    assert result.detector["threshold"] == pytest.approx(56 / 64)  # accept exactly L's right answers
    assert result.errors["false_negative_rate"] == 0.0


def test_heuristic_misses_the_exhaustive_optimum_here():
    candidates, labels = scenario()
    heuristic = heuristic_search(candidates, labels, 14, SINGLE, POINT)
    exhaustive = exhaustive_search(candidates, labels, 14, SINGLE, POINT)
    assert heuristic.best.key == ("L", "M") and heuristic.best.expected_ms[1] == pytest.approx(3.0)
    assert heuristic.top_littles == (("L", 0),)  # only L is smaller than M; it has no odd correct against M
    assert exhaustive.best.key == ("L", "H") and exhaustive.best.expected_ms[1] == pytest.approx(2.2)
    # every big meeting the target, alone and with each smaller model: M alone, L->M, H alone, L->H, M->H
    assert {r.key for r in exhaustive.evaluated} == {(None, "M"), ("L", "M"), (None, "H"), ("L", "H"), ("M", "H")}


def test_a_big_model_below_the_target_is_no_pair():
    candidates, labels = scenario()
    by = {c.id: c for c in candidates}
    assert evaluate_pair(by["L"], by["M"], labels, 15, SINGLE, POINT) is None  # M has 14 right answers
    assert exhaustive_search(candidates, labels, 21, SINGLE, POINT) is None
    with pytest.raises(ConfigError, match="two models"):
        evaluate_pair(by["L"], by["L"], labels, 10, SINGLE)
    with pytest.raises(ConfigError, match="probe rule"):
        evaluate_pair(by["L"], by["H"], labels, 10, "median")


def test_single_model_when_no_pair_pays_off():
    """A little model as slow as it is useless: the big model alone is the optimum."""
    candidates, labels = scenario()
    slow_little = model("S", np.arange(N) < 2, np.full(N, 40 / 64), 5.0)
    best = exhaustive_search([slow_little, candidates[1]], labels, 14, SINGLE, POINT).best
    assert best.key == (None, "M") and best.expected_ms == {1: 4.0, 8: 2.0} and best.test_recovery_rate == 0.0


def test_heuristic_ranks_littles_by_odd_corrects_and_breaks_ties_by_latency_then_id():
    sure = np.full(N, 60 / 64)
    big = model("D", right_except([0, 1, 2, 3, 4, 5]), sure, 10.0)  # 14 right: the target
    bigger = model("E", np.ones(N, bool), sure, 20.0)
    right_on = {"A": 5, "B": 3, "C": 4, "F": 1, "G": 3, "G2": 3}  # L right on frames 0..n-1: n odd corrects vs D
    latency = {"A": 1.0, "B": 2.0, "C": 3.0, "F": 0.5, "G": 0.7, "G2": 0.7}
    littles = [model(name, np.arange(N) < n, sure, latency[name]) for name, n in right_on.items()]
    result = heuristic_search([*littles, big, bigger], Labels(LABELS, LABELS, K), 14, SINGLE, POINT)
    assert result.best.big == "D"  # the smallest model meeting the target, not E
    # A (5), C (4), then a three-way tie at 3: G and G2 (0.7 ms) before B (2 ms), G before G2 by id
    assert result.top_littles == (("A", 5), ("C", 4), ("G", 3))
    ranked = heuristic_search([*littles, big, bigger], Labels(LABELS, LABELS, K), 14, SINGLE, POINT, top=5).top_littles
    assert ranked == (("A", 5), ("C", 4), ("G", 3), ("G2", 3), ("B", 3))


def test_exhaustive_ties_go_to_the_lower_recovery_rate_then_ids():
    candidates, labels = scenario()
    twin = Candidate("H2", candidates[2].val, candidates[2].test, dict(candidates[2].latency_ms))
    best = exhaustive_search([*candidates, twin], labels, 14, SINGLE, POINT).best
    assert best.key == ("L", "H")  # L->H and L->H2 cost the same: the id decides


def test_targets_and_summary_over_the_scenario():
    candidates, labels = scenario()
    targets = targets_from_baselines(candidates, labels)
    assert [(t.baseline, t.needed) for t in targets] == [("L", 10), ("M", 14), ("H", 20)]
    rows = search_targets(candidates, labels, targets, (SINGLE,), POINT)
    by_target = {r["target"]["baseline"]: r["rules"][SINGLE] for r in rows}
    assert by_target["L"]["exhaustive"].key == (None, "L") and by_target["L"]["same_choice"]
    assert by_target["M"]["exhaustive"].key == ("L", "H") and not by_target["M"]["same_choice"]
    assert by_target["M"]["baseline"].key == (None, "M")
    # target 20 (H's): L->H must keep every right answer: accept L's 10 right ones only
    assert by_target["H"]["exhaustive"].key == ("L", "H")
    assert by_target["H"]["exhaustive"].val_recovery_rate == pytest.approx(0.5)
    assert rows[1]["logistic"] is not None and rows[1]["logistic"].rule == "logistic"
    summary = summarise(rows, SINGLE)
    assert summary["targets"] == 3 and summary["heuristic_found_optimum"] == 2
    assert summary["mean_normalised_latency_exhaustive"] == pytest.approx(np.mean([1.0, 2.2 / 4, 4.0 / 6]))
    assert summary["max_false_negative_rate"] == pytest.approx(6 / 20)


def test_a_candidate_needs_a_batch_one_latency():
    with pytest.raises(ConfigError, match="batch-1 latency"):
        Candidate("X", np.zeros((1, 2)), np.zeros((1, 2)), {8: 1.0})


def test_by_default_twenty_frames_certify_no_pair_so_the_big_model_alone_keeps_its_accuracy():
    """Learn-then-Test at ε = 0.3%, δ = 0.1 needs 767 val frames without an extra error."""
    candidates, labels = scenario()
    by = {c.id: c for c in candidates}
    assert PAIR_SETTINGS.threshold_mode == "guaranteed" and PAIR_SETTINGS.epsilon == 0.003
    assert evaluate_pair(by["L"], by["H"], labels, 20, SINGLE) is None
    best = exhaustive_search(candidates, labels, 20, SINGLE).best
    assert best.key == (None, "H") and best.test_accuracy == 1.0


def large_scenario(n: int = 1000) -> tuple[list[Candidate], Labels]:
    """``n`` frames: the little model right with confidence 56/64 on the first 60% and wrong with 30/64 on
    the rest; the big one right on all."""
    labels = np.arange(n) % K
    right = np.arange(n) < int(0.6 * n)
    answer = np.where(right, labels, (labels + 1) % K)

    def probabilities(confidence: np.ndarray, answers: np.ndarray) -> np.ndarray:
        p = np.repeat(((1.0 - confidence) / 2)[:, None], K, axis=1)
        p[np.arange(n), answers] = confidence
        return p

    little_p = probabilities(np.where(right, 56 / 64, 30 / 64), answer)
    big_p = probabilities(np.full(n, 60 / 64), labels)
    return ([Candidate("L", little_p, little_p.copy(), {1: 1.0}), Candidate("H", big_p, big_p.copy(), {1: 6.0})],
            Labels(labels, labels, K))


@pytest.mark.parametrize("rule", [SINGLE, PER_CLASS_RULE])
def test_a_thousand_frames_without_an_extra_error_certify_the_pair(rule):
    """P(Bin(1000, 0.003) = 0) = 0.0496 <= 0.1: accepting every right answer is certified; one extra error
    more (P(Bin <= 1) = 0.199) is not."""
    candidates, labels = large_scenario()
    result = evaluate_pair(candidates[0], candidates[1], labels, 1000, rule)
    assert result is not None and result.threshold_mode == "guaranteed" and result.val_extra_errors == 0
    assert result.val_recovery_rate == pytest.approx(0.4) and result.test_accuracy == 1.0
    assert result.to_json()["threshold_mode"] == "guaranteed"
    fewer, labels_fewer = large_scenario(700)  # 700 frames cannot certify it: 0.997^700 = 0.122 > 0.1
    assert evaluate_pair(fewer[0], fewer[1], labels_fewer, 700, rule) is None


def test_resplits_judge_the_top_target_on_frames_the_threshold_never_saw():
    candidates, labels = large_scenario(200)
    point = resplit_check(candidates, labels, SINGLE, POINT, splits=4, seed=1)
    assert point["splits"] == 4 and point["val_frames"] == 200 and point["test_frames"] == 200
    # the little model's right answers are separable from its wrong ones: every split keeps 100% on test
    assert point["differences_points"] == [0.0] * 4 and point["within_tolerance"] == 4
    assert point["pairs_chosen"] == 4 and point["mean_pair_test_recovery_rate"] == pytest.approx(0.4, abs=0.05)
    certified = resplit_check(candidates, labels, SINGLE, splits=3)
    assert certified["threshold_mode"] == "guaranteed" and certified["pairs_chosen"] == 0
    assert certified["mean_pair_test_recovery_rate"] is None and certified["tolerance_points"] == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="resplits"):
        resplit_check(candidates, labels, SINGLE, splits=0)
