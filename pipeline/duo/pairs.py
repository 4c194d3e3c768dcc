"""Pair search for Dynamic Duo (dissertation §6.4): which (little, big) pair of a model pool, with which
confidence probe, serves a target accuracy at the lowest expected latency. Pure functions over the
pool's outputs (:class:`Candidate`: val/test probabilities and measured latencies); nothing runs a model.

**The system.** The little model answers every frame; the probe accepts its answer or sends the frame
to the big model (the recovery model), whose answer is then final. On ``n`` frames with a recovery
rate P_r its expected per-frame latency is ``L_little + P_r × L_big`` (§6.4.1), at batch 1 (serving
one request at a time) and, reported beside it, at a batch size b with both models' per-frame
latencies at batch b. A *single* system is the big model alone (P_r counts as 0: no probe runs).

**Targets.** A target is an accuracy on the val split, ``fraction`` × a baseline model's (§6.5.2:
"the output target quality ... is determined by the traditional single CNN approach"), as the
number of right answers needed, :func:`~mmnet.pipeline.thresholds.required_correct`. A big model
must reach the target on its own (the point rule could not keep more right answers than the big model
gives), so the big model alone is always a feasible fallback.

**Probes** (§6.4.2), each fitted by :func:`~mmnet.pipeline.detectors.choose_detector` on the val split
(cross-fitted: every val frame scored by a probe that never saw it; the probe refitted on all val
frames at the chosen threshold), with odd corrects credited (an accepted right answer counts even
where the big model is wrong — the synergy §6.2.2 describes). The threshold (``threshold_mode`` of
the settings, :mod:`mmnet.pipeline.risk`):

- ``guaranteed`` (the default, :data:`PAIR_SETTINGS`) — Learn-then-Test: the most lenient threshold
  at which "the pair's extra errors vs the big model exceed ε per frame" (accepted wrong answers the
  big model has right; ε = 0.3%, the ±0.3 points of "equal accuracy") is rejected at level δ = 0.1.
  With no extra error seen this needs ``frames_to_certify(ε, δ)`` = 767 val frames; on fewer no
  threshold is certified and the big model alone is the choice: equal accuracy by construction.
- ``point`` — the paper's rule: the most lenient threshold whose out-of-fold outputs keep the
  target's right answers. It walks until the first val frame it would lose, so on the test split
  it loses what val happened not to show: on the Coral and digits pools about half a point on
  average over random re-splits (:func:`resplit_check`), beyond the ±0.3 asked.

The probe rules:

- ``single`` — one confidence threshold on the little model's top probability: the
  ``per_class_confidence`` member with its shrinkage prior ``m`` → ∞ (every class's threshold is
  pulled onto the global one, t'_k = g to within n_k/m; :data:`SINGLE_PRIOR_FRAMES`);
- ``per_class`` — one threshold per predicted class, shrunk toward the global one by the class's
  val frames (``per_class_confidence``, prior ``m`` = ``DetectorSettings.prior_frames``): §6.4.2's
  multi-threshold probe with the repo's empirical-Bayes shrinkage, which matters at 1000 classes
  with a few val frames each;
- ``logistic`` — the learned member on the little model's outputs (confidence, margin,
  concentration): fitted on the pairs each search chose (its fits cost ~100× a threshold's).

**Searches.** A little model is smaller than its big one (§6.2.2: "a larger more accurate CNN (big)
and a smaller less accurate (little) CNN"): lower batch-1 latency, as below; a slower little one could
never beat the big model alone. :func:`exhaustive_search` evaluates every (little, big) pair with big
meeting the target, plus every big alone, and keeps the lowest expected batch-1 latency (ties: lower recovery rate, then
ids). :func:`heuristic_search` is §6.4.3's: big = the *smallest* model meeting the target (smallest =
lowest batch-1 latency, the cost being minimised; MACs then id break ties), and the little model
among the top 3 by odd-corrects subset size — frames the little model classifies correctly and the
big one does not (§6.2.2: "classified correctly by the simple model but misclassified by the complex
one (*odd corrects*)"; §6.4.3: "the size of the odd subset could be measured to indicate the
potential synergy between a pair of CNNs"), counted on val; ties by lower latency, then id. The
paper's heuristic found the exhaustive optimum for 15 of 21 targets (§6.5.5).

**Probe errors** (§6.5.6), on test: recovery rate (paper: 9.5% on average); false positives — odd
corrects sent to the big model (paper: 0.8% on average, at most 2.1%); false negatives — complex
corrects (big right, little wrong) not sent to it (paper: ≤ 8.8%). The text calls both "the
percentage of" odd / complex corrects and argues FP < FN because complex corrects outnumber odd
ones, which fits rates per frame of the test set; both readings are reported (``*_rate``: per
frame; ``*_share``: of the odd / complex subset).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmnet.format.errors import ConfigError, DataError
from mmnet.pipeline.detectors import DetectorSettings, choose_detector, member_views
from mmnet.pipeline.thresholds import required_correct
from mmnet.runtime.learned_detector import LOGISTIC, PER_CLASS

__all__ = ["SINGLE", "PER_CLASS_RULE", "LOGISTIC_RULE", "RULES", "SINGLE_PRIOR_FRAMES", "HEURISTIC_TOP",
           "PAIR_SETTINGS", "Candidate", "Labels", "Target", "PairResult", "SearchResult", "candidates_from_pool",
           "odd_corrects", "evaluate_pair", "exhaustive_search", "heuristic_search", "targets_from_baselines",
           "search_targets", "summarise", "resplit_check"]

SINGLE = "single"
PER_CLASS_RULE = "per_class"
LOGISTIC_RULE = "logistic"
RULES = (SINGLE, PER_CLASS_RULE, LOGISTIC_RULE)
SINGLE_PRIOR_FRAMES = 1e12
HEURISTIC_TOP = 3
_MEMBER = {SINGLE: PER_CLASS, PER_CLASS_RULE: PER_CLASS, LOGISTIC_RULE: LOGISTIC}
# equal accuracy by default: extra errors vs the big model <= epsilon (0.3%) per frame with probability >= 1 - delta (0.9)
PAIR_SETTINGS = DetectorSettings(threshold_mode="guaranteed", epsilon=0.003, delta=0.1)


@dataclass(frozen=True)
class Candidate:
    """One pool model as the search sees it: outputs and per-frame serving latency by batch size."""

    id: str
    val: np.ndarray = field(repr=False)  # (n_val, classes) probabilities
    test: np.ndarray = field(repr=False)
    latency_ms: dict[int, float | None]  # per frame at each batch size; None: unsupported
    macs: int | None = None

    def __post_init__(self) -> None:
        if self.latency_ms.get(1) is None:
            raise ConfigError(f"candidate {self.id}: no batch-1 latency; expected latency_ms[1] in ms")


@dataclass(frozen=True)
class Labels:
    val: np.ndarray
    test: np.ndarray
    num_classes: int


@dataclass(frozen=True)
class Target:
    """``needed`` right answers on val: ``fraction`` × the baseline model's (its id in ``baseline``)."""

    baseline: str
    fraction: float
    needed: int
    accuracy: float  # needed / val frames


