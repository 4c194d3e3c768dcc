"""The detector family: the learned detector's features and verdicts, threshold choice with and without a
guarantee, shrunk per-class thresholds and cross-fitted member choice."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from mmnet.format.errors import ConfigError
from mmnet.format.vocabulary import NEVER
from mmnet.pipeline.detectors import (
    DetectorSettings,
    answers_and_features,
    choose_detector,
    member_views,
    normalised_scores,
    risk_coverage,
    shrunk_thresholds,
)
from mmnet.pipeline.risk import (
    binomial_p_value,
    choose_guaranteed,
    choose_point,
    clopper_pearson_upper,
    frames_to_certify,
    guarantee_levels,
    window_rate,
)
from mmnet.runtime.detector import apply_temperature, calibrated_top1, calibration_table, lookup_table
from mmnet.runtime.learned_detector import (
    LOGISTIC,
    PAIR_FEATURES,
    PER_CLASS,
    SINGLE_FEATURES,
    LogisticDetector,
    frame_features,
    logistic_frame,
    minion_summary,
    score_table,
)

# --- the learned detector at run time --------------------------------------------------------------


def test_features_of_a_hand_computed_pair():
    a, b = [0.5, 0.3, 0.2], [0.1, 0.6, 0.3]
    features = frame_features([minion_summary(a), minion_summary(b)])
    expected = [0.5 / 1.0, 0.5 / 1.0 - 0.3 / 1.0, (0.25 + 0.09 + 0.04) / 1.0,
                0.6 / 1.0, 0.6 / 1.0 - 0.3 / 1.0, (0.01 + 0.36 + 0.09) / 1.0,
                0.0, 0.3 / 1.0, 0.1 / 1.0]
    assert features == pytest.approx(expected, abs=1e-15)
    assert len(features) == len(PAIR_FEATURES)


def test_negative_scores_are_clipped_and_the_sum_normalises():
    s = minion_summary([-1.0, 2.0, 6.0])
    assert (s.top, s.total, s.second, s.squares) == (2, 8.0, 2.0, 40.0)
    assert frame_features([s]) == [6.0 / 8.0, 6.0 / 8.0 - 2.0 / 8.0, 40.0 / 64.0]


@pytest.mark.parametrize("classes", [10, 1001])  # the Python loop and the numpy way
def test_the_loop_and_numpy_ways_and_8_bit_codes_give_the_same_bits(classes):
    rng = np.random.default_rng(classes)
    scale, zero_point = 1 / 256, 0
    codes = [rng.integers(0, 256, classes, dtype=np.uint8) for _ in range(2)]
    dequantized = [((c.astype(np.float32) - zero_point) * np.float32(scale)).astype(np.float32) for c in codes]
    table = score_table([float((np.float32(v) - zero_point) * np.float32(scale)) for v in range(256)])
    detector = LogisticDetector(PAIR_FEATURES, tuple(rng.normal(size=9)), 0.3, 0.0)
    from_scores = logistic_frame(dequantized, detector)
    from_lists = logistic_frame([d.tolist() for d in dequantized], detector)
    from_codes = logistic_frame(codes, detector, [table, table])
    lookup = lookup_table(table, classes)  # what the runtime holds: a float64 array above the loop's limit
    from_lookup = logistic_frame(codes, detector, [lookup, lookup])
    assert from_scores == from_lists == from_codes == from_lookup
    assert repr(from_codes) == repr(from_lookup)  # the very bits, not only equal numbers
    assert from_scores[1] is not None and from_scores[0].scored
    calibration = calibration_table(table, 0.7)
    for c in codes:
        assert repr(calibrated_top1(c, 0.7, calibration)) == repr(calibrated_top1(c, 0.7, lookup_table(calibration, classes)))


def test_verdict_answers_like_the_paper_and_accepts_at_the_threshold():
    a, b = [0.75, 0.125, 0.125], [0.125, 0.25, 0.625]  # disagree: minion 0 is more confident
    detector = LogisticDetector(PAIR_FEATURES, (1.0,) + (0.0,) * 8, 0.0, 0.75)
    verdict, score = logistic_frame([a, b], detector)
    assert (verdict.answer, verdict.agree, verdict.confidence, score) == (0, False, 0.75, 0.75)
    assert verdict.accept and verdict.reason == "accepted"  # score == threshold is accepted
    stricter = LogisticDetector(PAIR_FEATURES, (1.0,) + (0.0,) * 8, 0.0, math.nextafter(0.75, 1.0))
    verdict, _ = logistic_frame([a, b], stricter)
    assert not verdict.accept and verdict.reason == "low_score"


def test_a_detector_requiring_agreement_recovers_a_disagreement_whatever_its_score():
    a, b = [0.75, 0.125, 0.125], [0.125, 0.25, 0.625]  # disagree
    doc = {"kind": "logistic", "features": list(PAIR_FEATURES), "weights": [1.0] + [0.0] * 8, "bias": 0.0,
           "threshold": 0.5, "requires_agreement": True}
    gated = LogisticDetector.from_json(doc, 2, "d")
    assert gated.requires_agreement and gated.to_json() == doc
    verdict, score = logistic_frame([a, b], gated)
    assert score == 0.75 and not verdict.accept and verdict.reason == "disagree"
    free = LogisticDetector.from_json({k: v for k, v in doc.items() if k != "requires_agreement"}, 2, "d")
    assert not free.requires_agreement and "requires_agreement" not in free.to_json()
    assert logistic_frame([a, b], free)[0].accept  # the same score accepted without the requirement
    verdict, _ = logistic_frame([a, a], gated)  # an agreement is judged by its score
    assert verdict.agree and verdict.accept
    with pytest.raises(ConfigError, match=re.escape("d.requires_agreement is 'yes'; expected true or false")):
        LogisticDetector.from_json(dict(doc, requires_agreement="yes"), 2, "d")


def test_the_learned_member_never_accepts_a_pair_disagreement():
    labels, probs, master_correct = _synthetic_system(600, 3)
    views = member_views([apply_temperature(p, 1.0) for p in probs], probs)
    _, _, agree, _ = views[LOGISTIC]
    assert (~agree).sum() > 10  # the branch under test: disagreements exist
    choice = choose_detector(views, labels, master_correct, int(master_correct.sum()) - 30, 5,
                             DetectorSettings(members=(LOGISTIC,)))
    member = choice.members[LOGISTIC]
    assert member.choice is not None and member.fitted is not None
    assert np.isneginf(member.oof_scores[~agree]).all() and np.isfinite(member.oof_scores[agree]).all()
    assert member.fitted.logistic.requires_agreement
    margins = member.fitted.margins(views[LOGISTIC])
    assert not (margins[~agree] >= 0).any() and (margins[agree] >= 0).sum() == member.choice.accepted


def test_a_frame_without_features_is_recovered():
    detector = LogisticDetector(SINGLE_FEATURES, (0.0, 0.0, 0.0), 100.0, -100.0)  # accepts anything scored
    verdict, score = logistic_frame([[0.0, -1.0, 0.0]], detector)
    assert score is None and not verdict.accept and verdict.reason == "low_score"


@pytest.mark.parametrize("doc, message", [
    ({"kind": "logistic", "features": list(PAIR_FEATURES), "weights": [0.0] * 9, "bias": 0.0, "threshold": 0.0},
     "a system of 1 minion(s) expects"),
    ({"kind": "logistic", "features": list(SINGLE_FEATURES), "weights": [0.0] * 2, "bias": 0.0, "threshold": 0.0},
     "2 weights for 3 features"),
    ({"kind": "logistic", "features": list(SINGLE_FEATURES), "weights": [0.0] * 3, "bias": float("nan"),
      "threshold": 0.0}, "bias is nan; expected a finite number"),
    ({"kind": "per_class_confidence"}, "expected a logistic detector object"),
])
def test_a_malformed_detector_is_refused_by_name(doc, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        LogisticDetector.from_json(doc, 1, "system single:m normal detector")


# --- thresholds: point and guaranteed --------------------------------------------------------------


def _walk_case():
    # scores high to low; good = the speculative answer is right; fallback = the master is right
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    good = np.array([True, True, False, True, False, True])
    fallback = np.array([True, True, True, True, True, False])
    return scores, good, fallback


def test_point_stops_at_the_first_threshold_below_the_target():
    scores, good, fallback = _walk_case()
    # the master alone gets 5 right; accepting 0.9 and 0.8 keeps 5; 0.7 is an extra error
    choice = choose_point(scores, good, fallback, needed=5)
    assert (choice.threshold, choice.accepted, choice.correct, choice.extra_errors) == (0.8, 2, 5, 0)
    assert choice.recovery_rate == pytest.approx(4 / 6)
    assert choose_point(scores, good, fallback, needed=6) is None
    relaxed = choose_point(scores, good, fallback, needed=4)
    assert (relaxed.threshold, relaxed.extra_errors) == (0.6, 1)  # stops before the second error at 0.5


def test_equal_scores_are_accepted_or_recovered_together():
    choice = choose_point(np.array([0.9, 0.5, 0.5]), np.array([True, True, False]), np.ones(3, bool), needed=3)
    assert choice.accepted == 1  # 0.5 would accept both frames of that score, one of them an extra error


def test_binomial_certification_numbers():
    assert frames_to_certify(0.003, 0.1) == 767  # 360 frames cannot certify 0.3% at 0.1 with no error seen
    assert 0.997 ** 766 > 0.1 >= 0.997 ** 767
    assert binomial_p_value(0, 767, 0.003) <= 0.1 < binomial_p_value(0, 766, 0.003)
    assert clopper_pearson_upper(0, 100, 0.1) == pytest.approx(1 - 0.1 ** (1 / 100))
    assert clopper_pearson_upper(5, 5, 0.1) == 1.0


def test_guaranteed_mode_certifies_only_with_enough_frames():
    rng = np.random.default_rng(0)
    n = 2000
    scores = rng.random(n)
    good = rng.random(n) < 0.5 + 0.5 * scores  # better answers score higher
    fallback = np.ones(n, bool)
    rate, level = guarantee_levels(0.05, 0.1, None, 1)
    choice = choose_guaranteed(scores, good, fallback, rate, level)
    assert choice is not None and binomial_p_value(choice.extra_errors, n, 0.05) <= 0.1
    few = choose_guaranteed(scores[:30], good[:30], fallback[:30], 0.003, 0.1)
    assert few is None  # 30 frames certify nothing at 0.3%


def test_a_window_promise_certifies_a_lower_rate_and_members_share_delta():
    long_run = guarantee_levels(0.01, 0.1, None, 2)
    windowed = guarantee_levels(0.01, 0.1, 360, 2)
    assert long_run == (0.01, 0.05)
    assert windowed[1] == 0.025 and windowed[0] < 0.01
    # at that rate, a 360-frame window holds more than 3 extra errors with probability <= 0.05
    from scipy.stats import binom
    assert binom.sf(3, 360, windowed[0]) <= 0.05 < binom.sf(3, 360, windowed[0] * 1.01)
    assert window_rate(0.01, 0.05, 360) == windowed[0]


def test_risk_coverage_runs_from_the_master_alone_to_accepting_everything():
    scores, good, fallback = _walk_case()
    curve = risk_coverage(scores, good, fallback)
    assert curve["recovery_rate"][0] == 1.0 and curve["extra_error_rate"][0] == 0.0
    assert curve["recovery_rate"][-1] == 0.0 and curve["extra_error_rate"][-1] == pytest.approx(2 / 6)


# --- shrinkage and the member choice ----------------------------------------------------------------


def test_shrinkage_pulls_sparse_classes_to_the_global_threshold():
    rng = np.random.default_rng(1)
    n = 400
    answer = np.where(np.arange(n) < 396, rng.integers(0, 2, n), 2)  # classes 0 and 1 crowded, class 2 has 4 frames
    confidence = rng.random(n)
    good = confidence > np.where(answer == 1, 0.6, 0.3)  # class 1 needs a higher threshold
    agree = np.ones(n, bool)
    fallback = np.ones(n, bool)
    plain = shrunk_thresholds(answer, confidence, agree, good, fallback, 4, prior_frames=0.0)
    shrunk = shrunk_thresholds(answer, confidence, agree, good, fallback, 4, prior_frames=10.0)
    flat = shrunk_thresholds(answer, confidence, agree, good, fallback, 4, prior_frames=1e6)
    g = flat[3]  # a class with no frame gets the global threshold
    assert np.allclose(flat, g, atol=1e-4)
    assert plain[1] > plain[0]
    assert abs(shrunk[0] - plain[0]) < 0.02 and abs(shrunk[1] - plain[1]) < 0.02  # ~200 frames: stays per class
    assert abs(shrunk[2] - g) < abs(plain[2] - g)  # 4 frames: pulled toward the global one
    assert shrunk[3] == g
    none_agree = shrunk_thresholds(answer, confidence, np.zeros(n, bool), good, fallback, 4, 10.0)
    assert np.all(none_agree == NEVER)


def _synthetic_system(n: int, seed: int):
    """Two minions over 5 classes whose errors a confidence-aware detector can find."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    probs = []
    for accuracy in (0.85, 0.8):
        right = rng.random(n) < accuracy
        answer = np.where(right, labels, (labels + 1 + rng.integers(0, 4, n)) % 5)
        peak = np.where(right, rng.uniform(0.5, 1.0, n), rng.uniform(0.25, 0.7, n))
        p = np.tile(((1 - peak) / 4)[:, None], (1, 5))
        p[np.arange(n), answer] = peak
        probs.append(p)
    master_correct = rng.random(n) < 0.95
    return labels, probs, master_correct


