"""The misspeculation detector family, fitted and chosen per system and mode on validation data.

Two members, each a score per frame and one threshold on it (accept when score >= threshold):

- ``per_class_confidence`` — the paper's rule (§5.2.3, §6.4.2): the minions must agree, and the
  lowest calibrated confidence must reach the answered class's threshold. Per-class thresholds are
  shrunk toward one global threshold by the class's number of validation frames (below); the score
  of a frame is its confidence minus its class's shrunk threshold (−inf on disagreement), so one
  shift moves all thresholds together as §6.4.2's lowering step does.
- ``logistic`` — a logistic regression predicting "the speculative answer equals the reference"
  from the minions' outputs (:mod:`mmnet.runtime.learned_detector` lists the features); its score
  is the log-odds. Fitted on every frame, but for a pair it requires agreement as the paper's rule
  does (a disagreement scores −inf): validation holds few disagreements to learn from, and a
  regression extrapolating to them accepted confident disagreements that were wrong.

**Shrinkage.** A class's own best threshold t_k, fitted on its n_k agreeing validation frames, is
pulled toward the global best threshold g: t'_k = (n_k·t_k + m·g) / (n_k + m), with m =
``prior_frames``. This is the credibility (Bühlmann) form of an empirical-Bayes posterior mean:
a class's own evidence counts in proportion to its frames. At 1000 classes with about one frame
each t'_k is essentially g; at 10 classes with ~30 frames each (m = 10) it stays mostly per class.
A class with no validation frame gets g (the paper's rule would recover all of its frames).

**Cross-fitting.** Each member is fitted on K−1 folds of the validation split and scores the held-
out fold, so every validation frame gets an out-of-fold score from a detector that never saw it.
The threshold is chosen on those scores, the member by its out-of-fold recovery rate at the target
(within one system the expected latency grows with the recovery rate), and the deployed detector is
refitted on the whole split at that operating point (:func:`_refit`).

**Choosing the threshold** (:mod:`mmnet.pipeline.risk`): ``point`` — the lowest threshold whose
out-of-fold outputs keep the target share of the master's correct answers (the paper's rule, now
on held-out scores); ``guaranteed`` — Learn-then-Test fixed-sequence testing, so that the extra-
error rate versus the master is at most ε with probability ≥ 1 − δ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmnet.format.errors import ConfigError
from mmnet.format.vocabulary import NEVER
from mmnet.pipeline.risk import (
    RiskChoice,
    choose_guaranteed,
    choose_point,
    clopper_pearson_upper,
    frames_to_certify,
    guarantee_levels,
)
from mmnet.runtime.learned_detector import LOGISTIC, PER_CLASS, LogisticDetector, feature_names

__all__ = [
    "DetectorSettings",
    "FittedDetector",
    "MemberResult",
    "DetectorChoice",
    "answers_and_features",
    "member_views",
    "normalised_scores",
    "shrunk_thresholds",
    "fit_logistic",
    "choose_detector",
    "risk_coverage",
]

_NEG = -np.inf


@dataclass(frozen=True)
class DetectorSettings:
    """How detectors are fitted and their thresholds chosen for one tuned mode (from ``runtime.detector``)."""

    members: tuple[str, ...] = (PER_CLASS, LOGISTIC)
    threshold_mode: str = "point"  # or "guaranteed"
    delta: float = 0.1
    epsilon: float = 0.003  # the extra-error budget per frame vs the master, this tuning's
    window_frames: int = 0  # guaranteed mode: the promise covers this many served frames (0: the long-run rate)
    prior_frames: float = 10.0
    folds: int = 5
    regularization: float = 1.0  # the logistic regression's C (inverse L2 strength), on standardised features
    seed: int = 0


def answers_and_features(distributions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame, from each minion's class distribution (N, C): the system's answer, the lowest
    (agreeing) or highest (disagreeing) confidence, agreement, and the learned detector's features in
    canonical order (vectorised; the runtime computes the same quantities one frame at a time)."""
    arrays = [np.asarray(q, dtype=np.float64) for q in distributions]
    n = arrays[0].shape[0]
    rows = np.arange(n)
    tops = [q.argmax(axis=1) for q in arrays]
    confidences = [q[rows, t] for q, t in zip(arrays, tops)]
    columns = []
    for q, t, c in zip(arrays, tops, confidences):
        others = q.copy()
        others[rows, t] = _NEG
        second = others.max(axis=1) if q.shape[1] > 1 else np.zeros(n)
        columns += [c, c - second, np.sum(q * q, axis=1)]
    if len(arrays) == 1:
        return tops[0], confidences[0], np.ones(n, bool), np.column_stack(columns)
    agree = tops[0] == tops[1]
    columns += [agree.astype(np.float64), arrays[0][rows, tops[1]], arrays[1][rows, tops[0]]]
    # on a disagreement the more confident minion answers, the first of equals
    answer = np.where(agree | (confidences[0] >= confidences[1]), tops[0], tops[1])
    confidence = np.where(agree, np.minimum(*confidences), np.maximum(*confidences))
    return answer, confidence, agree, np.column_stack(columns)


