"""Detector rule, outcome sets and threshold search on hand-made cases with known answers."""

import numpy as np
import pytest

from mmnet.format.errors import ConfigError, DataError
from mmnet.pipeline.calibration import calibrate_minion, expected_calibration_error, fit_temperature, reliability
from mmnet.pipeline.thresholds import (
    SystemOutcomes,
    confidence_floor,
    disagreement_threshold,
    operating_point,
    outcome_counts,
    per_class_thresholds,
    required_correct,
    single_threshold,
    threshold_sweep,
)
from mmnet.runtime.detector import (
    NEVER,
    PYTHON_LOOP_MAX_CLASSES,
    PYTHON_LOOP_MAX_CODES,
    apply_temperature,
    calibrated_top1,
    calibration_table,
    detect,
    detect_frame,
)


def _one_hot_like(answers, confidences, num_classes=2):
    """Probabilities whose top-1 is ``answers`` with ``confidences``; the rest spread evenly."""
    p = np.zeros((len(answers), num_classes))
    for i, (a, c) in enumerate(zip(answers, confidences)):
        p[i, :] = (1 - c) / (num_classes - 1)
        p[i, a] = c
    return p


# Eight inputs. Class 0 (minion answer 0): confidences 0.875, 0.75, 0.625, 0.5 — the 0.625 one is
# wrong, the master is right on all four. Class 1: 0.9375 right but the master wrong (an odd
# correct), 0.6875 wrong and the master right, 0.375 right and the master right. One input where
# the two minions disagree (the master is right). Binary-exact numbers keep the arithmetic exact.
CONF = np.array([0.875, 0.75, 0.625, 0.5, 0.9375, 0.6875, 0.375, 0.9])
ANSWER = np.array([0, 0, 0, 0, 1, 1, 1, 0])
AGREE = np.array([True] * 7 + [False])
MINION_RIGHT = np.array([True, True, False, True, True, False, True, False])
MASTER_RIGHT = np.array([True, True, True, True, False, True, True, True])


def _case() -> SystemOutcomes:
    from mmnet.runtime.detector import DetectorOutput

    out = DetectorOutput(answer=ANSWER, confidence=CONF, agree=AGREE, accept=AGREE.copy())
    return SystemOutcomes(out, MINION_RIGHT, MASTER_RIGHT)


def test_outcome_sets_count_correct_correctable_uncorrectable_and_odd():
    counts = outcome_counts(MINION_RIGHT, MASTER_RIGHT)
    assert counts == {"total": 8, "correct": 5, "correctable": 3, "uncorrectable": 0, "odd_correct": 1}
    counts = outcome_counts([False, False, True], [False, True, False])
    assert counts == {"total": 3, "correct": 1, "correctable": 1, "uncorrectable": 1, "odd_correct": 1}


def test_confidence_floor_is_a_low_quantile_of_the_right_agreed_answers():
    # Agreeing and right: 0.375, 0.5, 0.75, 0.875, 0.9375 (the wrong 0.625 and the disagreeing 0.9 are not counted).
    case = _case()
    assert confidence_floor(case, 0.0) == 0.0
    assert confidence_floor(case, 0.2) == 0.375  # quantile position 0.8 rounds down to an observed confidence
    assert confidence_floor(case, 0.25) == 0.5
    assert confidence_floor(case, 0.5) == 0.75
    # Raised to the floor, thresholds of 0 also recover the two wrong agreed answers (0.625, 0.6875).
    assert operating_point(case, np.zeros(2)).correct == 6
    assert operating_point(case, np.full(2, confidence_floor(case, 0.5))).correct == 8
    nobody_right = SystemOutcomes(case.detector, np.zeros(8, bool), MASTER_RIGHT)
    assert confidence_floor(nobody_right, 0.5) == 0.0
    with pytest.raises(ConfigError, match="floor share"):
        confidence_floor(case, 1.0)


def test_required_correct_rounds_up_and_rejects_bad_targets():
    assert required_correct(7, 1.0) == 7
    assert required_correct(359, 0.99) == 356  # 355.41 -> 356
    with pytest.raises(ConfigError, match="target"):
        required_correct(7, 1.5)


