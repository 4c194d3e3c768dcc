"""Outcome sets and misspeculation thresholds of one candidate system (minions + master).

Per input, the system's *minion answer* (the first minion's top-1; for a pair both agree whenever it
is accepted) is either accepted or recovered by the master (:mod:`mmnet.runtime.detector`). On a
labelled split the outcomes are (§4.3.3, §6.2.2):

- correct: the minion answer is right;
- correctable: the minion answer is wrong and the master's right (recovering it helps);
- uncorrectable: both are wrong (recovering it costs time and fixes nothing);
- odd correct: the minion answer is right and the master's wrong (recovering it *hurts*).

Thresholds (dissertation §6.4.2): *per class*, first the threshold of each class that maximises the
number of correct system outputs among inputs the minions assign to that class (the lowest such
threshold, so recoveries are fewest), then all thresholds are lowered together in equal steps for
as long as the system still reaches the target number of correct outputs. The *single* threshold
is the lowest one that reaches the target. The build's detectors (:mod:`mmnet.pipeline.detectors`)
shrink and cross-fit the per-class rule; :func:`bagged_per_class_thresholds` (the heuristic repeated
on bootstrap resamples, each class keeping its highest threshold) and :func:`confidence_floor` are the
rule the build used before, kept as the baseline ``benchmarks/detectors.py`` measures against. In
unlabeled mode the reference answers are the master's own, so "correct" means "agrees with the master".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mmnet.format.errors import ConfigError, DataError
from mmnet.runtime.detector import NEVER, DetectorOutput

__all__ = [
    "SystemOutcomes",
    "OperatingPoint",
    "required_correct",
    "outcome_counts",
    "operating_point",
    "per_class_thresholds",
    "bagged_per_class_thresholds",
    "disagreement_threshold",
    "single_threshold",
    "confidence_floor",
    "threshold_sweep",
]


@dataclass(frozen=True)
class SystemOutcomes:
    """What a system's parts say on one split: the detector's view and who is right."""

    detector: DetectorOutput
    minion_correct: np.ndarray  # (N,) bool: the minion answer equals the reference
    master_correct: np.ndarray  # (N,) bool: the master's answer equals the reference

    def __post_init__(self) -> None:
        n = self.detector.answer.shape[0]
        if self.minion_correct.shape != (n,) or self.master_correct.shape != (n,):
            raise DataError(f"outcome arrays have shapes {self.minion_correct.shape} and {self.master_correct.shape}; "
                            f"expected ({n},)")

    @property
    def total(self) -> int:
        return int(self.detector.answer.shape[0])

    def without_odd_credit(self) -> SystemOutcomes:
        """The same outcomes, but an accepted minion answer counts as correct only where the master is
        right too: the master's own errors can then not pay for accepted minion errors."""
        return SystemOutcomes(self.detector, self.minion_correct & self.master_correct, self.master_correct)

    def subset(self, index: np.ndarray) -> SystemOutcomes:
        d = self.detector
        return SystemOutcomes(DetectorOutput(d.answer[index], d.confidence[index], d.agree[index], d.accept[index]),
                              self.minion_correct[index], self.master_correct[index])

    def correct_count(self, accept: np.ndarray) -> int:
        return int(np.sum(accept & self.minion_correct) + np.sum(~accept & self.master_correct))


def required_correct(master_correct: int, target: float) -> int:
    """Correct outputs the system needs to reach ``target`` × the master's correct outputs."""
    if not 0 < target <= 1.0:
        raise ConfigError(f"target is {target!r}; expected a fraction of the master's accuracy in (0, 1]")
    return math.ceil(target * master_correct - 1e-9)


def outcome_counts(minion_correct: np.ndarray, master_correct: np.ndarray) -> dict[str, int]:
    minion = np.asarray(minion_correct, bool)
    master = np.asarray(master_correct, bool)
    return {
        "total": int(minion.size),
        "correct": int(minion.sum()),
        "correctable": int(np.sum(~minion & master)),
        "uncorrectable": int(np.sum(~minion & ~master)),
        "odd_correct": int(np.sum(minion & ~master)),
    }