def normalised_scores(probabilities: np.ndarray) -> np.ndarray:
    """The learned detector's view of a minion's outputs: max(score, 0) / Σ (all-zero rows stay zero)."""
    s = np.maximum(np.asarray(probabilities, dtype=np.float64), 0.0)
    total = s.sum(axis=1, keepdims=True)
    return np.divide(s, total, out=np.zeros_like(s), where=total > 0)


def member_views(calibrated: Sequence[np.ndarray], probabilities: Sequence[np.ndarray]) -> dict[str, tuple]:
    """Per member, :func:`answers_and_features` of what it reads: the paper's rule the temperature-
    scaled probabilities, the learned detector the normalised raw scores."""
    return {PER_CLASS: answers_and_features(calibrated),
            LOGISTIC: answers_and_features([normalised_scores(p) for p in probabilities])}


# --- the paper's rule, with shrunk per-class thresholds ------------------------------------------


def _best_threshold(confidence: np.ndarray, good: np.ndarray, fallback: np.ndarray) -> float:
    """The lowest threshold maximising right outputs among frames whose answer is accepted above it
    (``good``: the answer is right) and recovered below it (``fallback``: the master is right)."""
    if confidence.size == 0:
        return NEVER
    order = np.argsort(confidence, kind="stable")
    conf = confidence[order]
    candidates = np.unique(np.append(conf, NEVER))
    rejected = np.searchsorted(conf, candidates, side="left")
    master_prefix = np.concatenate([[0], np.cumsum(fallback[order])])
    minion_prefix = np.concatenate([[0], np.cumsum(good[order])])
    correct = master_prefix[rejected] + (minion_prefix[-1] - minion_prefix[rejected])
    return float(candidates[int(np.argmax(correct))])


def shrunk_thresholds(answer: np.ndarray, confidence: np.ndarray, agree: np.ndarray, good: np.ndarray,
                      fallback: np.ndarray, num_classes: int, prior_frames: float) -> np.ndarray:
    """Per-class thresholds t'_k = (n_k·t_k + m·g) / (n_k + m) (see the module doc)."""
    g = _best_threshold(confidence[agree], good[agree], fallback[agree])
    if g >= NEVER:  # no agreeing frame at all: nothing to accept
        return np.full(num_classes, NEVER)
    thresholds = np.full(num_classes, g)
    for k in np.unique(answer[agree]):
        members = agree & (answer == k)
        n_k = int(members.sum())
        own = _best_threshold(confidence[members], good[members], fallback[members])
        thresholds[k] = (n_k * min(own, 1.0) + prior_frames * g) / (n_k + prior_frames)
    return thresholds


def _per_class_scores(thresholds: np.ndarray, answer: np.ndarray, confidence: np.ndarray, agree: np.ndarray) -> np.ndarray:
    return np.where(agree, confidence - thresholds[answer], _NEG)


# --- the learned member ---------------------------------------------------------------------------