def test_per_class_heuristic_finds_the_hand_computed_thresholds():
    # Step 1: class 0 is best at 0.75 (4 correct), class 1 at 0.9375 (3 correct): 8 of 8 with the
    # disagreement recovered. Step 2 lowers both by 0.125 once (7 correct, the master's count);
    # a second step would accept the wrong 0.6875 and reject nothing useful (6 correct).
    point = per_class_thresholds(_case(), num_classes=2, needed=7, step=0.125)
    assert point is not None
    assert point.thresholds == (0.625, 0.8125)
    assert point.correct == 7
    assert point.recovery_rate == 0.5  # 0.5, 0.6875, 0.375 and the disagreement go to the master


def test_per_class_heuristic_keeps_best_thresholds_when_target_needs_them():
    point = per_class_thresholds(_case(), num_classes=2, needed=8, step=0.125)
    assert point.thresholds == (0.75, 0.9375)
    assert point.correct == 8


def test_unreachable_target_gives_none():
    outcomes = _case()
    assert per_class_thresholds(outcomes, 2, needed=9) is None
    assert single_threshold(outcomes, 2, needed=9) is None


def test_single_threshold_is_the_lowest_reaching_the_target():
    point = single_threshold(_case(), num_classes=2, needed=7)
    assert point.thresholds == (0.6875, 0.6875)
    assert point.correct == 7
    assert point.recovery_rate == 0.5


def test_sweep_spans_accept_all_to_recover_all():
    sweep = threshold_sweep(_case())
    assert sweep["recovery_rate"][0] == pytest.approx(1 / 8)  # only the disagreement
    assert sweep["recovery_rate"][-1] == 1.0
    assert sweep["accuracy"][-1] == pytest.approx(MASTER_RIGHT.mean())
    assert sweep["threshold"][-1] == NEVER


def test_detector_recovers_disagreements_and_low_confidence():
    a = _one_hot_like([0, 1, 0, 1], [0.9, 0.9, 0.55, 0.95])
    b = _one_hot_like([0, 0, 0, 1], [0.8, 0.9, 0.9, 0.6])
    out = detect([a, b], thresholds=[0.7, 0.7])
    assert out.agree.tolist() == [True, False, True, True]
    assert out.accept.tolist() == [True, False, False, False]  # 0.55 < 0.7; 0.6 < 0.7
    assert out.reasons() == ["accepted", "disagree", "low_confidence", "low_confidence"]
    assert out.confidence.tolist() == pytest.approx([0.8, 0.9, 0.55, 0.6])
    single = detect([a], thresholds=[0.7, 0.7])
    assert single.accept.tolist() == [True, True, False, True]


def test_a_disagreement_threshold_lets_the_more_confident_minion_answer():
    a = _one_hot_like([0, 1, 1, 0], [0.9, 0.95, 0.6, 0.55])
    b = _one_hot_like([0, 0, 0, 1], [0.8, 0.75, 0.9, 0.65])
    strict = detect([a, b], thresholds=[0.7, 0.7])
    relaxed = detect([a, b], thresholds=[0.7, 0.7], disagreement_threshold=0.8)
    assert strict.accept.tolist() == [True, False, False, False]
    # Input 1: minion a (0.95 for class 1) wins; input 2: minion b (0.9 for class 0) wins;
    # input 3: the winner b says class 1 at 0.65 < 0.8, so it is still recovered.
    assert relaxed.answer.tolist() == [0, 1, 0, 1]
    assert relaxed.confidence.tolist() == pytest.approx([0.8, 0.95, 0.9, 0.65])
    assert relaxed.accept.tolist() == [True, True, True, False]
    assert relaxed.reasons() == ["accepted", "accepted", "accepted", "disagree"]
    with pytest.raises(ConfigError, match="disagreement threshold"):
        detect([a, b], thresholds=[0.7, 0.7], disagreement_threshold=2.0)


