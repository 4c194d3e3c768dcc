"""The misspeculation detector (dissertation §5.2.3), as pure functions shared by pipeline and runtime.

Every minion's probabilities are first calibrated with its temperature (softmax(log p / T)). When
the minions agree, their answer is *accepted* if each one's calibrated confidence reaches the
threshold of the answered class. When they disagree (§5.2.3) the frame is recovered by the master —
unless a ``disagreement_threshold`` is set (power-saving mode "relaxes the misspeculation
detector", §5.2.2): then the more confident minion's answer is accepted if its confidence reaches
it. Anything else is recovered by the master. Because calibrated confidences mean the same thing
for every minion, one threshold per class serves both minions of a pair.

A threshold of ``NEVER`` (above any probability) recovers every input of its class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from mmnet.format.checks import check_number
from mmnet.format.errors import ConfigError, DataError
from mmnet.format.vocabulary import NEVER

__all__ = [
    "NEVER",
    "DetectorOutput",
    "apply_temperature",
    "detect",
    "detect_frame",
    "FrameVerdict",
    "PYTHON_LOOP_MAX_CLASSES",
    "PYTHON_LOOP_MAX_CODES",
    "calibrated_top1",
    "calibration_table",
    "combine_minions",
    "lookup_table",
    "check_thresholds",
]

_EPS = 1e-12
_INF = float("inf")


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature-scaled probabilities softmax(log p / T), computed in float64.

    Models here output probabilities (the softmax is inside the TFLite graph), so their log is
    the logits up to a per-input constant, which softmax ignores.
    """
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
        raise ConfigError(f"temperature is {temperature!r}; expected a number > 0")
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise DataError(f"probabilities have shape {p.shape}; expected (N, classes)")
    logits = np.log(np.clip(p, _EPS, 1.0)) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def check_thresholds(thresholds: Sequence[float], num_classes: int, where: str = "thresholds") -> np.ndarray:
    """The thresholds as a float array of one value in [0, NEVER] per class, or ConfigError."""
    values = np.asarray(thresholds, dtype=np.float64)
    if values.shape != (num_classes,):
        raise ConfigError(f"{where} has {values.size} values; expected one per class ({num_classes})")
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > NEVER:
        raise ConfigError(f"{where} must lie in [0, {NEVER}]; got {values.tolist()}")
    return values


@dataclass(frozen=True)
class DetectorOutput:
    """Per input: the minions' answer, whether it is accepted, and why not when it is not."""

    answer: np.ndarray  # (N,) the common top-1 class, or on disagreement the most confident minion's
    confidence: np.ndarray  # (N,) agreeing: the lowest calibrated top-1 confidence; else the most confident minion's
    agree: np.ndarray  # (N,) bool: every minion names the same class (the per-class thresholds decide)
    accept: np.ndarray  # (N,) bool: see the module doc

    @property
    def recover(self) -> np.ndarray:
        return ~self.accept

    def reasons(self) -> list[str]:
        """Why each input was (not) recovered: ``accepted``, ``disagree`` or ``low_confidence``."""
        return [
            "accepted" if a else ("low_confidence" if g else "disagree")
            for a, g in zip(self.accept.tolist(), self.agree.tolist())
        ]


def detect(
    calibrated: Sequence[np.ndarray], thresholds: Sequence[float], disagreement_threshold: float | None = None
) -> DetectorOutput:
    """Applies the detector to calibrated probabilities of one or two minions, (N, classes) each."""
    if not 1 <= len(calibrated) <= 2:
        raise ConfigError(f"a system has {len(calibrated)} minions; expected 1 or 2")
    arrays = [np.asarray(p, dtype=np.float64) for p in calibrated]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2:
        raise DataError(f"minion probabilities have shapes {[a.shape for a in arrays]}; expected equal (N, classes)")
    limits = check_thresholds(thresholds, arrays[0].shape[1])
    _check_disagreement_threshold(disagreement_threshold)
    answers = np.array([a.argmax(axis=1) for a in arrays])
    confidences = np.array([a.max(axis=1) for a in arrays])
    agree = np.all(answers == answers[0], axis=0)
    rows = np.arange(answers.shape[1])
    most = confidences.argmax(axis=0)
    answer = np.where(agree, answers[0], answers[most, rows])
    confidence = np.where(agree, confidences.min(axis=0), confidences[most, rows])
    accept = np.where(agree, confidence >= limits[answer],
                      False if disagreement_threshold is None else confidence >= disagreement_threshold)
    return DetectorOutput(answer=answer, confidence=confidence, agree=agree, accept=accept)