def fit_logistic(features: np.ndarray, good: np.ndarray, regularization: float) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression on the raw features (standardised for the fit, the
    standardisation folded back in), predicting ``good``; a constant score when ``good`` has one value."""
    from sklearn.linear_model import LogisticRegression

    good = np.asarray(good, bool)
    if good.all() or not good.any():
        return np.zeros(features.shape[1]), (30.0 if good.all() else -30.0)
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=regularization, max_iter=2000).fit((features - mean) / scale, good)
    weights = model.coef_[0] / scale
    return weights, float(model.intercept_[0] - np.dot(weights, mean))


# --- cross-fitting and the choice -----------------------------------------------------------------


@dataclass(frozen=True)
class FittedDetector:
    """A member refitted on the whole split, with its chosen score threshold: what a bundle ships."""

    kind: str
    thresholds: np.ndarray | None  # per class (per_class_confidence), the shift already applied
    logistic: LogisticDetector | None

    def margins(self, view: tuple) -> np.ndarray:
        """Per frame, how far its score lies above the threshold (accepted where >= 0), from this
        member's view (:func:`member_views`)."""
        answer, confidence, agree, features = view
        if self.kind == PER_CLASS:
            assert self.thresholds is not None
            return _per_class_scores(self.thresholds, answer, confidence, agree)
        assert self.logistic is not None
        margins = features @ np.asarray(self.logistic.weights) + self.logistic.bias - self.logistic.threshold
        return np.where(agree | (not self.logistic.requires_agreement), margins, _NEG)

    def to_json(self) -> dict[str, Any]:
        if self.kind == PER_CLASS:
            return {"kind": PER_CLASS}
        assert self.logistic is not None
        return self.logistic.to_json()


@dataclass(frozen=True)
class MemberResult:
    """One member on one system and tuning: its cross-fitted choice and the refitted detector."""

    kind: str
    choice: RiskChoice | None  # None: no threshold reaches the target (or certifies it)
    fitted: FittedDetector | None
    oof_scores: np.ndarray = field(repr=False)
    answer_correct: np.ndarray = field(repr=False)  # per val frame: this member's answer equals the reference

    @property
    def recovery_rate(self) -> float:
        return 1.0 if self.choice is None else self.choice.recovery_rate


@dataclass(frozen=True)
class DetectorChoice:
    members: dict[str, MemberResult]
    chosen: str | None  # None: no member reaches the target

    @property
    def detector(self) -> FittedDetector | None:
        return None if self.chosen is None else self.members[self.chosen].fitted