@dataclass(frozen=True)
class PairResult:
    """One configuration at one target: a pair with a fitted probe, or the big model alone (little None)."""

    little: str | None
    big: str
    rule: str | None  # None for a single model
    val_recovery_rate: float  # cross-fitted (out of fold) at the chosen threshold
    val_accuracy: float
    test_recovery_rate: float
    test_accuracy: float
    expected_ms: dict[int, float | None]  # per batch size: L_little + P_r × L_big with the val P_r
    errors: dict[str, float] = field(default_factory=dict)  # the probe's FP/FN on test (module doc)
    odd_corrects_val: int = 0
    detector: dict[str, Any] | None = field(default=None, repr=False)  # what serving needs
    threshold_mode: str | None = None  # how the probe's threshold was chosen (module doc); None for a single model
    val_extra_errors: int | None = None  # out of fold, at the chosen threshold: accepted wrong where big is right

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.little, self.big)

    def to_json(self, *, detector: bool = False) -> dict[str, Any]:
        out = {"little": self.little, "big": self.big, "rule": self.rule, "val_recovery_rate": self.val_recovery_rate,
               "val_accuracy": self.val_accuracy, "test_recovery_rate": self.test_recovery_rate,
               "test_accuracy": self.test_accuracy,
               "expected_ms": {str(b): v for b, v in sorted(self.expected_ms.items())},
               "errors": self.errors, "odd_corrects_val": self.odd_corrects_val,
               "threshold_mode": self.threshold_mode, "val_extra_errors": self.val_extra_errors}
        if detector:
            out["detector"] = self.detector
        return out