def test_choose_detector_ships_the_member_with_the_lowest_cross_fitted_recovery():
    labels, probs, master_correct = _synthetic_system(600, 3)
    calibrated = [apply_temperature(p, 1.0) for p in probs]
    views = member_views(calibrated, probs)
    needed = int(master_correct.sum())
    choice = choose_detector(views, labels, master_correct, needed, 5, DetectorSettings())
    assert set(choice.members) == {PER_CLASS, LOGISTIC}
    reached = {k: m.recovery_rate for k, m in choice.members.items() if m.choice is not None}
    assert reached and choice.chosen == min(reached, key=reached.get)
    for m in choice.members.values():  # the cross-fitted threshold keeps the target on val's held-out scores
        if m.choice is not None:
            assert m.choice.correct >= needed and m.choice.extra_errors == 0
    only = choose_detector(views, labels, master_correct, needed, 5, DetectorSettings(members=(LOGISTIC,)))
    assert only.chosen in (LOGISTIC, None) and set(only.members) == {LOGISTIC}
    with pytest.raises(ConfigError, match="members has"):
        choose_detector(views, labels, master_correct, needed, 5, DetectorSettings(members=("forest",)))


def test_pipeline_features_match_the_runtime_features():
    labels, probs, _ = _synthetic_system(50, 4)
    answer, confidence, agree, features = answers_and_features([normalised_scores(p) for p in probs])
    for i in range(50):
        summaries = [minion_summary(p[i].tolist()) for p in probs]
        np.testing.assert_allclose(features[i], frame_features(summaries), rtol=1e-12, atol=1e-15)
        verdict, _ = logistic_frame([p[i].tolist() for p in probs], LogisticDetector(PAIR_FEATURES, (0.0,) * 9, 0.0, 0.0))
        assert (verdict.answer, verdict.agree) == (answer[i], agree[i])
