"""Evaluating multi-dsNN systems (§3.4.3, §3.5.5), TF-free.

A *candidate* is one trained dsNN for one part: its topology, MACs and its predicted class for
every input of a split. A *system* picks one candidate per part; the selector's routing decides
which candidate answers each input. Its cost is the shared preprocessor's MACs plus each part's
dsNN MACs weighted by the share of inputs routed there (the tree's comparisons cost no MACs and
are reported as its depth).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from mmnet.format.errors import DataError

__all__ = ["Candidate", "SystemPoint", "evaluate_system", "enumerate_systems", "pareto_front", "pick",
           "misclassification_rate"]


@dataclass(frozen=True)
class Candidate:
    part: str
    hidden: tuple[int, ...]
    macs: int
    params: int
    predictions: dict[str, np.ndarray] = field(compare=False, repr=False)  # split -> predicted class per input


@dataclass(frozen=True)
class SystemPoint:
    """A system measured on one split: accuracy, mean MACs, routing shares."""

    threshold: str
    ways: int
    hidden: tuple[tuple[int, ...], ...]  # per part, in part order
    accuracy: float
    mean_macs: float
    shares: tuple[float, ...]
    misclassification: float
    candidates: tuple[Candidate, ...] = field(compare=False, repr=False)


def evaluate_system(candidates: tuple[Candidate, ...], routes: np.ndarray, labels: np.ndarray, split: str, *,
                    shared_macs: int, threshold: str) -> SystemPoint:
    """``routes``: the selector's part index per input of ``split``."""
    labels = np.asarray(labels)
    if len(routes) != len(labels) or not len(labels):
        raise DataError(f"{len(routes)} routes for {len(labels)} labels of {split}; expected one per input (>= 1)")
    answers = np.empty(len(labels), dtype=np.int64)
    shares = []
    for k, candidate in enumerate(candidates):
        mask = routes == k
        answers[mask] = candidate.predictions[split][mask]
        shares.append(float(mask.mean()))
    accuracy = float(np.mean(answers == labels))
    mean_macs = shared_macs + sum(s * c.macs for s, c in zip(shares, candidates))
    return SystemPoint(threshold, len(candidates), tuple(c.hidden for c in candidates), accuracy, float(mean_macs),
                       tuple(shares), misclassification_rate(candidates, routes, labels, split), candidates)


def misclassification_rate(candidates: tuple[Candidate, ...], routes: np.ndarray, labels: np.ndarray,
                           split: str) -> float:
    """§3.5.5: the share of inputs the selector sent to a dsNN that answers wrongly while another
    dsNN of the system answers rightly."""
    predictions = np.stack([c.predictions[split] for c in candidates])  # (parts, inputs)
    right = predictions == np.asarray(labels)[None, :]
    chosen_right = right[routes, np.arange(len(routes))]
    return float(np.mean(~chosen_right & right.any(axis=0)))


def enumerate_systems(per_part: list[list[Candidate]], routes: np.ndarray, labels: np.ndarray, split: str, *,
                      shared_macs: int, threshold: str) -> list[SystemPoint]:
    """Every combination of one candidate per part (the parts' searches are independent)."""
    return [evaluate_system(combo, routes, labels, split, shared_macs=shared_macs, threshold=threshold)
            for combo in itertools.product(*per_part)]


def pareto_front(points: list[SystemPoint]) -> list[SystemPoint]:
    """The points no other point beats on both: at most the MACs and at least the accuracy, one
    strictly. Sorted by MACs."""
    front: list[SystemPoint] = []
    for p in sorted(points, key=lambda p: (p.mean_macs, -p.accuracy)):
        if not front or p.accuracy > front[-1].accuracy:
            front.append(p)
    return front


def pick(points: list[SystemPoint], accuracy_floor: float) -> SystemPoint | None:
    """The cheapest point reaching ``accuracy_floor`` (ties: the more accurate); None if none does."""
    eligible = [p for p in points if p.accuracy >= accuracy_floor]
    return min(eligible, key=lambda p: (p.mean_macs, -p.accuracy)) if eligible else None
