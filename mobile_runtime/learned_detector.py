"""The learned misspeculation detector: a logistic regression on features of the minions' outputs.

The paper's detector (:mod:`mmnet.runtime.detector`) accepts an answer when the minions agree and
each one's calibrated confidence reaches its class's threshold. The learned detector scores every
frame instead, predicting "the speculative answer equals the reference" from features of every
minion's output, and accepts the answer when the score reaches one threshold.

It reads each minion's scores as the model gives them, normalised to sum to one: q_j = s_j / S with
s_j = max(score_j, 0) and S = Σ_j s_j added left to right. No temperature: the regression learns
whatever calibration it needs, and without a power function every feature is a few additions,
multiplications and divisions, so the Java core computes the same bits (its ``StrictMath.pow`` and
C's ``pow`` differ in the last bit for about one input in ten). Measured on the Coral models over
six random val/test splits, these features recovered as few frames as temperature-scaled ones
(test P_r 43.4% vs 47.3% for the best pair, at master accuracy −0.40 vs −0.53 points).

The answer: the common top-1 class when the minions agree, else the top-1 of the minion with the
higher q_top (the first of equals). Features, per minion i:

- ``confidence_i`` = s_top / S;
- ``margin_i`` = s_top / S − s_second / S, s_second the largest s_j at any other index (0.0 with one class);
- ``concentration_i`` = (Σ_j s_j·s_j) / (S·S), the collision probability Σ q_j² — the quadratic
  counterpart of the entropy, which would need a logarithm;

and for a pair: ``agree`` (1.0 when both name the same class), ``cross_0`` = q_0 at minion 1's
answer and ``cross_1`` = q_1 at minion 0's answer (each one's probability for the other's answer).

The score is ``bias + Σ_k weight_k · feature_k``, added left to right in :data:`PAIR_FEATURES` /
:data:`SINGLE_FEATURES` order. A frame whose scores are all zero (or overflow) has no features and
is recovered.

A pair's detector may require agreement (``requires_agreement``, as the paper's rule does): a
disagreement is then recovered whatever its score. When the minions disagree at least one of them
is wrong, and validation holds few such frames to learn from: fitted freely on the digits demo's
int8 pair, the regression gave agreement a negative weight and accepted 7 test frames on which both
minions were saturated and disagreed, all of them wrong; required, the same pair kept the master's
test accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from mmnet.format.errors import ConfigError
from mmnet.runtime.detector import PYTHON_LOOP_MAX_CLASSES, PYTHON_LOOP_MAX_CODES, FrameVerdict

__all__ = [
    "LOGISTIC",
    "PER_CLASS",
    "DETECTOR_KINDS",
    "SINGLE_FEATURES",
    "PAIR_FEATURES",
    "LogisticDetector",
    "MinionSummary",
    "feature_names",
    "frame_features",
    "logistic_frame",
    "minion_summary",
    "score_table",
]

PER_CLASS = "per_class_confidence"  # the paper's rule: agreement + per-class confidence thresholds
LOGISTIC = "logistic"
DETECTOR_KINDS = (PER_CLASS, LOGISTIC)

SINGLE_FEATURES = ("confidence_0", "margin_0", "concentration_0")
PAIR_FEATURES = SINGLE_FEATURES + ("confidence_1", "margin_1", "concentration_1", "agree", "cross_0", "cross_1")

_INF = float("inf")
_PER_MINION = len(SINGLE_FEATURES)  # features per minion, confidence_i first


def feature_names(minions: int) -> tuple[str, ...]:
    if minions == 1:
        return SINGLE_FEATURES
    if minions == 2:
        return PAIR_FEATURES
    raise ConfigError(f"a system has {minions} minions; expected 1 or 2")


def _finite(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where} is {value!r}; expected a finite number")
    return float(value)


@dataclass(frozen=True)
class LogisticDetector:
    """A fitted logistic detector as a bundle ships it: accept when the score reaches ``threshold``."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float  # on the score (log-odds) scale
    requires_agreement: bool = False  # a pair's disagreement is recovered whatever its score

    def __post_init__(self) -> None:
        expected = feature_names(2 if len(self.features) > len(SINGLE_FEATURES) else 1)
        if tuple(self.features) != expected:
            raise ConfigError(f"logistic detector features are {list(self.features)}; expected {list(expected)}")
        if type(self.requires_agreement) is not bool:
            raise ConfigError(f"logistic detector requires_agreement is {self.requires_agreement!r}; expected true or false")
        if len(self.weights) != len(self.features):
            raise ConfigError(f"logistic detector has {len(self.weights)} weights for {len(self.features)} features; "
                              "expected one per feature")
        for i, w in enumerate(self.weights):
            _finite(f"logistic detector weight {i}", w)
        _finite("logistic detector bias", self.bias)
        _finite("logistic detector threshold", self.threshold)

    @property
    def minions(self) -> int:
        return 2 if len(self.features) == len(PAIR_FEATURES) else 1

    @classmethod
    def from_json(cls, doc: Any, minions: int, where: str) -> LogisticDetector:
        """From a tuned mode's ``detector`` object (kind ``logistic``) of a system with ``minions`` minions."""
        if not isinstance(doc, dict) or doc.get("kind") != LOGISTIC:
            raise ConfigError(f"{where} is {doc!r}; expected a logistic detector object")
        features = tuple(doc.get("features", ()))
        if features != feature_names(minions):
            raise ConfigError(f"{where}.features is {list(features)}; a system of {minions} minion(s) "
                              f"expects {list(feature_names(minions))}")
        weights = tuple(_finite(f"{where}.weights[{i}]", w) for i, w in enumerate(doc.get("weights", ())))
        requires_agreement = doc.get("requires_agreement", False)
        if type(requires_agreement) is not bool:
            raise ConfigError(f"{where}.requires_agreement is {requires_agreement!r}; expected true or false")
        return cls(features, weights, _finite(f"{where}.bias", doc.get("bias")),
                   _finite(f"{where}.threshold", doc.get("threshold")), requires_agreement)

    def to_json(self) -> dict[str, Any]:
        doc = {"kind": LOGISTIC, "features": list(self.features), "weights": list(self.weights),
               "bias": self.bias, "threshold": self.threshold}
        if self.requires_agreement:  # absent means false: documents written without it read back the same
            doc["requires_agreement"] = True
        return doc

    def accepts(self, score: float, agree: bool) -> bool:
        return score >= self.threshold and (agree or not self.requires_agreement)

    def score(self, features: Sequence[float]) -> float:
        z = self.bias
        for w, x in zip(self.weights, features):
            z += w * x
        return z