@dataclass(frozen=True)
class SearchResult:
    best: PairResult
    evaluated: tuple[PairResult, ...] = field(repr=False)
    top_littles: tuple[tuple[str, int], ...] = ()  # heuristic: (id, odd corrects) of the little candidates


def candidates_from_pool(pool: Any) -> tuple[list[Candidate], Labels]:
    """:class:`Candidate` per model of a :class:`~mmnet.pipeline.duo.pool.Pool` and its labels."""
    candidates = [Candidate(m.id, m.val_probabilities, m.test_probabilities,
                            {b: m.latency_ms(b) for b in sorted(m.latency)}, m.macs) for m in pool.models]
    return candidates, Labels(np.asarray(pool.val_labels), np.asarray(pool.test_labels), int(pool.num_classes))


def odd_corrects(little_correct: np.ndarray, big_correct: np.ndarray) -> int:
    """Size of the odd subset (§6.2.2): frames the little model gets right and the big one wrong."""
    return int(np.sum(np.asarray(little_correct, bool) & ~np.asarray(big_correct, bool)))


def _correct(candidate: Candidate, labels: Labels, split: str) -> np.ndarray:
    return np.argmax(getattr(candidate, split), axis=1) == getattr(labels, split)


def _expected(little: Candidate | None, big: Candidate, recovery_rate: float) -> dict[int, float | None]:
    batches = sorted(set(big.latency_ms) | (set(little.latency_ms) if little else set()))
    out: dict[int, float | None] = {}
    for b in batches:
        big_ms = big.latency_ms.get(b)
        if little is None:  # the big model alone answers every frame
            out[b] = big_ms
            continue
        little_ms = little.latency_ms.get(b)
        out[b] = None if big_ms is None or little_ms is None else little_ms + recovery_rate * big_ms
    return out


def _single(big: Candidate, labels: Labels) -> PairResult:
    return PairResult(None, big.id, None, 0.0, float(_correct(big, labels, "val").mean()), 0.0,
                      float(_correct(big, labels, "test").mean()), _expected(None, big, 0.0))


def _settings(rule: str, base: DetectorSettings) -> DetectorSettings:
    if rule not in _MEMBER:
        raise ConfigError(f"probe rule is {rule!r}; expected one of {list(RULES)}")
    prior = SINGLE_PRIOR_FRAMES if rule == SINGLE else base.prior_frames
    return dataclasses.replace(base, members=(_MEMBER[rule],), prior_frames=prior)


def _errors(accept: np.ndarray, little_correct: np.ndarray, big_correct: np.ndarray) -> dict[str, float]:
    odd = little_correct & ~big_correct
    complex_ = ~little_correct & big_correct
    n = accept.size
    fp, fn = int(np.sum(~accept & odd)), int(np.sum(accept & complex_))
    return {"false_positive_rate": fp / n, "false_negative_rate": fn / n,
            "false_positive_share": fp / int(odd.sum()) if odd.any() else 0.0,
            "false_negative_share": fn / int(complex_.sum()) if complex_.any() else 0.0,
            "odd_corrects": int(odd.sum()), "complex_corrects": int(complex_.sum())}