def test_disagreement_threshold_search_spends_only_the_spare_budget():
    # Per-class thresholds give 7 of 8 on the hand-made case (the disagreement recovered, master
    # right). Accepting that disagreement (the minion answer is wrong) costs one correct output.
    outcomes = _case()
    thresholds = np.array([0.625, 0.8125])
    assert operating_point(outcomes, thresholds).correct == 7
    assert disagreement_threshold(outcomes, thresholds, needed=7) is None  # no budget to spend
    assert disagreement_threshold(outcomes, thresholds, needed=6) == 0.9  # the only disagreement, at 0.9
    point = operating_point(outcomes, thresholds, 0.9)
    assert point.correct == 6 and point.recovery_rate == 3 / 8


def test_detector_rejects_bad_input():
    p = _one_hot_like([0], [0.9])
    with pytest.raises(ConfigError, match="one per class"):
        detect([p], thresholds=[0.5])
    with pytest.raises(ConfigError, match="expected 1 or 2"):
        detect([p, p, p], thresholds=[0.5, 0.5])
    with pytest.raises(DataError, match="shapes"):
        detect([p, _one_hot_like([0, 1], [0.9, 0.9])], thresholds=[0.5, 0.5])
    with pytest.raises(ConfigError, match="temperature"):
        apply_temperature(p, 0.0)


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(0)
    n, classes = 2000, 5
    labels = rng.integers(0, classes, n)
    # Logits with a true margin, then sharpened 3x: an overconfident model whose best T is ~3.
    logits = rng.normal(0, 1, (n, classes))
    logits[np.arange(n), labels] += 1.5
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    sampled = np.array([rng.choice(classes, p=row) for row in true_p])
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(1, keepdims=True)
    temperature = fit_temperature(sharp, sampled)
    assert 2.5 < temperature < 3.5
    before = expected_calibration_error(sharp, sampled)
    after = expected_calibration_error(apply_temperature(sharp, temperature), sampled)
    assert after < before / 2
    result = calibrate_minion("m", sharp[:1000], sampled[:1000], sharp[1000:], sampled[1000:])
    assert result.ece_after < result.ece_before and result.test_ece_after < result.test_ece_before


def test_reliability_bins_partition_the_inputs():
    p = _one_hot_like([0, 0, 1, 1], [0.95, 0.65, 0.95, 0.55])
    diagram = reliability(p, np.array([0, 1, 1, 1]), bins=10)
    assert sum(diagram.count) == 4
    assert diagram.count[9] == 2 and diagram.accuracy[9] == 1.0
    assert diagram.count[6] == 1 and diagram.accuracy[6] == 0.0
    assert diagram.ece == pytest.approx((2 * 0.05 + 0.65 + 0.45) / 4)


@pytest.mark.parametrize("relaxed", [None, 0.6])
@pytest.mark.parametrize("classes", [5, 100])  # the Python loop and the numpy way of calibrated_top1
@pytest.mark.parametrize("as_list", [False, True])  # arrays, or lists of floats as scores_one gives them
def test_single_frame_fast_path_equals_the_vectorised_detector(relaxed, classes, as_list):
    rng = np.random.default_rng(1)
    a = rng.dirichlet(np.full(classes, 0.3 * 5 / classes), 400)
    b = rng.dirichlet(np.full(classes, 0.3 * 5 / classes), 400)
    a[::7, 0] = 0.0  # exact zeros, as int8 outputs give: both ways clip them at 1e-12
    temperatures = (0.7, 1.6)
    thresholds = rng.uniform(0.2, 0.9, classes)
    batch = detect([apply_temperature(a, temperatures[0]), apply_temperature(b, temperatures[1])], thresholds, relaxed)
    for i in range(len(a)):
        scores = [a[i].tolist(), b[i].tolist()] if as_list else [a[i], b[i]]
        one = detect_frame(scores, temperatures, thresholds.tolist(), relaxed)
        assert (one.answer, one.agree, one.accept) == (batch.answer[i], batch.agree[i], batch.accept[i])
        assert one.confidence == pytest.approx(batch.confidence[i], rel=1e-12)
    assert 0 < batch.accept.sum() < len(a)  # both outcomes occur, so the comparison means something
    assert (~batch.agree).sum() > 0 and (relaxed is None) == (not (batch.accept & ~batch.agree).any())


