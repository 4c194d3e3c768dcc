"""The regression gate (mmnet.format.compare, `mmnet compare`): every kind of metric caught beyond its
tolerance and passed inside it, on hand-made manifests and runtime configs; the command on real fixture
bundles (an unchanged copy passes, a copy whose runtime config promises less accuracy fails)."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from mmnet.format.compare import (
    BundleSnapshot,
    Tolerances,
    compare_snapshots,
    comparison_markdown,
    load_tolerances,
    write_comparison,
)
from mmnet.format.errors import ConfigError


def _tuned(accuracy: float, recovery: float) -> dict:
    return {"val": {"accuracy": accuracy, "recovery_rate": recovery},
            "test": {"accuracy": accuracy - 0.01, "recovery_rate": recovery + 0.01}}


def _expected(latency: float, energy: float) -> dict:
    return {"latency_ms": latency, "energy_mj": energy, "accuracy": 0.95, "recovery_rate": 0.2,
            "test_accuracy": 0.94, "test_recovery_rate": 0.21}


def _snapshot(name: str = "baseline") -> BundleSnapshot:
    manifest = {"name": "digits", "created_utc": "2026-12-04T00:00:00Z", "build": {"config_sha256": "ab"},
                "models": [{"id": "master", "file": "models/master.tflite", "bytes": 40_000},
                           {"id": "tiny", "file": "models/tiny.tflite", "bytes": 4_000},
                           {"id": "rejected", "file": None, "bytes": 9_000}],
                "runtime_config": {"file": "runtime_config.json", "bytes": 2_000}}
    runtime_config = {
        "master": {"val_accuracy": 0.96, "test_accuracy": 0.95},
        "systems": {"single:tiny": {"minions": ["tiny"], "modes": {"normal": _tuned(0.95, 0.30),
                                                                   "power_saving": _tuned(0.94, 0.20)}}},
        "selection": {profile: {mode: {"system": "single:tiny", "placement": "device",
                                       "expected": _expected(2.0 if profile == "lte" else 1.5, 3.0)}
                                for mode in ("normal", "power_saving", "private", "mission_critical")}
                      for profile in ("lte", "wifi")},
    }
    return BundleSnapshot(path=f"/bundles/{name}", manifest=manifest, runtime_config=runtime_config)


def _changed(edit) -> BundleSnapshot:
    snapshot = _snapshot("candidate")
    manifest, config = copy.deepcopy(snapshot.manifest), copy.deepcopy(snapshot.runtime_config)
    edit(manifest, config)
    return BundleSnapshot(path=snapshot.path, manifest=manifest, runtime_config=config)


def _row(comparison: dict, metric: str) -> dict:
    return next(r for r in comparison["metrics"] if r["metric"] == metric)


def test_an_identical_bundle_passes_with_every_metric_unchanged():
    comparison = compare_snapshots(_snapshot(), _snapshot("candidate"), Tolerances())
    assert comparison["verdict"] == "pass" and comparison["regressions"] == []
    assert comparison["counts"]["unchanged"] == len(comparison["metrics"]) > 40
    kinds = {r["kind"] for r in comparison["metrics"]}
    assert kinds == {"accuracy", "recovery_rate", "latency", "energy", "size"}


def _set(path: str, factor: float = 1.0, delta: float = 0.0):
    """An edit of one number of the manifest (``m.``) or the runtime config (``c.``), by a dotted path."""
    def edit(manifest, config):
        node = manifest if path.startswith("m.") else config
        *parents, leaf = path[2:].split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[leaf] = node[leaf] * factor + delta
    return edit


# (edit making the candidate worse, metric name, how much worse the default tolerance lets through)
_WORSE = [
    ("c.master.test_accuracy", "master.test_accuracy", {"delta": -0.004}, {"delta": -0.02}),
    ("c.systems.single:tiny.modes.normal.val.accuracy", "systems.single:tiny.normal.val.accuracy",
     {"delta": -0.004}, {"delta": -0.02}),
    ("c.systems.single:tiny.modes.power_saving.test.recovery_rate", "systems.single:tiny.power_saving.test.recovery_rate",
     {"delta": 0.009}, {"delta": 0.05}),
    ("c.selection.lte.normal.expected.test_accuracy", "selection.lte.normal.test.accuracy",
     {"delta": -0.004}, {"delta": -0.01}),
    ("c.selection.wifi.private.expected.recovery_rate", "selection.wifi.private.val.recovery_rate",
     {"delta": 0.009}, {"delta": 0.03}),
    ("c.selection.lte.normal.expected.latency_ms", "selection.lte.normal.latency_ms", {"factor": 1.09}, {"factor": 1.3}),
    ("c.selection.wifi.power_saving.expected.energy_mj", "selection.wifi.power_saving.energy_mj",
     {"factor": 1.09}, {"factor": 1.5}),
    ("m.models.1.bytes", "models.tiny.bytes", {"factor": 1.04}, {"factor": 2.0}),
    ("m.runtime_config.bytes", "bundle.shipped_bytes", {"delta": 2_000}, {"delta": 20_000}),
]


@pytest.mark.parametrize("path, metric, inside, beyond", _WORSE, ids=[w[1] for w in _WORSE])
def test_each_metric_is_caught_beyond_its_tolerance_and_passed_inside_it(path, metric, inside, beyond):
    within = compare_snapshots(_snapshot(), _changed(_set(path, **inside)), Tolerances())
    assert within["verdict"] == "pass"
    assert _row(within, metric)["status"] == "within_tolerance"
    assert within["counts"]["within_tolerance"] == 1 + (metric.startswith("models."))  # a model's bytes: the bundle's too

    regressed = compare_snapshots(_snapshot(), _changed(_set(path, **beyond)), Tolerances())
    assert regressed["verdict"] == "regression"
    assert metric in regressed["regressions"]
    assert _row(regressed, metric)["status"] == "regressed" and _row(regressed, metric)["worse_by"] > 0
    assert f"| regressed | `{metric}` |" in comparison_markdown(regressed)


def test_improvements_are_reported_not_failed():
    def better(manifest, config):
        config["systems"]["single:tiny"]["modes"]["normal"]["val"]["accuracy"] = 0.99
        config["selection"]["lte"]["normal"]["expected"]["latency_ms"] = 0.5
        manifest["models"][1]["bytes"] = 1_000
    comparison = compare_snapshots(_snapshot(), _changed(better), Tolerances())
    assert comparison["verdict"] == "pass"
    assert _row(comparison, "selection.lte.normal.latency_ms")["status"] == "improved"
    assert _row(comparison, "selection.lte.normal.latency_ms")["worse_by"] == pytest.approx(-0.75)
    assert comparison["counts"]["improved"] == 4  # and the bundle's shipped bytes


def test_a_looser_tolerance_lets_the_same_change_pass():
    worse = _changed(_set("c.selection.lte.normal.expected.latency_ms", factor=1.3))
    assert compare_snapshots(_snapshot(), worse, Tolerances())["verdict"] == "regression"
    assert compare_snapshots(_snapshot(), worse, Tolerances(latency=0.5))["verdict"] == "pass"


def test_systems_and_models_only_one_bundle_has_are_reported_not_failed():
    def swap(manifest, config):
        config["systems"]["pair:tiny+other"] = config["systems"].pop("single:tiny")
        config["selection"]["lte"]["normal"]["system"] = "pair:tiny+other"
        manifest["models"].append({"id": "other", "file": "models/other.tflite", "bytes": 10})
    comparison = compare_snapshots(_snapshot(), _changed(swap), Tolerances())
    assert comparison["verdict"] == "pass"
    assert comparison["counts"]["added"] == 9 and comparison["counts"]["removed"] == 8
    assert comparison["notes"] == ["selection.lte.normal.system: single:tiny -> pair:tiny+other"]


def test_a_bundle_without_a_runtime_config_compares_its_sizes_only():
    bare = BundleSnapshot(path="/b", manifest={**_snapshot().manifest, "runtime_config": None}, runtime_config=None)
    comparison = compare_snapshots(_snapshot(), bare, Tolerances())
    assert comparison["verdict"] == "pass"  # what it lacks is removed, not regressed
    assert {r["kind"] for r in comparison["metrics"] if r["status"] != "removed"} == {"size"}
    assert comparison["notes"] == ["the candidate has no runtime config: its system metrics are not compared"]


def test_the_report_validates_and_is_written_as_json_and_markdown(tmp_path):
    comparison = compare_snapshots(_snapshot(), _changed(_set("c.master.val_accuracy", delta=-0.1)), Tolerances())
    json_path, markdown_path = write_comparison(comparison, tmp_path)
    assert json.loads(json_path.read_text())["regressions"] == ["master.val_accuracy"]
    assert markdown_path.read_text().startswith("# Regression gate: REGRESSION")
    broken = {**comparison, "verdict": "maybe"}
    with pytest.raises(ValueError, match=r"\$.verdict"):
        write_comparison(broken, tmp_path)


@pytest.mark.parametrize("mapping, message", [
    ({"accuracy": -0.1}, "tolerances.accuracy is -0.1; expected a finite number in [0, 1]"),
    ({"latency": float("nan")}, "tolerances.latency is nan"),
    ({"speed": 0.1}, "unknown tolerance 'speed'"),
    ([0.1], "expected a mapping of accuracy"),
])
def test_tolerances_refuse_bad_values(mapping, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        Tolerances.from_mapping(mapping, "gate.yaml")


def test_tolerances_from_a_file_then_the_command_line(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text("accuracy: 0.02\nlatency: 0.3\n")
    tolerances = load_tolerances(path, ["latency=0.5"])
    assert (tolerances.accuracy, tolerances.latency, tolerances.size) == (0.02, 0.5, Tolerances().size)
    with pytest.raises(ConfigError, match="--tolerance is 'latency'; expected KIND=VALUE"):
        load_tolerances(None, ["latency"])
    with pytest.raises(ConfigError, match="--tolerance latency is 'fast'; expected a number"):
        load_tolerances(None, ["latency=fast"])
    with pytest.raises(ConfigError, match="--tolerances: cannot read"):
        load_tolerances(tmp_path / "missing.yaml")


@pytest.fixture(scope="module")
def configured_bundle(tmp_path_factory):
    from tests.support import tflite_fixtures as tfx

    return tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("compare") / "bundle")


def test_the_command_passes_an_unchanged_copy_and_fails_a_loosened_one(configured_bundle, tmp_path, capsys):
    from mmnet.cli.compare import EXIT_REGRESSION
    from mmnet.cli.main import main
    from tests.support.tflite_fixtures import write_retuned_bundle

    copy_dir = tmp_path / "copy"
    shutil.copytree(configured_bundle, copy_dir)
    assert main(["compare", str(configured_bundle), str(copy_dir), "--out", str(tmp_path / "same")]) == 0
    assert "regression gate: PASS" in capsys.readouterr().out

    config = json.loads((configured_bundle / "runtime_config.json").read_text())
    system = next(iter(config["systems"]))
    accuracy = config["systems"][system]["modes"]["normal"]["test"]["accuracy"]
    worse = write_retuned_bundle(configured_bundle, tmp_path / "worse", {
        "normal": {"test": {"accuracy": max(0.0, accuracy - 0.2), "recovery_rate": 0.0}}})
    code = main(["compare", str(configured_bundle), str(worse), "--out", str(tmp_path / "gate")])
    out = capsys.readouterr().out
    assert code == EXIT_REGRESSION, out
    assert f"systems.{system}.normal.test.accuracy" in out
    report = json.loads((tmp_path / "gate" / "compare.json").read_text())
    assert f"systems.{system}.normal.test.accuracy" in report["regressions"]
    assert _row(report, f"systems.{system}.normal.test.recovery_rate")["status"] in ("improved", "unchanged")


def test_the_command_names_a_missing_or_broken_bundle_and_its_log(configured_bundle, tmp_path, capsys):
    from mmnet.cli.main import main

    assert main(["compare", str(configured_bundle), str(tmp_path / "nowhere"), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mmnet compare: error: candidate {tmp_path / 'nowhere'} is not a directory")
    assert f"(details: {tmp_path / 'g' / 'compare.log'})" in err and "Traceback" not in err

    broken = tmp_path / "broken"
    shutil.copytree(configured_bundle, broken)
    (broken / "runtime_config.json").write_text("{}")
    assert main(["compare", str(broken), str(configured_bundle), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mmnet compare: error: baseline {broken} does not verify:") and "runtime_config.file" in err
    assert "Traceback" in (tmp_path / "g" / "compare.log").read_text() and "Traceback" not in err


def test_the_build_gate_checksums_its_report_inside_the_staged_bundle(configured_bundle, tmp_path):
    from mmnet.format.bundle import load_bundle
    from mmnet.format.compare import read_snapshot
    from mmnet.pipeline.bundle import gate_bundle

    staging = tmp_path / ".bundle.staging-1"
    shutil.copytree(configured_bundle, staging)
    manifest = json.loads((staging / "manifest.json").read_text())
    gate_bundle(staging, tmp_path / "bundle", manifest, read_snapshot(configured_bundle), Tolerances(), tmp_path / "work")
    assert {"report/compare.json", "report/compare.md"} <= set(load_bundle(staging).checksummed_files)
    report = json.loads((staging / "report" / "compare.json").read_text())
    assert report["verdict"] == "pass" and report["candidate"]["path"] == str(tmp_path / "bundle")
    assert not (tmp_path / "work").exists()


def test_a_bundle_without_a_report_folder_gets_its_gate_report_in_the_work_dir(configured_bundle, tmp_path):
    from mmnet.format.compare import read_snapshot
    from mmnet.pipeline.bundle import gate_bundle
    from tests.support.tflite_fixtures import write_fixture_bundle

    staging = write_fixture_bundle(tmp_path / "staging")  # as when configuring the runtime failed
    manifest = json.loads((staging / "manifest.json").read_text())
    gate_bundle(staging, tmp_path / "bundle", manifest, read_snapshot(configured_bundle), Tolerances(), tmp_path / "work")
    report = json.loads((tmp_path / "work" / "compare" / "compare.json").read_text())
    assert report["verdict"] == "pass" and report["counts"]["removed"] > 10  # the system metrics: removed, not failed
    assert report["notes"] == ["the candidate has no runtime config: its system metrics are not compared"]
    assert not (staging / "report").exists()