def evaluate_pair(little: Candidate, big: Candidate, labels: Labels, needed: int, rule: str,
                  settings: DetectorSettings | None = None) -> PairResult | None:
    """The pair with ``rule``'s probe fitted on val to keep ``needed`` right answers, judged on test;
    None when no threshold keeps them (or the big model alone does not: module doc)."""
    if little.id == big.id:
        raise ConfigError(f"a pair needs two models; got {little.id} twice")
    base = _settings(rule, settings or PAIR_SETTINGS)
    big_val, big_test = _correct(big, labels, "val"), _correct(big, labels, "test")
    if int(big_val.sum()) < needed:
        return None
    member = _MEMBER[rule]
    views_val = member_views([little.val], [little.val])  # temperature 1: thresholds on the raw probabilities
    choice = choose_detector(views_val, labels.val, big_val, needed, labels.num_classes, base, odd_credit=True)
    result = choice.members[member]
    if result.choice is None or result.fitted is None:
        return None
    oof_accept = result.oof_scores >= result.choice.threshold
    little_val = _correct(little, labels, "val")
    val_accuracy = float(np.mean(np.where(oof_accept, little_val, big_val)))
    view_test = member_views([little.test], [little.test])[member]
    accept = result.fitted.margins(view_test) >= 0.0
    little_test = view_test[0] == labels.test
    recovery = float(result.choice.recovery_rate)
    if result.fitted.kind == PER_CLASS:
        assert result.fitted.thresholds is not None
        thresholds = [float(t) for t in result.fitted.thresholds]
        detector: dict[str, Any] = {"kind": PER_CLASS, "rule": rule, "temperature": 1.0,
                                    "accept": "the little model's top probability >= thresholds[its top class]",
                                    "thresholds": thresholds}
        if rule == SINGLE:
            detector["threshold"] = float(np.median(thresholds))
    else:
        detector = {**result.fitted.to_json(), "rule": rule,
                    "accept": "score over the little model's normalised outputs >= threshold "
                              "(mmnet.runtime.learned_detector, one minion)"}
    return PairResult(little.id, big.id, rule, recovery, val_accuracy, float(1.0 - accept.mean()),
                      float(np.mean(np.where(accept, little_test, big_test))), _expected(little, big, recovery),
                      _errors(accept, little_test, big_test), odd_corrects(little_val, big_val), detector,
                      base.threshold_mode, int(result.choice.extra_errors))


def _ms1(result: PairResult) -> float:
    """The expected batch-1 latency: always known (a candidate needs a batch-1 latency)."""
    value = result.expected_ms[1]
    assert value is not None
    return value


def _order(result: PairResult) -> tuple:
    return (_ms1(result), result.val_recovery_rate, result.little or "", result.big)


def _size(candidate: Candidate) -> tuple:
    return (candidate.latency_ms[1], math.inf if candidate.macs is None else candidate.macs, candidate.id)


def _meets(candidate: Candidate, labels: Labels, needed: int) -> bool:
    return int(_correct(candidate, labels, "val").sum()) >= needed


_Cache = dict  # (little, big, needed, rule) -> PairResult | None, shared by searches over the same outputs


def _evaluate(little: Candidate, big: Candidate, labels: Labels, needed: int, rule: str,
              settings: DetectorSettings | None, cache: _Cache | None) -> PairResult | None:
    if cache is None:
        return evaluate_pair(little, big, labels, needed, rule, settings)
    key = (little.id, big.id, needed, rule)
    if key not in cache:
        cache[key] = evaluate_pair(little, big, labels, needed, rule, settings)
    return cache[key]


def exhaustive_search(candidates: Sequence[Candidate], labels: Labels, needed: int, rule: str,
                      settings: DetectorSettings | None = None, cache: _Cache | None = None) -> SearchResult | None:
    """Every big model meeting the target alone and with every other model as little; the lowest
    expected batch-1 latency. None when no model meets the target."""
    evaluated = []
    for big in candidates:
        if not _meets(big, labels, needed):
            continue
        evaluated.append(_single(big, labels))
        for little in candidates:
            if _size(little) < _size(big):  # a slower little could never beat the big model alone
                result = _evaluate(little, big, labels, needed, rule, settings, cache)
                if result is not None:
                    evaluated.append(result)
    if not evaluated:
        return None
    return SearchResult(min(evaluated, key=_order), tuple(evaluated))