def _8_bit_output(dtype: str, zero_point: int) -> tuple[list[float], np.float32]:
    """The dequantized score of each code byte 0..255 of an 8-bit softmax output, and its scale."""
    scale = np.float32(1 / 256)
    codes_by_byte = np.arange(256, dtype=np.uint8).view(dtype)
    return ((codes_by_byte.astype(np.float32) - zero_point) * scale).astype(np.float32).tolist(), scale


@pytest.mark.parametrize("dtype, zero_point", [("int8", -128), ("uint8", 0), ("int8", 3)])
def test_table_calibration_of_8_bit_codes_gives_the_same_bits_as_the_float_way(dtype, zero_point):
    """The runtime calibrates 8-bit minion outputs by table lookup; it must equal calibrated_top1 on
    the dequantized scores bit for bit (the Java parity traces compare confidences exactly)."""
    dequantized, scale = _8_bit_output(dtype, zero_point)
    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    ties = 0
    for temperature in (0.6, 1.0, 1.7):
        table = calibration_table(dequantized, temperature)
        for _ in range(300):
            raw = rng.integers(info.min, info.max + 1, 10).astype(dtype)
            raw[rng.integers(0, 10)] = raw.max()  # ties for the top: the first one answers in both ways
            raw[rng.integers(0, 10)] = info.min  # a score at or below zero: clipped at 1e-12 in both ways
            scores = ((raw.astype(np.float32) - zero_point) * scale).astype(np.float32)
            ties += int((raw == raw.max()).sum() > 1)
            assert calibrated_top1(raw.tolist(), temperature, table) == calibrated_top1(scores, temperature)
            assert calibrated_top1(raw, temperature, table) == calibrated_top1(scores, temperature)  # codes as an array
    assert ties > 0


def test_many_classes_take_numpy_with_the_loops_sum():
    """Above PYTHON_LOOP_MAX_CODES numpy looks the terms up; it adds them left to right as the loop
    does (numpy's own sum is pairwise), so an 8-bit output gives exactly the loop's bits."""
    dequantized, _ = _8_bit_output("int8", -128)
    table = calibration_table(dequantized, 0.8)
    rng = np.random.default_rng(4)
    classes = 2 * PYTHON_LOOP_MAX_CODES
    pairwise_differs = 0
    for _ in range(50):
        codes = rng.integers(-128, 128, classes).tolist()
        terms = [table[code] for code in codes]
        total = 0.0
        for term in terms:
            total += term
        top = codes.index(max(codes))
        assert calibrated_top1(codes, 0.8, table) == (top, terms[top] / total)
        pairwise_differs += int(terms[top] / float(np.sum(terms)) != terms[top] / total)
    assert pairwise_differs > 0  # the order of the sum shows in the bits, so the test can fail
    # Float scores above PYTHON_LOOP_MAX_CLASSES: numpy's power, within rounding of the loop's terms.
    scores = rng.dirichlet(np.ones(2 * PYTHON_LOOP_MAX_CLASSES)).astype(np.float32)
    top, confidence = calibrated_top1(scores, 0.8)
    expected = scores.astype(np.float64) ** 1.25
    assert top == int(scores.argmax()) and confidence == pytest.approx(expected[top] / expected.sum(), rel=1e-12)


def test_calibration_table_is_for_8_bit_outputs():
    scores = np.linspace(0, 1, 256).tolist()
    assert calibration_table(None, 1.0) is None  # float outputs
    assert calibration_table(scores, 2.0)[255] == pytest.approx(1.0)
    assert calibration_table(scores, 0.5)[128] == pytest.approx((128 / 255) ** 2)
    with pytest.raises(ConfigError, match="a dequantization table has 10 entries; expected 256"):
        calibration_table(scores[:10], 1.0)
