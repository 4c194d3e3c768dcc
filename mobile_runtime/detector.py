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

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from mmnet.format.errors import ConfigError, DataError

__all__ = [
    "NEVER",
    "DetectorOutput",
    "apply_temperature",
    "detect",
    "detect_frame",
    "FrameVerdict",
    "PYTHON_LOOP_MAX_CLASSES",
    "calibrated_top1",
    "calibration_table",
    "calibrated_top1_codes",
    "combine_minions",
    "check_thresholds",
]

NEVER = 1.01  # a threshold no probability reaches

_EPS = 1e-12


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
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= NEVER):
        raise ConfigError(f"disagreement threshold is {value!r}; expected None or a number in [0, {NEVER}]")


class FrameVerdict(NamedTuple):
    """:func:`detect` for one frame, as plain Python values (a tuple: cheap to make once per frame)."""

    answer: int
    confidence: float
    agree: bool
    accept: bool

    @property
    def reason(self) -> str:
        return "accepted" if self.accept else ("low_confidence" if self.agree else "disagree")


# Above this many classes numpy computes the calibrated top-1 faster than a Python loop (measured:
# 10 classes 1.2 µs vs 3.0 µs; 100 classes 7.8 µs vs 3.4 µs; 1000 classes 78 µs vs 6.4 µs).
PYTHON_LOOP_MAX_CLASSES = 40


def calibrated_top1(probabilities: Sequence[float] | np.ndarray, temperature: float) -> tuple[int, float]:
    """Top-1 class and its temperature-scaled probability, for one minion's output vector.

    softmax(log p / T) at the top class is p_top^(1/T) / Σ_j p_j^(1/T): no logs, one pass, with
    p clipped at 1e-12 exactly as :func:`apply_temperature` does. The sum's order differs between
    the two ways below, so results may differ in the last bit.
    """
    exponent = 1.0 / temperature
    if len(probabilities) > PYTHON_LOOP_MAX_CLASSES:
        p = np.asarray(probabilities)
        top = int(p.argmax())
        scaled = np.power(np.maximum(p, _EPS, dtype=np.float64), exponent)
        return top, float(scaled[top]) / float(scaled.sum())
    values = probabilities.tolist() if type(probabilities) is np.ndarray else probabilities
    total = 0.0
    for v in values:  # a plain loop: faster than sum() over a generator or a list for short vectors
        total += (v if v > _EPS else _EPS) ** exponent
    peak = max(values)
    return values.index(peak), (peak if peak > _EPS else _EPS) ** exponent / total


def calibration_table(dequantized: Sequence[float] | None, temperature: float, num_classes: int) -> list[float] | None:
    """For a model with 8-bit outputs: p^(1/T) of each of the 256 output codes, so that
    :func:`calibrated_top1_codes` needs no float arithmetic but one division.

    ``dequantized`` is the model's score of each code byte 0..255
    (``TFLiteClassifier.dequantization_table``). None (use :func:`calibrated_top1`) for float
    outputs and above ``PYTHON_LOOP_MAX_CLASSES`` classes, where numpy is faster.
    """
    if dequantized is None or num_classes > PYTHON_LOOP_MAX_CLASSES:
        return None
    if len(dequantized) != 256:
        raise ConfigError(f"a dequantization table has {len(dequantized)} entries; expected 256, one per 8-bit code")
    exponent = 1.0 / temperature
    return [(p if p > _EPS else _EPS) ** exponent for p in dequantized]


def calibrated_top1_codes(codes: list[int], table: list[float]) -> tuple[int, float]:
    """:func:`calibrated_top1` of a raw 8-bit output (its codes as Python ints) through a
    :func:`calibration_table`: the same terms summed in the same order, so the same bits.

    Dequantization is increasing in the code, so the top code is the top class. An int8 code v < 0
    indexes the table at v, which Python reads as v + 256: the entry of its byte.
    """
    total = 0.0
    for code in codes:
        total += table[code]
    peak = max(codes)
    return codes.index(peak), table[peak] / total


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
    probabilities: Sequence[Sequence[float] | np.ndarray],
    temperatures: Sequence[float],
    thresholds: Sequence[float],
    disagreement_threshold: float | None = None,
) -> FrameVerdict:
    """The detector on one frame's raw minion probabilities, (classes,) each, arrays or lists.

    Same rule as ``detect(apply_temperature(...))`` (a test holds them equal), at a fraction of the
    cost for a single frame. ``thresholds`` must already be checked (:func:`check_thresholds`); a list
    of floats is fastest. The runtime goes one step further for 8-bit outputs
    (:func:`calibration_table`) and calls :func:`combine_minions` itself.
    """
    return combine_minions([calibrated_top1(p, t) for p, t in zip(probabilities, temperatures)],
                           thresholds, disagreement_threshold)