def heuristic_search(candidates: Sequence[Candidate], labels: Labels, needed: int, rule: str,
                     settings: DetectorSettings | None = None, top: int = HEURISTIC_TOP,
                     cache: _Cache | None = None) -> SearchResult | None:
    """§6.4.3: big = the smallest model meeting the target, little among the ``top`` by odd corrects."""
    meeting = [c for c in candidates if _meets(c, labels, needed)]
    if not meeting:
        return None
    big = min(meeting, key=_size)
    big_val = _correct(big, labels, "val")
    ranked = sorted((c for c in candidates if _size(c) < _size(big)),
                    key=lambda c: (-odd_corrects(_correct(c, labels, "val"), big_val), _size(c)))[:top]
    evaluated = [_single(big, labels)]
    for little in ranked:
        result = _evaluate(little, big, labels, needed, rule, settings, cache)
        if result is not None:
            evaluated.append(result)
    tops = tuple((c.id, odd_corrects(_correct(c, labels, "val"), big_val)) for c in ranked)
    return SearchResult(min(evaluated, key=_order), tuple(evaluated), tops)


def targets_from_baselines(candidates: Sequence[Candidate], labels: Labels, fraction: float = 1.0) -> list[Target]:
    """One target per pool model: ``fraction`` × its val right answers (§6.5.2), in order of accuracy."""
    n = labels.val.size
    if n == 0:
        raise DataError("the val split is empty; targets are accuracies on it")
    targets = []
    for c in sorted(candidates, key=lambda c: (int(_correct(c, labels, "val").sum()), c.id)):
        needed = required_correct(int(_correct(c, labels, "val").sum()), fraction)
        targets.append(Target(c.id, fraction, needed, needed / n))
    return targets


def search_targets(candidates: Sequence[Candidate], labels: Labels, targets: Sequence[Target],
                   rules: Sequence[str] = (SINGLE, PER_CLASS_RULE), settings: DetectorSettings | None = None,
                   progress: Any = None) -> list[dict[str, Any]]:
    """Per target and rule: the exhaustive optimum, the heuristic's choice and whether they agree; the
    learned probe fitted on the per-class optimum's pair. Rows for :func:`summarise` and the benchmark."""
    by_id = {c.id: c for c in candidates}
    if len(by_id) != len(candidates):
        raise DataError(f"candidate ids repeat: {[c.id for c in candidates]}")
    rows = []
    cache: _Cache = {}
    for i, target in enumerate(targets, 1):
        row: dict[str, Any] = {"target": dataclasses.asdict(target), "rules": {}}
        for rule in rules:
            exhaustive = exhaustive_search(candidates, labels, target.needed, rule, settings, cache=cache)
            heuristic = heuristic_search(candidates, labels, target.needed, rule, settings, cache=cache)
            if exhaustive is None or heuristic is None:
                row["rules"][rule] = None
                continue
            # the traditional approach: the smallest model meeting the target, alone (§6.5.2)
            baseline = _single(min((c for c in candidates if _meets(c, labels, target.needed)), key=_size), labels)
            row["rules"][rule] = {
                "exhaustive": exhaustive.best, "heuristic": heuristic.best, "baseline": baseline,
                "top_littles": heuristic.top_littles, "pairs_evaluated": len(exhaustive.evaluated),
                "heuristic_evaluated": len(heuristic.evaluated),
                "same_choice": exhaustive.best.key == heuristic.best.key,
                "same_latency": math.isclose(_ms1(exhaustive.best), _ms1(heuristic.best), rel_tol=1e-9),
            }
        chosen = row["rules"].get(PER_CLASS_RULE) or next((v for v in row["rules"].values() if v), None)
        if chosen is not None and chosen["exhaustive"].little is not None:
            best = chosen["exhaustive"]
            row["logistic"] = evaluate_pair(by_id[best.little], by_id[best.big], labels, target.needed, LOGISTIC_RULE,
                                            settings)
        if progress is not None:
            progress(f"target {i}/{len(targets)} ({target.baseline}, {100 * target.accuracy:.1f}%): searched")
        rows.append(row)
    return rows