def _check_disagreement_threshold(value: float | None) -> None:
    check_number("disagreement threshold", value, high=NEVER, nullable=True)


class FrameVerdict(NamedTuple):
    """:func:`detect` for one frame, as plain Python values (a tuple: cheap to make once per frame)."""

    answer: int
    confidence: float
    agree: bool
    accept: bool
    scored: bool = False  # judged by the learned detector's score (mmnet.runtime.learned_detector)
    requires_agreement: bool = True  # a disagreement is recovered whatever the confidence or score

    @property
    def reason(self) -> str:
        if self.accept:
            return "accepted"
        if not self.agree and self.requires_agreement:
            return "disagree"
        return "low_score" if self.scored else "low_confidence"


# Above this many classes numpy calibrates one output faster than a Python loop. Measured, loop vs
# numpy: float scores 10 classes 2.6 vs 5.5 µs, 40: 6.8 vs 7.3, 100: 14 vs 6.0, 1000: 111 vs 28;
# 8-bit codes, where numpy first converts the 256-entry table, 100: 11 vs 14, 160: 18 vs 20,
# 250: 23 vs 13, 1000: 73 vs 17.
PYTHON_LOOP_MAX_CLASSES = 40
PYTHON_LOOP_MAX_CODES = 160


def calibrated_top1(
    output: Sequence[float] | np.ndarray, temperature: float, table: Sequence[float] | np.ndarray | None = None
) -> tuple[int, float]:
    """Top-1 class of one minion's output for one frame and its temperature-scaled probability.

    softmax(log p / T) at the top class is t(p_top) / Σ_j t(p_j) with t(p) = max(p, 1e-12)^(1/T):
    no logs, the terms summed left to right as the Java twin sums them, the first maximum on ties.
    ``output`` is the minion's scores (class order, an array or a list of floats); for an 8-bit
    output it may instead be the raw codes with ``table`` (:func:`calibration_table`, made with
    this temperature, or its :func:`lookup_table`) holding t of each code's score. Dequantization is increasing in the code,
    so the top code is the top class, and the table holds the very terms the loop computes from
    the scores: the same bits either way (numpy's power, on more than PYTHON_LOOP_MAX_CLASSES
    float scores, may differ from Python's in the last bit).
    """
    if len(output) > (PYTHON_LOOP_MAX_CLASSES if table is None else PYTHON_LOOP_MAX_CODES):
        array = np.asarray(output)
        if table is None:
            terms = np.power(np.maximum(array, _EPS, dtype=np.float64), 1.0 / temperature)
        else:  # numpy indexing reads a negative int8 code v at v + 256, as Python does
            terms = np.asarray(table)[array.astype(np.intp)]
        top = int(array.argmax())
        # accumulate, not sum: numpy's sum is pairwise, accumulate adds left to right like the loop
        peak_term, total = float(terms[top]), float(np.add.accumulate(terms)[-1])
        if 0.0 < total < _INF:
            return top, peak_term / total
        return top, _extreme_confidence(array.tolist(), temperature, table)
    values: list = output.tolist() if type(output) is np.ndarray else list(output)
    peak = max(values)
    total = 0.0
    # Plain loops, not sum(): faster on short vectors, and Python 3.12's sum() compensates, which the Java twin does not.
    if table is None:
        exponent = 1.0 / temperature
        try:
            for p in values:
                total += (p if p > _EPS else _EPS) ** exponent
        except OverflowError:  # Python's float power raises where numpy's gives inf
            total = _INF
        peak_term = (peak if peak > _EPS else _EPS) ** exponent if total < _INF else _INF
    else:  # an int8 code v < 0 indexes the list at v, which Python reads as v + 256: its byte's entry
        for code in values:
            total += table[code]
        peak_term = table[peak]
    if 0.0 < total < _INF:  # false for NaN too
        return values.index(peak), peak_term / total
    return values.index(peak), _extreme_confidence(values, temperature, table)