def _folds(n: int, good: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Held-out index sets, stratified by ``good`` so each fold sees both outcomes where possible."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(n, dtype=np.int64)
    for value in (False, True):
        index = np.flatnonzero(good == value)
        rng.shuffle(index)
        assignment[index] = np.arange(index.size) % folds
    return [np.flatnonzero(assignment == k) for k in range(folds)]


def choose_detector(views: dict[str, tuple], reference: np.ndarray, master_correct: np.ndarray, needed: int,
                    num_classes: int, settings: DetectorSettings, *, odd_credit: bool = False) -> DetectorChoice:
    """Cross-fits every member on the validation split (``views``: :func:`member_views` of it),
    chooses each one's threshold and the member with the lowest out-of-fold recovery rate; refits
    each member that reaches the target on the whole split.

    ``needed``: the right outputs the point mode must keep. Without ``odd_credit`` an accepted answer
    counts as right only where the master is right too, so the master's own errors never pay for
    accepted minion errors."""
    unknown = sorted(set(settings.members) - set(views))
    if unknown:
        raise ConfigError(f"runtime.detector.members has {unknown}; expected some of {sorted(views)}")
    fallback = np.asarray(master_correct, bool)
    reference = np.asarray(reference)
    members: dict[str, MemberResult] = {}
    for kind in settings.members:
        good = views[kind][0] == reference
        kept = good if odd_credit else good & fallback
        oof = _out_of_fold_scores(kind, views[kind], good, kept, fallback, num_classes, settings)
        if settings.threshold_mode == "guaranteed":
            choice = choose_guaranteed(oof, kept, fallback, *_levels(settings))
        else:
            choice = choose_point(oof, kept, fallback, needed)
        fitted = None if choice is None else _refit(kind, choice, views[kind], good, kept, fallback, num_classes,
                                                       settings)
        members[kind] = MemberResult(kind, choice, fitted, oof, good)
    feasible = [k for k in settings.members if members[k].choice is not None]
    chosen = min(feasible, key=lambda k: (members[k].recovery_rate, settings.members.index(k))) if feasible else None
    return DetectorChoice(members, chosen)


def _out_of_fold_scores(kind: str, view: tuple, good: np.ndarray, kept: np.ndarray, fallback: np.ndarray,
                        num_classes: int, settings: DetectorSettings) -> np.ndarray:
    """Every frame's score from the member fitted on the other folds."""
    answer, confidence, agree, features = view
    n = answer.size
    scores = np.empty(n)
    everything = np.arange(n)
    for held_out in _folds(n, good, max(2, min(settings.folds, n)), settings.seed):
        if not held_out.size:
            continue
        train = np.setdiff1d(everything, held_out)
        if kind == PER_CLASS:
            thresholds = shrunk_thresholds(answer[train], confidence[train], agree[train], kept[train], fallback[train],
                                           num_classes, settings.prior_frames)
            scores[held_out] = _per_class_scores(thresholds, answer[held_out], confidence[held_out], agree[held_out])
        else:
            weights, bias = fit_logistic(features[train], good[train], settings.regularization)
            scores[held_out] = features[held_out] @ weights + bias
    if kind == LOGISTIC:
        scores[~agree] = _NEG  # a pair's learned detector requires agreement: never accepted at any threshold
    return scores


def _refit(kind: str, choice: RiskChoice, view: tuple, good: np.ndarray, kept: np.ndarray, fallback: np.ndarray,
           num_classes: int, settings: DetectorSettings) -> FittedDetector:
    """The member fitted on the whole split, thresholded as the cross-fitted choice decided.

    Per-class thresholds are confidences, the same units in every fit: the chosen shift carries over.
    A logistic regression refitted on more frames scores on its own scale (its intercept and weights
    move, most with few wrong answers to learn from), so its threshold is set to accept as many val
    frames as the cross-fitted choice did: its own ranking of them, at the chosen recovery rate."""
    answer, confidence, agree, features = view
    if kind == PER_CLASS:
        base = shrunk_thresholds(answer, confidence, agree, kept, fallback, num_classes, settings.prior_frames)
        # accept iff confidence - t'_k >= shift, i.e. confidence >= t'_k + shift (confidence lies in [0, 1])
        return FittedDetector(PER_CLASS, np.clip(base + choice.threshold, 0.0, NEVER), None)
    weights, bias = fit_logistic(features, good, settings.regularization)
    scores = np.where(agree, features @ weights + bias, _NEG)
    threshold = float(np.sort(scores)[::-1][choice.accepted - 1])
    minions = 2 if features.shape[1] > len(feature_names(1)) else 1
    return FittedDetector(LOGISTIC, None, LogisticDetector(feature_names(minions), tuple(float(w) for w in weights), bias,
                                                           threshold, requires_agreement=minions == 2))


def risk_coverage(scores: np.ndarray, good: np.ndarray, fallback: np.ndarray, max_points: int = 60) -> dict[str, list[float]]:
    """Along the score threshold: the recovery rate and the extra-error rate vs the master (accepted
    wrong answers the master had right, per frame) — the risk–coverage curve, coverage = 1 − recovery."""
    order = np.argsort(-scores, kind="stable")
    harm = (~good & fallback)[order]
    accepted = np.arange(1, scores.size + 1)
    finite = np.isfinite(scores[order])
    accepted, harm_prefix = accepted[finite], np.cumsum(harm)[finite]
    total = scores.size
    pick = np.unique(np.linspace(0, accepted.size - 1, min(max_points, accepted.size)).round().astype(int)) \
        if accepted.size else np.array([], dtype=int)
    return {"recovery_rate": [1.0] + [float(1 - accepted[i] / total) for i in pick],
            "extra_error_rate": [0.0] + [float(harm_prefix[i] / total) for i in pick]}


def _levels(settings: DetectorSettings) -> tuple[float, float]:
    return guarantee_levels(settings.epsilon, settings.delta, settings.window_frames or None, len(settings.members))


def certification(choice: RiskChoice | None, n: int, settings: DetectorSettings) -> dict[str, Any]:
    """What the validation split can say about the extra-error rate at the chosen threshold: the
    (1 − δ) Clopper–Pearson upper bound, and the frames a guarantee at ε would need."""
    rate, level = _levels(settings)
    needed = frames_to_certify(rate, level)
    out: dict[str, Any] = {"epsilon": settings.epsilon, "delta": settings.delta, "certified_rate": rate,
                           "level": level, "frames": n, "frames_to_certify": needed, "can_certify": n >= needed}
    if choice is not None:
        out["extra_errors"] = choice.extra_errors
        out["extra_error_upper_bound"] = clopper_pearson_upper(choice.extra_errors, n, settings.delta)
    return out