def summarise(rows: Sequence[dict[str, Any]], rule: str) -> dict[str, Any]:
    """Over targets, for ``rule``: how often the heuristic found the exhaustive optimum, mean latency
    relative to the single-model baseline (exhaustive and heuristic), mean test recovery rate and probe
    errors of the exhaustive choices (a single-model choice counts with recovery 0, as §6.5.6 does)."""
    found = [r["rules"].get(rule) for r in rows if r["rules"].get(rule)]
    if not found:
        return {"targets": 0}

    def mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None

    pairs = [f["exhaustive"] for f in found if f["exhaustive"].little is not None]
    return {
        "targets": len(found),
        "heuristic_found_optimum": sum(f["same_choice"] for f in found),
        "heuristic_same_latency": sum(f["same_latency"] for f in found),
        "pairs_chosen": len(pairs),
        "mean_normalised_latency_exhaustive": mean([_ms1(f["exhaustive"]) / _ms1(f["baseline"]) for f in found]),
        "mean_normalised_latency_heuristic": mean([_ms1(f["heuristic"]) / _ms1(f["baseline"]) for f in found]),
        "mean_test_recovery_rate": mean([f["exhaustive"].test_recovery_rate for f in found]),
        "mean_false_positive_rate": mean([p.errors["false_positive_rate"] for p in pairs]),
        "max_false_positive_rate": max([p.errors["false_positive_rate"] for p in pairs], default=None),
        "max_false_negative_rate": max([p.errors["false_negative_rate"] for p in pairs], default=None),
        "mean_test_accuracy_vs_target_points": mean([100 * (f["exhaustive"].test_accuracy - f["baseline"].test_accuracy)
                                                    for f in found]),
    }


def resplit_check(candidates: Sequence[Candidate], labels: Labels, rule: str, settings: DetectorSettings | None = None,
                  splits: int = 20, seed: int = 0) -> dict[str, Any]:
    """Whether the exhaustive choice at the most accurate model's target keeps that model's accuracy on
    test: on ``splits`` random re-splits of the val + test frames (same sizes), per split the choice's
    test accuracy minus the baseline's alone (the smallest model meeting the target), in points, and how
    many splits stay within ± 100·ε points (ε of the settings: the tolerance "equal accuracy" allows).
    One split says little at a few hundred test frames (one frame is 0.3-0.4 points); many say whether
    the threshold rule loses accuracy on frames it never saw."""
    settings = settings or PAIR_SETTINGS
    if splits < 1:
        raise ConfigError(f"resplits is {splits}; expected at least 1")
    outputs = {c.id: np.concatenate([c.val, c.test]) for c in candidates}
    pooled = np.concatenate([labels.val, labels.test])
    n_val = labels.val.size
    rng = np.random.default_rng(seed)
    differences, recovery, pairs = [], [], 0
    for _ in range(splits):
        order = rng.permutation(pooled.size)
        val, test = order[:n_val], order[n_val:]
        split = [Candidate(c.id, outputs[c.id][val], outputs[c.id][test], c.latency_ms, c.macs) for c in candidates]
        split_labels = Labels(pooled[val], pooled[test], labels.num_classes)
        target = max(targets_from_baselines(split, split_labels), key=lambda t: (t.needed, t.baseline))
        found = exhaustive_search(split, split_labels, target.needed, rule, settings)
        assert found is not None  # the target's own model meets it
        baseline = _single(min((c for c in split if _meets(c, split_labels, target.needed)), key=_size), split_labels)
        differences.append(100.0 * (found.best.test_accuracy - baseline.test_accuracy))
        if found.best.little is not None:
            pairs += 1
            recovery.append(found.best.test_recovery_rate)
    tolerance = 100.0 * settings.epsilon
    d = np.asarray(differences)
    return {"rule": rule, "threshold_mode": settings.threshold_mode, "splits": splits, "val_frames": int(n_val),
            "test_frames": int(pooled.size - n_val), "tolerance_points": tolerance,
            "differences_points": [round(float(v), 3) for v in d], "mean_points": float(d.mean()),
            "within_tolerance": int(np.sum(np.abs(d) <= tolerance + 1e-9)),
            "not_below_tolerance": int(np.sum(d >= -tolerance - 1e-9)), "pairs_chosen": int(pairs),
            "mean_pair_test_recovery_rate": float(np.mean(recovery)) if recovery else None}