class MinionSummary(NamedTuple):
    """One minion's output on one frame, as the features need it (a tuple: cheap to make per frame)."""

    top: int
    total: float  # S = Σ_j s_j, left to right
    peak: float  # s_top
    second: float  # the largest s_j at any index but top (0.0 with a single class)
    squares: float  # Σ_j s_j·s_j, left to right
    values: Sequence[float] | np.ndarray  # the output as read: scores, or 8-bit codes with ``table``
    table: Sequence[float] | np.ndarray | None  # each code's score (:func:`score_table`); None for scores

    @property
    def usable(self) -> bool:
        """Whether the features are defined: S and S·S are positive and finite."""
        return _defined(self.total)


# A MinionSummary's fields as a plain tuple: what the per-frame path passes around (building the
# NamedTuple and reading its properties cost more than the arithmetic on a few classes).
_Summary = tuple[int, float, float, float, float, "Sequence[float] | np.ndarray", "Sequence[float] | np.ndarray | None"]


def _term(values: Sequence[float] | np.ndarray, table: Sequence[float] | np.ndarray | None, index: int) -> float:
    """s_j of class ``index``: its code's score, or its score clipped at 0. Read only where a feature
    needs it (the other minion's answer), so a frame never builds the list of every s_j."""
    if table is not None:
        return float(table[int(values[index])])
    value = values[index]
    return float(value) if value > 0 else 0.0


def _defined(total: float) -> bool:
    """Whether a minion's features are defined: S and S·S are positive and finite."""
    return 0.0 < total < _INF and 0.0 < total * total < _INF


def minion_summary(output: Sequence[float] | np.ndarray, table: Sequence[float] | np.ndarray | None = None) -> MinionSummary:
    """The terms of one minion's output: scores, or raw 8-bit codes with ``table``, the score of each
    code byte 0..255 (:func:`score_table`; a float64 array of it saves converting it per frame when
    numpy reads the output)."""
    return MinionSummary._make(_summarise(output, table))


