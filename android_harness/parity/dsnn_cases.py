"""Golden cases of the multi-dsNN selector: Python's routes, for the Java core to reproduce.

``python -m android_harness.parity.dsnn_cases`` (re)writes
``android_harness/core/src/test/resources/dsnn/cases.json``: three selector trees as bundles ship
them (a 2-way tree fitted by scikit-learn on the digits' pixels, a 3-way tree fitted on wine's
standardised features, a small hand-made tree whose thresholds 0.1 and -1.3 no float32 holds), and
for each, inputs with what :func:`mmnet.runtime.multi_dsnn.route` gives (leaf, part, depth): rows of
the data, pseudo-random rows from a fixed seed, and *pinned* rows: for every internal node a row
reaching it, its feature there set to the float32 nearest the node's threshold and its float32
neighbours.
scikit-learn's thresholds are midpoints computed in float64, so the nearest float32 may lie on
either side; comparing in float32 (rounding the threshold) would route some of them the other way,
which the pinned rows catch. Features are float32 little-endian, base64.

``--check`` writes nothing and exits 1 when the committed file differs from what Python gives now
(tests/integration/test_java_dsnn_cases.py runs the same comparison).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from android_harness.parity.golden import golden_main
from mmnet.format.multi_dsnn import LEAF, SelectorTree
from mmnet.runtime.multi_dsnn import route

__all__ = ["CASES_FILE", "trees", "cases", "document", "render", "main"]

CASES_FILE = Path(__file__).resolve().parents[1] / "core" / "src" / "test" / "resources" / "dsnn" / "cases.json"
_SEED = 20261204


def _fitted(x: np.ndarray, parts: np.ndarray, names: tuple[str, ...], depth: int, leaves: int) -> SelectorTree:
    from sklearn.tree import DecisionTreeClassifier

    from mmnet.pipeline.dsnn.partition import export_selector

    tree = DecisionTreeClassifier(max_depth=depth, max_leaf_nodes=leaves, random_state=0).fit(x, parts)
    selector = export_selector(tree, x.shape[1], names)
    # The shipped tree routes as scikit-learn predicts: checked here on every row it was fitted on.
    assert all(route(selector, row).part_index == p for row, p in zip(x, tree.predict(x)))
    return selector


def trees() -> list[tuple[str, SelectorTree, np.ndarray]]:
    """(name, tree, data rows) of each case tree."""
    from sklearn.datasets import load_digits, load_wine

    rng = np.random.default_rng(_SEED)
    digits = load_digits()
    x = ((digits.data * 255.0 / 16.0 - 127.5) / 127.5).astype(np.float32)
    parts = (rng.random(len(x)) < 0.2 + 0.5 * (digits.target >= 8)).astype(np.int64)  # a tail to learn
    out = [("digits-2way", _fitted(x, parts, ("main", "tail"), 8, 32), x)]
    wine = load_wine()
    w = ((wine.data - wine.data.mean(axis=0)) / wine.data.std(axis=0)).astype(np.float32)
    out.append(("wine-3way", _fitted(w, wine.target.astype(np.int64), ("main", "mid", "tail"), 5, 12), w))
    hand = SelectorTree(n_features=3, parts=("main", "tail"), feature=(1, LEAF, 0, LEAF, LEAF),
                        threshold=(0.1, 0.0, -1.3, 0.0, 0.0), left=(1, LEAF, 3, LEAF, LEAF),
                        right=(2, LEAF, 4, LEAF, LEAF), part=(LEAF, 0, LEAF, 1, 0))
    out.append(("hand-3", hand, rng.normal(0, 2, (40, 3)).astype(np.float32)))
    return out


def _encode(x: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode("ascii")


def _path(tree: SelectorTree, row: np.ndarray) -> list[int]:
    node, path = 0, []
    while tree.feature[node] != LEAF:
        path.append(node)
        node = tree.left[node] if float(row[tree.feature[node]]) <= tree.threshold[node] else tree.right[node]
    return path


def _pinned(tree: SelectorTree, data: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """For every internal node a data row reaches: that row with the node's feature set to the
    float32 nearest the node's threshold, and to the float32 just below and just above it."""
    reaching: dict[int, np.ndarray] = {}
    for row in data:
        for node in _path(tree, row):
            reaching.setdefault(node, row)
    out = []
    for node, row in sorted(reaching.items()):
        f, nearest = tree.feature[node], np.float32(tree.threshold[node])
        for label, value in (("nearest", nearest), ("below", np.nextafter(nearest, np.float32(-np.inf))),
                             ("above", np.nextafter(nearest, np.float32(np.inf)))):
            pinned = row.copy()
            pinned[f] = value
            out.append((f"node{node}-{label}", pinned))
    return out


def _float32_route_differs(tree: SelectorTree, x: np.ndarray) -> bool:
    """Whether comparing in float32 (the threshold rounded) routes ``x`` elsewhere than the rule."""
    node = 0
    while tree.feature[node] != LEAF:
        node = tree.left[node] if x[tree.feature[node]] <= np.float32(tree.threshold[node]) else tree.right[node]
    return node != route(tree, x).leaf


def cases() -> list[dict[str, Any]]:
    rng = np.random.default_rng(_SEED + 1)
    out = []
    for name, tree, data in trees():
        rows = [(f"row{i}", data[i]) for i in rng.choice(len(data), size=min(25, len(data)), replace=False)]
        rows += [(f"random{i}", rng.normal(0, 1.5, tree.n_features).astype(np.float32)) for i in range(5)]
        rows += _pinned(tree, data)
        inputs = []
        for label, x in rows:
            r = route(tree, x)
            inputs.append({"name": label, "features": _encode(x),
                           "expected": {"leaf": r.leaf, "part": r.part, "part_index": r.part_index, "depth": r.depth},
                           "float32_comparison_differs": _float32_route_differs(tree, x)})
        out.append({"name": name, "selector": tree.to_json(), "inputs": inputs})
    return out


def document() -> dict[str, Any]:
    return {"generator": "python -m android_harness.parity.dsnn_cases",
            "features": "float32 little-endian, base64, one string per input", "cases": cases()}


def render() -> str:
    return json.dumps(document(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    return golden_main("android_harness.parity.dsnn_cases", CASES_FILE, render, "mmnet.runtime.multi_dsnn", argv)


if __name__ == "__main__":
    sys.exit(main())
