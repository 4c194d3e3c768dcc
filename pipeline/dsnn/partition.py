"""Partitioning by the monolithic network's error (§3.3.3, §3.4.1-3.4.2), TF-free.

The error file holds ``1 - confidence`` of the monolithic network on every training input. A
threshold set splits it into parts, lowest error first (``main``, then ``mid``, then ``tail``): the
*ideal* partition. A decision tree learns to predict the part from the input (FC case) or from the
convolutional features (CNN case); the dsNNs are then trained on the partition the *tree* gives
the training inputs, not the ideal one, so each dsNN sees the inputs the selector will send it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmnet.format.errors import DataError
from mmnet.format.multi_dsnn import LEAF, SelectorTree
from mmnet.pipeline.dsnn.config import DsnnConfig

__all__ = [
    "PART_NAMES",
    "ThresholdSet",
    "error_file",
    "threshold_queue",
    "ideal_parts",
    "fit_selector",
    "export_selector",
    "route_batch",
]

logger = logging.getLogger(__name__)

PART_NAMES = {2: ("main", "tail"), 3: ("main", "mid", "tail")}


@dataclass(frozen=True)
class ThresholdSet:
    """One entry of the threshold queue: tail shares (outermost first) and the error thresholds."""

    shares: tuple[float, ...]
    errors: tuple[float, ...]  # increasing: part k holds errors in (errors[k-1], errors[k]]

    @property
    def parts(self) -> tuple[str, ...]:
        return PART_NAMES[len(self.errors) + 1]

    @property
    def name(self) -> str:
        return "+".join(f"{100 * s:g}%" for s in self.shares)


def error_file(probabilities: np.ndarray) -> np.ndarray:
    """§3.4.1: 1 - confidence (the top softmax output) of every input, float64."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise DataError(f"monolithic probabilities are {p.shape}; expected (inputs, classes)")
    return 1.0 - p.max(axis=1)


def threshold_queue(errors: np.ndarray, config: DsnnConfig) -> list[ThresholdSet]:
    """The 2-way entries (one per tail share), then the 3-way ones: the error values at which the
    top ``share`` of the training inputs lies above."""
    queue = []
    for shares in [(s,) for s in config.tail_shares] + list(config.three_way):
        cut = tuple(float(np.quantile(errors, 1.0 - s)) for s in shares)
        queue.append(ThresholdSet(tuple(shares), cut))
    return queue


def ideal_parts(errors: np.ndarray, thresholds: ThresholdSet) -> np.ndarray:
    """The part of each input by its error: 0 (main) up to the number of thresholds (tail)."""
    return np.searchsorted(np.asarray(thresholds.errors), errors, side="left").astype(np.int64)


def fit_selector(features: np.ndarray, parts: np.ndarray, config: DsnnConfig) -> Any:
    """A scikit-learn DecisionTreeClassifier with bounded depth and leaves predicting the part."""
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(max_depth=config.tree_max_depth, max_leaf_nodes=config.tree_max_leaf_nodes,
                                  min_samples_leaf=config.tree_min_samples_leaf, random_state=config.seed)
    tree.fit(np.asarray(features, dtype=np.float32), parts)
    return tree


def export_selector(tree: Any, n_features: int, parts: tuple[str, ...]) -> SelectorTree:
    """The fitted tree as the bundle's SelectorTree: the same nodes, each leaf's majority part.

    A tree fitted on labels missing a part (the tree predicts only the parts it saw) maps its
    class indices back through ``classes_``.
    """
    t = tree.tree_
    classes = [int(c) for c in tree.classes_]
    leaf = t.children_left == -1
    majority = np.argmax(t.value[:, 0, :], axis=1)
    return SelectorTree(
        n_features=n_features,
        parts=parts,
        feature=tuple(LEAF if leaf[i] else int(t.feature[i]) for i in range(t.node_count)),
        threshold=tuple(0.0 if leaf[i] else float(t.threshold[i]) for i in range(t.node_count)),
        left=tuple(int(v) for v in t.children_left),
        right=tuple(int(v) for v in t.children_right),
        part=tuple(classes[majority[i]] if leaf[i] else LEAF for i in range(t.node_count)),
    )


def route_batch(tree: SelectorTree, features: np.ndarray) -> np.ndarray:
    """The part of every row of ``features`` (float32), by the same rule as the runtime's
    :func:`mmnet.runtime.multi_dsnn.route`, vectorised."""
    x = np.asarray(features, dtype=np.float32).astype(np.float64)
    feature = np.asarray(tree.feature)
    threshold = np.asarray(tree.threshold)
    left, right = np.asarray(tree.left), np.asarray(tree.right)
    node = np.zeros(len(x), dtype=np.int64)
    active = feature[node] != LEAF
    while active.any():
        rows = np.nonzero(active)[0]
        at = node[rows]
        go_left = x[rows, feature[at]] <= threshold[at]
        node[rows] = np.where(go_left, left[at], right[at])
        active = feature[node] != LEAF
    return np.asarray(tree.part)[node]