@dataclass(frozen=True)
class OperatingPoint:
    """Thresholds and what they give on one split."""

    thresholds: tuple[float, ...]
    recovery_rate: float
    accuracy: float
    correct: int
    total: int

    def to_json(self) -> dict:
        return {"thresholds": [round(t, 6) for t in self.thresholds], "recovery_rate": self.recovery_rate,
                "accuracy": self.accuracy, "correct": self.correct, "total": self.total}


def operating_point(outcomes: SystemOutcomes, thresholds: np.ndarray,
                    disagreement_threshold: float | None = None) -> OperatingPoint:
    """Applies per-class ``thresholds`` (and, if given, the disagreement threshold) to the detector's view."""
    limits = np.asarray(thresholds, dtype=np.float64)
    out = outcomes.detector
    accept = out.agree & (out.confidence >= limits[out.answer])
    if disagreement_threshold is not None:
        accept |= ~out.agree & (out.confidence >= disagreement_threshold)
    correct = outcomes.correct_count(accept)
    return OperatingPoint(
        thresholds=tuple(float(t) for t in limits),
        recovery_rate=float(1.0 - accept.mean()),
        accuracy=correct / outcomes.total,
        correct=correct,
        total=outcomes.total,
    )


def _best_class_threshold(confidence: np.ndarray, minion_correct: np.ndarray, master_correct: np.ndarray) -> tuple[float, int]:
    """The lowest threshold maximising correct outputs among one class's agreeing inputs."""
    if confidence.size == 0:
        return NEVER, 0
    order = np.argsort(confidence, kind="stable")
    conf = confidence[order]
    minion = minion_correct[order].astype(np.int64)
    master = master_correct[order].astype(np.int64)
    candidates = np.unique(np.append(conf, NEVER))
    # With threshold t the first r = #(conf < t) inputs go to the master, the rest keep the minion answer.
    rejected = np.searchsorted(conf, candidates, side="left")
    master_prefix = np.concatenate([[0], np.cumsum(master)])
    minion_prefix = np.concatenate([[0], np.cumsum(minion)])
    correct = master_prefix[rejected] + (minion_prefix[-1] - minion_prefix[rejected])
    best = int(np.argmax(correct))  # argmax takes the first, i.e. the lowest threshold
    return float(candidates[best]), int(correct[best])


def per_class_thresholds(outcomes: SystemOutcomes, num_classes: int, needed: int, step: float = 0.01) -> OperatingPoint | None:
    """The §6.4.2 heuristic; None when even the best thresholds miss ``needed`` correct outputs."""
    if not 0 < step < 1:
        raise ConfigError(f"threshold step is {step!r}; expected a number in (0, 1)")
    out = outcomes.detector
    thresholds = np.full(num_classes, NEVER)
    for k in range(num_classes):
        members = out.agree & (out.answer == k)
        thresholds[k], _ = _best_class_threshold(out.confidence[members], outcomes.minion_correct[members],
                                                 outcomes.master_correct[members])
    best = operating_point(outcomes, thresholds)
    if best.correct < needed:
        return None
    lowered = 0
    while np.any(thresholds - lowered * step > 0):  # lowering further still changes a threshold
        candidate = operating_point(outcomes, np.clip(thresholds - (lowered + 1) * step, 0.0, NEVER))
        if candidate.correct < needed:
            break
        lowered += 1
    return operating_point(outcomes, np.clip(thresholds - lowered * step, 0.0, NEVER))


def bagged_per_class_thresholds(
    outcomes: SystemOutcomes, num_classes: int, target: float, step: float = 0.01, rounds: int = 20, seed: int = 0
) -> OperatingPoint | None:
    """The §6.4.2 heuristic made robust to the sampling noise of a small val split.

    The heuristic is fitted on the whole split and on ``rounds`` bootstrap resamples of it; each
    class keeps the highest of its thresholds. A threshold that only one lucky sample supports is
    thereby avoided, at some extra recoveries. Falls back to the plain fit if the bagged thresholds
    miss the target on the whole split (raising a threshold can reject an odd correct).
    """
    needed = required_correct(int(outcomes.master_correct.sum()), target)
    plain = per_class_thresholds(outcomes, num_classes, needed, step)
    if plain is None or rounds == 0:
        return plain
    rng = np.random.default_rng(seed)
    fits = [plain.thresholds]
    for _ in range(rounds):
        sample = outcomes.subset(rng.integers(0, outcomes.total, outcomes.total))
        fit = per_class_thresholds(sample, num_classes, required_correct(int(sample.master_correct.sum()), target), step)
        if fit is not None:
            fits.append(fit.thresholds)
    bagged = operating_point(outcomes, np.max(np.asarray(fits), axis=0))
    return bagged if bagged.correct >= needed else plain


