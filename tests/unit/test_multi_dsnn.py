"""multi-dsNN decision logic: the selector tree's validation and routing, the config, partitioning,
the heuristic search, system evaluation and the bundle's multi-dsNN entry (fakes for training)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmnet.format.bundle import load_bundle, sha256_file, write_manifest
from mmnet.format.describe import format_bundle_summary
from mmnet.format.errors import BundleError, ConfigError, DataError
from mmnet.format.multi_dsnn import LEAF, SYSTEM_FILE, SelectorTree
from mmnet.pipeline.dsnn.config import DsnnConfig
from mmnet.pipeline.dsnn.partition import ThresholdSet, error_file, ideal_parts, route_batch, threshold_queue
from mmnet.pipeline.dsnn.systems import Candidate, SystemPoint, evaluate_system, misclassification_rate, pareto_front, pick
from mmnet.pipeline.dsnn.topology import accuracy_search, energy_search
from mmnet.runtime.multi_dsnn import route
from tests.support import tflite_fixtures as tfx

# root: x1 <= 0.1 ? leaf main : (x0 <= -1.3 ? leaf tail : leaf main)
HAND = dict(n_features=3, parts=("main", "tail"), feature=(1, LEAF, 0, LEAF, LEAF), threshold=(0.1, 0.0, -1.3, 0.0, 0.0),
            left=(1, LEAF, 3, LEAF, LEAF), right=(2, LEAF, 4, LEAF, LEAF), part=(LEAF, 0, LEAF, 1, 0))


def _tree(**changes) -> SelectorTree:
    return SelectorTree(**{**HAND, **changes})


def _x(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


# --- the selector tree ----------------------------------------------------------------------------


def test_routes_with_leaf_part_and_depth():
    tree = _tree()
    assert (tree.depth, tree.leaf_count, tree.node_count) == (2, 3, 5)
    assert route(tree, _x(0, 0, 0)).to_json() == {"reason": "routed", "leaf": 1, "part": "main", "part_index": 0,
                                                   "depth": 1}
    assert route(tree, _x(-2, 1, 0)).part == "tail"
    assert route(tree, _x(2, 1, 0)).leaf == 4


def test_thresholds_compare_in_float64_not_float32():
    """float32(0.1) is just above 0.1: in float64 it goes right; a float32 comparison would go left."""
    tree = _tree()
    assert float(np.float32(0.1)) > 0.1
    assert route(tree, _x(-2, np.float32(0.1), 0)).part == "tail"
    assert route(tree, _x(-2, np.nextafter(np.float32(0.1), np.float32(0)), 0)).part == "main"


@pytest.mark.parametrize("features, message", [
    (np.zeros(3, dtype=np.float64), r"expected float32 \(3,\)"),
    (np.zeros(4, dtype=np.float32), r"expected float32 \(3,\)"),
    (_x(0, np.nan, 0), "non-finite"),
    (_x(np.inf, 0, 0), "non-finite"),
])
def test_bad_features_are_refused(features, message):
    with pytest.raises(DataError, match=message):
        route(_tree(), features)


@pytest.mark.parametrize("changes, message", [
    ({"left": (0, LEAF, 3, LEAF, LEAF)}, "left child 0"),
    ({"right": (2, LEAF, 2, LEAF, LEAF)}, "right child 2"),
    ({"right": (2, LEAF, 3, LEAF, LEAF)}, "parents"),  # node 3 reached twice, node 4 never
    ({"feature": (5, LEAF, 0, LEAF, LEAF)}, "reads feature 5"),
    ({"part": (LEAF, 0, LEAF, 2, 0)}, "part in 0..1"),
    ({"part": (LEAF, 0, LEAF, 0, 0)}, "at least 2 parts"),
    ({"part": (0, 0, LEAF, 1, 0)}, "internal with part 0"),
    ({"threshold": (float("nan"), 0.0, -1.3, 0.0, 0.0)}, "finite"),
    ({"threshold": (0.1,)}, "same number"),
    ({"parts": ("main", "main")}, "distinct"),
])
def test_malformed_trees_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        _tree(**changes)


def test_json_round_trip_and_schema():
    tree = _tree()
    doc = json.loads(json.dumps(tree.to_json()))
    assert SelectorTree.from_json(doc, "t.json") == tree
    doc["comparison"] = "float32 <= float32"
    with pytest.raises(BundleError, match=r"t.json: \$.comparison"):
        SelectorTree.from_json(doc, "t.json")
    doc = tree.to_json()
    doc["nodes"]["left"][2] = 0
    with pytest.raises(BundleError, match="t.json: selector node 2 has left child 0"):
        SelectorTree.from_json(doc, "t.json")


def test_route_batch_is_route():
    tree = _tree()
    x = np.random.default_rng(0).normal(0, 1.5, (200, 3)).astype(np.float32)
    x[:10, 1] = np.float32(0.1)  # on the root's threshold
    assert route_batch(tree, x).tolist() == [route(tree, row).part_index for row in x]


# --- config and partitioning ----------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"tail_shares": (0.3, 0.1)}, "increasing"),
    ({"tail_shares": (0.1, 1.0)}, "strictly between"),
    ({"tail_shares": ()}, "non-empty"),
    ({"three_way": ((0.1, 0.3),)}, "inner < outer"),
    ({"shrink": 1.0}, "strictly between"),
    ({"search_budget": 0}, "search_budget"),
    ({"first_neurons": 512}, "first_neurons"),
    ({"tree_max_leaf_nodes": 1}, "tree_max_leaf_nodes"),
])
def test_config_refuses_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        DsnnConfig(**changes)


def test_default_queue_holds_nine_thresholds_and_three_way_entries():
    config = DsnnConfig()
    assert len(config.tail_shares) == 9
    errors = np.linspace(0.0, 1.0, 1001)
    queue = threshold_queue(errors, config)
    assert [q.shares for q in queue[:9]] == [(s,) for s in config.tail_shares]
    assert queue[0].errors == pytest.approx((0.98,))
    assert queue[-1].parts == ("main", "mid", "tail") and queue[-1].errors == pytest.approx((0.7, 0.9))
    assert json.loads(json.dumps(config.to_json()))["tail_shares"] == list(config.tail_shares)


def test_error_file_and_ideal_parts():
    p = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.6, 0.4]])
    errors = error_file(p)
    assert errors == pytest.approx([0.1, 0.5, 0.2, 0.4])
    assert ideal_parts(errors, ThresholdSet((0.5,), (0.3,))).tolist() == [0, 1, 0, 1]
    assert ideal_parts(errors, ThresholdSet((0.5, 0.25), (0.15, 0.45))).tolist() == [0, 2, 1, 1]
    with pytest.raises(DataError, match="expected \\(inputs, classes\\)"):
        error_file(np.zeros(3))


# --- the heuristic search -------------------------------------------------------------------------


def test_energy_search_steps_while_accuracy_improves_then_jumps():
    accuracy = {(): 0.5, (8,): 0.7, (16,): 0.8, (32,): 0.8, (8, 32): 0.85, (16, 32): 0.9, (32, 32): 0.9}
    trials = energy_search(lambda h: accuracy.get(h, 0.0), max_neurons=32, max_hidden_layers=2, first_neurons=8,
                           budget=20)
    assert [(t.hidden, t.move) for t in trials] == [
        ((), "start"), ((8,), "jump"), ((16,), "step"), ((32,), "step"), ((8, 32), "jump"), ((16, 32), "jump"),
        ((32, 32), "jump")]  # the last layer full: jumps double the last non-full one, until none is left


def test_energy_search_keeps_its_budget():
    calls = []
    trials = energy_search(lambda h: calls.append(h) or len(calls), max_neurons=1024, max_hidden_layers=3,
                           first_neurons=1, budget=4)
    assert len(trials) == len(calls) == 4


def test_accuracy_search_shrinks_and_jumps_when_below_target():
    def evaluate(hidden):
        return 1.0 if hidden[0] >= 16 and hidden[-1] >= 8 else 0.9

    trials = accuracy_search(evaluate, (64, 32), target=1.0, shrink=0.5, budget=10)
    assert [(t.hidden, t.move) for t in trials] == [
        ((64, 32), "start"), ((32, 32), "step"), ((16, 32), "step"), ((8, 32), "step"),  # below target: undone
        ((16, 16), "jump"), ((16, 8), "step"), ((16, 4), "step")]  # below target, and no layer left to shrink
    assert len(accuracy_search(evaluate, (64, 32), target=1.0, shrink=0.5, budget=3)) == 3
    with pytest.raises(ConfigError, match="baseline"):
        accuracy_search(evaluate, (), target=1.0, shrink=0.5, budget=3)


# --- systems --------------------------------------------------------------------------------------


def _candidate(part: str, macs: int, val: list[int]) -> Candidate:
    return Candidate(part, (macs,), macs, macs, {"val": np.array(val)})


def test_system_accuracy_macs_and_misclassification():
    labels = np.array([0, 1, 2, 3])
    main = _candidate("main", 100, [0, 1, 9, 9])
    tail = _candidate("tail", 300, [9, 1, 2, 9])
    routes = np.array([0, 0, 0, 1])  # input 2 went to main, which is wrong where tail is right
    point = evaluate_system((main, tail), routes, labels, "val", shared_macs=50, threshold="t")
    assert point.accuracy == 0.5
    assert point.mean_macs == 50 + 0.75 * 100 + 0.25 * 300
    assert point.shares == (0.75, 0.25)
    assert point.misclassification == misclassification_rate((main, tail), routes, labels, "val") == 0.25


def test_pareto_front_and_pick():
    def p(acc, macs):
        return SystemPoint("t", 2, ((1,), (1,)), acc, macs, (0.5, 0.5), 0.0, ())

    points = [p(0.9, 100), p(0.95, 200), p(0.93, 250), p(0.99, 300), p(0.99, 400), p(0.8, 50)]
    assert [(x.accuracy, x.mean_macs) for x in pareto_front(points)] == [(0.8, 50), (0.9, 100), (0.95, 200), (0.99, 300)]
    assert pick(points, 0.94).mean_macs == 200
    assert pick(points, 1.0) is None


# --- the bundle's multi-dsNN entry ----------------------------------------------------------------


@pytest.fixture
def dsnn_bundle(tmp_path) -> Path:
    """The fixture bundle with a multi-dsNN entry (the tree above; any bytes stand in for the dsNNs:
    verification checks sizes and checksums, not what the files compute)."""
    root = tfx.write_fixture_bundle(tmp_path / "bundle")
    (root / "multi_dsnn").mkdir()
    (root / "multi_dsnn" / "selector.json").write_text(json.dumps(_tree().to_json()))
    dsnns = []
    for i, part in enumerate(("main", "tail")):
        path = root / "multi_dsnn" / f"dsnn-{part}.tflite"
        path.write_bytes(bytes([i]) * 64)
        dsnns.append({"part": part, "hidden": [4], "file": f"multi_dsnn/dsnn-{part}.tflite", "sha256": sha256_file(path),
                      "bytes": 64, "macs": 10 * (i + 1), "params": 5})
    manifest = json.loads((root / "manifest.json").read_text())
    selector = root / "multi_dsnn" / "selector.json"
    system = {"schema_version": "1.0", "case": "fc", "features": {"count": 3, "source": "frame"}, "preprocessor": None,
              "selector": {"file": "multi_dsnn/selector.json", "sha256": sha256_file(selector),
                           "bytes": selector.stat().st_size, "depth": 2, "leaves": 3},
              "dsnns": dsnns, "monolithic": manifest["models"][0]["id"], "design": {}, "metrics": {}}
    (root / SYSTEM_FILE).write_text(json.dumps(system))
    manifest["multi_dsnn"] = {"file": SYSTEM_FILE, "sha256": sha256_file(root / SYSTEM_FILE),
                              "bytes": (root / SYSTEM_FILE).stat().st_size}
    write_manifest(manifest, root / "manifest.json")
    return root


def _rewrite_system(root: Path, change) -> None:
    system = json.loads((root / SYSTEM_FILE).read_text())
    change(system)
    (root / SYSTEM_FILE).write_text(json.dumps(system))
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["multi_dsnn"].update(sha256=sha256_file(root / SYSTEM_FILE), bytes=(root / SYSTEM_FILE).stat().st_size)
    write_manifest(manifest, root / "manifest.json")


def test_bundle_with_a_multi_dsnn_verifies_and_is_summarised(dsnn_bundle):
    bundle = load_bundle(dsnn_bundle)
    assert bundle.multi_dsnn is not None and bundle.multi_dsnn.selector == _tree()
    assert set(bundle.multi_dsnn.dsnn_paths) == {"main", "tail"}
    assert {"multi_dsnn/selector.json", "multi_dsnn/dsnn-main.tflite", SYSTEM_FILE} <= set(bundle.checksummed_files)
    assert "multi-dsNN (FC case)" in format_bundle_summary(bundle)


def test_a_tampered_dsnn_or_selector_is_refused(dsnn_bundle):
    (dsnn_bundle / "multi_dsnn" / "dsnn-tail.tflite").write_bytes(bytes([7]) * 64)
    with pytest.raises(BundleError, match=r"dsnns\[1\].*another sha256"):
        load_bundle(dsnn_bundle)
    shutil.copyfile(dsnn_bundle / "multi_dsnn" / "dsnn-main.tflite", dsnn_bundle / "multi_dsnn" / "dsnn-tail.tflite")
    with pytest.raises(BundleError, match="another sha256"):
        load_bundle(dsnn_bundle)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(monolithic="nope"), "expected the id of a model"),
    (lambda s: s["dsnns"][1].update(part="mid"), "one dsNN per selector part"),
    (lambda s: s["selector"].update(depth=5), "depth 2 and 3 leaves"),
    (lambda s: s["features"].update(count=4), "reads 3 features"),
    (lambda s: s.update(case="cnn"), "expected case 'cnn' with a preprocessor"),
    (lambda s: s["dsnns"][0].update(file="../x.tflite"), "relative path inside the bundle"),
])
def test_an_inconsistent_system_is_refused(dsnn_bundle, change, message):
    _rewrite_system(dsnn_bundle, change)
    with pytest.raises(BundleError, match=message):
        load_bundle(dsnn_bundle)


def test_two_parts_naming_one_file_are_refused(dsnn_bundle):
    def same_file(system):
        system["dsnns"][1].update(file=system["dsnns"][0]["file"], sha256=system["dsnns"][0]["sha256"])

    _rewrite_system(dsnn_bundle, same_file)
    with pytest.raises(BundleError, match="names the same file"):
        load_bundle(dsnn_bundle)


def test_the_cnn_case_checksums_its_preprocessor(dsnn_bundle):
    path = dsnn_bundle / "multi_dsnn" / "preprocessor.tflite"
    path.write_bytes(b"p" * 32)

    def cnn(system):
        system.update(case="cnn", features={"count": 3, "source": "preprocessor"},
                      preprocessor={"file": "multi_dsnn/preprocessor.tflite", "sha256": sha256_file(path), "bytes": 32,
                                    "macs": 1000, "params": 10})

    _rewrite_system(dsnn_bundle, cnn)
    bundle = load_bundle(dsnn_bundle)
    assert bundle.multi_dsnn.case == "cnn" and bundle.multi_dsnn.preprocessor_path == path
    assert "multi-dsNN (CNN case)" in format_bundle_summary(bundle)
    path.write_bytes(b"q" * 32)
    with pytest.raises(BundleError, match=r"\$.preprocessor: .*another sha256"):
        load_bundle(dsnn_bundle)


# --- the benchmark's tables -----------------------------------------------------------------------


def test_benchmark_tables_put_the_paper_beside_each_pick_and_say_when_none_reached_the_target():
    from mmnet.benchmarks.multi_dsnn import PAPER, summary

    pick = {"threshold": "10%", "ways": 2, "hidden": [[], [8]], "test_accuracy": 0.97, "test_normalized": 1.0,
            "macs_normalized": 0.021, "head_macs_normalized": 0.021, "misclassification_test": 0.009}
    latency = {"ratio_median": 3.27, "ratio_min": 2.99, "ratio_max": 4.1, "networks_ratio_median": 0.91,
               "networks_ratio_min": 0.84, "networks_ratio_max": 1.2}
    result = {"dataset": "breast_cancer", "case": "fc", "monolithic": {"accuracy": {"test": 0.974}},
              "picks": {"100": pick, "99": None, "100_2way": pick, "100_3way": None}, "latency": {"100": latency},
              "skipped": {"part_too_small": 2}, "trainings": 80,
              "baselines": [{"detail": "SAMME 2 x [8]", "macs_normalized": 0.2, "val_normalized": 1.0,
                             "test_normalized": 0.99}]}
    text = summary([result])
    assert "| breast_cancer | fc | 97.4% | 100% | 2-way 10% [[], [8]] | 97.0% (100.0%) | 2.1% | 2.1% | 3.27 (2.99-4.10) | " \
           f"0.91 (0.84-1.20) | 0.9% | {100 * PAPER['energy_100']:.1f}% / {100 * PAPER['runtime_100']:.1f}% |" in text
    assert "| breast_cancer | fc | 97.4% | 99% | none on val |" in text
    assert "| breast_cancer | 2.1% | - | part_too_small: 2 | 80 |" in text
    assert "| breast_cancer | SAMME 2 x [8] | 20.0% | 100.0% | 99.0% |" in text