def _extreme_confidence(values: list, temperature: float, table: Sequence[float] | np.ndarray | None) -> float:
    """The top class's calibrated probability when the terms p^(1/T) all underflow to 0 or one
    overflows (extreme scores at a small temperature): from the ratios (p / p_top)^(1/T), which
    stay in [0, 1]. Raw 8-bit codes carry no scores, so there it is the limit of a vanishing
    temperature: the top code's share among the codes tied with it."""
    peak = max(values)
    if table is not None:
        return 1.0 / values.count(peak)
    exponent = 1.0 / temperature
    top = peak if peak > _EPS else _EPS
    return 1.0 / sum(((p if p > _EPS else _EPS) / top) ** exponent for p in values)


def calibration_table(dequantized: Sequence[float] | None, temperature: float) -> list[float] | None:
    """For a model with 8-bit outputs, the term t(p) = max(p, 1e-12)^(1/T) of each of the 256 output
    codes, so that :func:`calibrated_top1` of raw codes looks its terms up instead of computing them.

    ``dequantized`` is the model's score of each code byte 0..255
    (``TFLiteClassifier.dequantization_table``); None (a float output) gives None.
    """
    if dequantized is None:
        return None
    if len(dequantized) != 256:
        raise ConfigError(f"a dequantization table has {len(dequantized)} entries; expected 256, one per 8-bit code")
    exponent = 1.0 / temperature
    return [_term(p, exponent) for p in dequantized]


def lookup_table(table: list[float] | None, classes: int) -> list[float] | np.ndarray | None:
    """A per-code table (:func:`calibration_table`, or the learned detector's ``score_table``) in the
    form the detector reads fastest for outputs of ``classes`` codes: above PYTHON_LOOP_MAX_CODES
    numpy reads them, through a float64 array made here once instead of on every frame; else the list."""
    if table is None or classes <= PYTHON_LOOP_MAX_CODES:
        return table
    return np.asarray(table, dtype=np.float64)


def _term(p: float, exponent: float) -> float:
    """max(p, 1e-12)^exponent, inf where it overflows (calibrated_top1 then takes the ratios' way)."""
    try:
        return (p if p > _EPS else _EPS) ** exponent
    except OverflowError:
        return _INF


def combine_minions(
    top1: Sequence[tuple[int, float]], thresholds: Sequence[float], disagreement_threshold: float | None = None
) -> FrameVerdict:
    """The detector's rule on each minion's calibrated (top-1 class, confidence) of one frame."""
    answer, confidence = top1[0]
    lowest = confidence
    agree = True
    for i in range(1, len(top1)):
        other, other_confidence = top1[i]
        if other != answer:
            agree = False
        if other_confidence < lowest:
            lowest = other_confidence
        if other_confidence > confidence:  # the first of equally confident minions answers a disagreement
            answer, confidence = other, other_confidence
    if agree:
        return FrameVerdict(answer, lowest, True, lowest >= thresholds[answer])
    accept = disagreement_threshold is not None and confidence >= disagreement_threshold
    return FrameVerdict(answer, confidence, False, accept)


def detect_frame(
    outputs: Sequence[Sequence[float] | np.ndarray],
    temperatures: Sequence[float],
    thresholds: Sequence[float],
    disagreement_threshold: float | None = None,
    tables: Sequence[Sequence[float] | np.ndarray | None] | None = None,
) -> FrameVerdict:
    """The detector on one frame's minion outputs, (classes,) each, arrays or lists: scores, or the
    raw codes of an 8-bit output whose entry in ``tables`` is its :func:`calibration_table`.

    Same rule as ``detect(apply_temperature(...))`` (a test holds them equal), at a fraction of the
    cost for a single frame: the runtime calls it once per frame. ``thresholds`` must already be
    checked (:func:`check_thresholds`); a list of floats is fastest.
    """
    if tables is None:
        tables = (None,) * len(outputs)
    return combine_minions([calibrated_top1(o, t, table) for o, t, table in zip(outputs, temperatures, tables)],
                           thresholds, disagreement_threshold)