def _summarise(output: Sequence[float] | np.ndarray, table: Sequence[float] | np.ndarray | None) -> _Summary:
    """:func:`minion_summary` as a plain tuple."""
    if len(output) > (PYTHON_LOOP_MAX_CLASSES if table is None else PYTHON_LOOP_MAX_CODES):
        array = np.asarray(output)
        if table is None:
            vector = np.where(array > 0, array, 0).astype(np.float64)
        else:  # numpy indexing reads a negative int8 code v at v + 256, as Python does
            vector = np.asarray(table)[array.astype(np.intp)]
        top = int(vector.argmax())
        others = vector.copy()
        others[top] = -_INF
        second = float(others.max()) if others.size > 1 else 0.0
        # accumulate adds left to right, as the loop below and the Java twin do
        return (top, float(np.add.accumulate(vector)[-1]), float(vector[top]), second,
                float(np.add.accumulate(vector * vector)[-1]), vector, None)
    values: list = output.tolist() if type(output) is np.ndarray else list(output)
    # One pass, left to right as the Java twin adds (Python 3.12's sum() compensates); a later term
    # equal to the peak makes the second equal to it. Every term is >= 0, so a zero term (a score
    # <= 0 or NaN, a code of score 0) changes no sum and no comparison: skipping it gives the same
    # bits, and a saturated 8-bit output is mostly zeros. The top is the first largest term: the
    # first index holding the value (score or code) that first reached the peak.
    total = squares = peak = second = 0.0
    peak_value = None
    if table is None:
        for t in values:
            if t > 0:
                total += t
                squares += t * t
                if t > peak:
                    peak, second, peak_value = t, peak, t
                elif t > second:
                    second = t
    else:
        for code in values:
            t = table[code]
            if t:
                total += t
                squares += t * t
                if t > peak:
                    peak, second, peak_value = t, peak, code
                elif t > second:
                    second = t
    if len(values) == 1:
        second = 0.0
    return (0 if peak_value is None else values.index(peak_value), total, peak, second, squares, values, table)


def score_table(dequantized: Sequence[float] | None) -> list[float] | None:
    """For a model with 8-bit outputs, each code's score clipped at 0 (the terms
    :func:`minion_summary` reads for raw codes); None for a float output."""
    if dequantized is None:
        return None
    if len(dequantized) != 256:
        raise ConfigError(f"a dequantization table has {len(dequantized)} entries; expected 256, one per 8-bit code")
    return [float(p) if p > 0 else 0.0 for p in dequantized]


def frame_features(summaries: Sequence[_Summary]) -> list[float] | None:
    """The detector's features of one frame in canonical order; None when a minion's are undefined.
    ``summaries``: :func:`minion_summary` of each minion (any tuples of its fields)."""
    features: list[float] = []
    for _top, total, peak, second, squares, _values, _table in summaries:
        if not _defined(total):
            return None
        confidence = peak / total
        features += [confidence, confidence - second / total, squares / (total * total)]
    if len(summaries) == 2:
        (a_top, a_total, _, _, _, a_values, a_table), (b_top, b_total, _, _, _, b_values, b_table) = summaries
        features += [1.0 if a_top == b_top else 0.0, _term(a_values, a_table, b_top) / a_total,
                     _term(b_values, b_table, a_top) / b_total]
    return features


def logistic_frame(outputs: Sequence[Sequence[float] | np.ndarray], detector: LogisticDetector,
                   tables: Sequence[Sequence[float] | np.ndarray | None] | None = None) -> tuple[FrameVerdict, float | None]:
    """The learned detector on one frame: the verdict (accepted when the score reaches the threshold)
    and the score (None when the features are undefined: recovered). ``tables``: per minion its
    :func:`score_table` (or a float64 array of it) when its output is raw 8-bit codes, else None."""
    if tables is None:
        tables = (None,) * len(outputs)
    summaries = list(map(_summarise, outputs, tables))
    features = frame_features(summaries)
    if features is None:
        # q_top per minion, 0.0 where its features are undefined: the frame is recovered, so the
        # confidences only order the answer
        confidences = [peak / total if _defined(total) else 0.0 for _top, total, peak, _, _, _, _ in summaries]
        answer, shown, agree = _answer(summaries, confidences)
        return FrameVerdict(answer, shown, agree, False, True, detector.requires_agreement), None
    answer, shown, agree = _answer(summaries, features[::_PER_MINION])  # confidence_i leads each minion's features
    score = detector.score(features)
    return FrameVerdict(answer, shown, agree, detector.accepts(score, agree), True, detector.requires_agreement), score


def _answer(summaries: Sequence[_Summary], confidences: Sequence[float]) -> tuple[int, float, bool]:
    """The speculative answer, its confidence and whether the minions agree: the common top-1 at the
    lowest q_top, else the top-1 of the minion with the higher q_top (the first of equals)."""
    answer = summaries[0][0]
    shown = confidences[0]
    if len(summaries) == 1:
        return answer, shown, True
    other, c = summaries[1][0], confidences[1]
    if other == answer:
        return answer, (c if c < shown else shown), True
    return (other, c, False) if c > shown else (answer, shown, False)