def disagreement_threshold(outcomes: SystemOutcomes, thresholds: np.ndarray, needed: int) -> float | None:
    """The lowest threshold on the more confident minion at which disagreements may be accepted
    while the system keeps ``needed`` correct outputs (per-class ``thresholds`` fixed); None if none."""
    out = outcomes.detector
    base = operating_point(outcomes, thresholds)  # every disagreement recovered
    disagree = ~out.agree
    if not disagree.any():
        return None
    conf = out.confidence[disagree]
    order = np.argsort(conf, kind="stable")
    conf = conf[order]
    minion = outcomes.minion_correct[disagree][order].astype(np.int64)
    master = outcomes.master_correct[disagree][order].astype(np.int64)
    candidates = np.unique(conf)
    kept = np.searchsorted(conf, candidates, side="left")  # the first `kept` stay with the master
    # Accepting the rest swaps their master answers for the minion's.
    gain = (np.cumsum(minion[::-1])[::-1] - np.cumsum(master[::-1])[::-1])[kept]
    feasible = np.flatnonzero(base.correct + gain >= needed)
    return None if feasible.size == 0 else float(candidates[feasible[0]])


def confidence_floor(outcomes: SystemOutcomes, share: float) -> float:
    """The calibrated confidence below which lie ``share`` of the frames the minions answered right
    while agreeing: thresholds raised to it recover that share of good answers, and with them the
    low-confidence errors a small split may not show (0.0 for a share of 0 or no such frame)."""
    if not 0.0 <= share < 1.0:
        raise ConfigError(f"threshold floor share is {share!r}; expected a fraction in [0, 1)")
    out = outcomes.detector
    confident = out.confidence[out.agree & outcomes.minion_correct]
    if share == 0.0 or confident.size == 0:
        return 0.0
    return float(np.quantile(confident, share, method="lower"))


def _single_candidates(outcomes: SystemOutcomes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct single threshold and the correct outputs and recoveries it gives."""
    out = outcomes.detector
    conf = out.confidence[out.agree]
    order = np.argsort(conf, kind="stable")
    conf = conf[order]
    minion = outcomes.minion_correct[out.agree][order].astype(np.int64)
    master = outcomes.master_correct[out.agree][order].astype(np.int64)
    fixed = int(np.sum(outcomes.master_correct[~out.agree]))  # disagreements always go to the master
    candidates = np.unique(np.concatenate([[0.0], conf, [NEVER]]))
    rejected = np.searchsorted(conf, candidates, side="left")
    master_prefix = np.concatenate([[0], np.cumsum(master)])
    minion_prefix = np.concatenate([[0], np.cumsum(minion)])
    correct = fixed + master_prefix[rejected] + (minion_prefix[-1] - minion_prefix[rejected])
    recovered = int(np.sum(~out.agree)) + rejected
    return candidates, correct, recovered


def single_threshold(outcomes: SystemOutcomes, num_classes: int, needed: int) -> OperatingPoint | None:
    """The lowest single threshold (fewest recoveries) reaching ``needed``; None if none does."""
    candidates, correct, _ = _single_candidates(outcomes)
    feasible = np.flatnonzero(correct >= needed)
    if feasible.size == 0:
        return None
    return operating_point(outcomes, np.full(num_classes, candidates[feasible[0]]))


def threshold_sweep(outcomes: SystemOutcomes, max_points: int = 200) -> dict[str, list[float]]:
    """Recovery rate and accuracy of every single threshold (the accuracy-vs-P_r curve, Fig 6.8)."""
    candidates, correct, recovered = _single_candidates(outcomes)
    pick = np.unique(np.linspace(0, len(candidates) - 1, min(max_points, len(candidates))).round().astype(int))
    total = outcomes.total
    return {
        "threshold": [float(t) for t in candidates[pick]],
        "recovery_rate": [float(r / total) for r in recovered[pick]],
        "accuracy": [float(c / total) for c in correct[pick]],
    }
