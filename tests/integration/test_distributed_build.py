"""The build on a real distributed engine, its stage cache and its resume after kill -9.

One reduced digits grid (a distilled ResNet master, two minions, two epochs, float32 + int8):

- built by the DirectRunner (two worker processes), then by Beam's Dask runner on a
  ``distributed.LocalCluster`` of two worker processes on 127.0.0.1: the manifests are equal except
  for timings and host measurements, and the build's own events show every model trained once;
- rebuilt with nothing changed: every stage a cache hit (the speed-up is printed, not asserted), and
  the regression gate (``--compare`` with the previous bundle, which is the same out dir) passes;
  a copy reconfigured with loosened accuracy targets fails ``mmnet compare`` naming an accuracy;
- rebuilt with one more minion family: only the new variant trains;
- ``mmnet build`` killed with SIGKILL (the whole process group) at three points (a model half-trained,
  before any export; mid-fan-out; while the bundle is written), then rerun: the half-written output
  never verifies, the rerun completes and reuses what was published.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mmnet.format.bundle import load_bundle
from mmnet.pipeline.build import cache_statistics, run_build
from mmnet.pipeline.config import config_from_mapping
from mmnet.pipeline.progress import read_events
from tests.support.dask_cluster import local_cluster

pytestmark = [pytest.mark.slow]

DASK_RUNNER = "--runner=apache_beam.runners.dask.dask_runner.DaskRunner"

GRID = {
    "name": "digits-distributed",
    "dataset": {"source": "builtin:digits"},
    "master": {"family": "resnet", "alpha": 0.25, "resolution": 8},
    "minions": {"families": ["mobilenet_v2", "mnasnet"], "alphas": [0.25], "resolutions": [8]},
    "training": {"epochs": 2, "master_epochs": 2, "distillation": {"enabled": True, "temperature": 4.0, "weight": 0.7}},
    "export": {"precisions": ["float32", "int8"], "representative_samples": 50},
    "beam": {"num_workers": 2},
    "runtime": {"latency_model": False},  # its per-layer timings take minutes on a loaded 2-core machine
}

# Measured on the build host or derived from those measurements: they differ between any two builds.
_HOST_FIELDS = ("host_latency_ms",)
_BUILD_FIELDS = ("duration_s", "runner", "beam_args", "latency_model", "git_commit")


def comparable(manifest: dict) -> dict:
    """The manifest without timings, host measurements and what is computed from them (the runtime config)."""
    models = [{k: v for k, v in m.items() if k not in _HOST_FIELDS} for m in manifest["models"]]
    build = {k: v for k, v in manifest["build"].items() if k not in _BUILD_FIELDS}
    return {**{k: v for k, v in manifest.items() if k not in ("created_utc", "runtime_config", "report", "model_card")},
            "models": models, "build": build}


def differences(a, b, path: str = "") -> list[str]:
    """Where two JSON documents differ, as dotted paths with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:200]} != {str(b)[:200]}"]


def _events(bundle_dir: Path) -> list[dict]:
    return read_events(bundle_dir.parent / f".{bundle_dir.name}.work" / "events")


def _trained_once(bundle_dir: Path, count: int) -> None:
    """Each model trained (not found in the cache) exactly once: the build's own events say so.

    With distillation the master is trained by the first graph and found in the cache by the second.
    """
    trained = [e["item"] for e in _events(bundle_dir) if e["stage"] == "train" and e["state"] == "done" and not e["cached"]]
    assert len(trained) == count and len(set(trained)) == count, trained


@pytest.fixture(scope="module")
def direct_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("direct")
    started = time.monotonic()
    result = run_build(config_from_mapping(GRID), root / "bundle", progress=False)
    return result, root, time.monotonic() - started


def test_dask_runner_builds_the_same_bundle_training_each_model_once(direct_build, tmp_path):
    direct, _, _ = direct_build
    _trained_once(direct.bundle_dir, 3)
    with local_cluster(2, tmp_path / "cluster.log") as address:
        dask = run_build(config_from_mapping(GRID), tmp_path / "bundle", progress=False,
                         extra_beam_args=[DASK_RUNNER, f"--dask_client_address={address}"])
    assert dask.manifest["build"]["runner"].endswith("DaskRunner")
    assert "--dask_partition_size=1" in dask.manifest["build"]["beam_args"]
    load_bundle(dask.bundle_dir)  # schema and checksums
    _trained_once(dask.bundle_dir, 3)
    assert dask.cache["train"] == {"items": 3, "hits": 1, "misses": 3}  # the hit: the master, reused by the second graph
    assert dask.cache["evaluate"] == {"items": 6, "hits": 0, "misses": 6}
    assert dask.failures == [] and dask.manifest["runtime_config"] is not None
    assert not differences(comparable(direct.manifest), comparable(dask.manifest))


def test_a_rerun_is_all_cache_hits_and_a_new_minion_trains_alone(direct_build):
    first, root, first_s = direct_build
    started = time.monotonic()
    again = run_build(config_from_mapping(GRID), root / "bundle", progress=False, compare_to=root / "bundle")
    again_s = time.monotonic() - started
    print(f"\nfirst build {first_s:.1f} s, unchanged rebuild {again_s:.1f} s: {first_s / again_s:.1f}x faster")
    assert again.cache and all(counts["misses"] == 0 and counts["hits"] >= 1 for counts in again.cache.values()), again.cache
    assert not differences(comparable(first.manifest), comparable(again.manifest))
    _gate_passes_an_unchanged_rebuild_and_catches_loosened_thresholds(again, root)

    grown = {**GRID, "minions": {**GRID["minions"], "families": ["mobilenet_v2", "mnasnet", "lenet5"]}}
    grown_result = run_build(config_from_mapping(grown), root / "bundle", progress=False)
    trained = [e["item"] for e in _events(grown_result.bundle_dir) if e["stage"] == "train" and e["state"] == "done"
               and not e["cached"]]
    assert trained == ["lenet5-a0.25-r8"]
    assert grown_result.cache["train"] == {"items": 4, "hits": 3, "misses": 1}
    assert grown_result.cache["teacher"] == {"items": 1, "hits": 1, "misses": 0}
    assert grown_result.cache["export"]["misses"] == 2  # the new minion's two precisions only


def _gate_passes_an_unchanged_rebuild_and_catches_loosened_thresholds(rebuilt, root: Path) -> None:
    """The gate of the unchanged rebuild (against the bundle it replaced) passed and its report is part of the
    bundle; a copy reconfigured with loosened targets (`mmnet configure`: thresholds fitted to accept more minion
    answers) fails `mmnet compare` with exit 3, naming an accuracy."""
    assert rebuilt.comparison["verdict"] == "pass", rebuilt.comparison["regressions"]
    assert rebuilt.comparison["counts"]["regressed"] == 0 and rebuilt.comparison["counts"]["unchanged"] > 10
    report = rebuilt.comparison_dir
    assert report == rebuilt.bundle_dir / "report" and (report / "compare.md").read_text().startswith("# Regression gate: PASS")
    bundle = load_bundle(rebuilt.bundle_dir)  # the report is checksummed with the rest
    assert "report/compare.json" in bundle.checksummed_files

    loosened = root / "loosened"
    shutil.copytree(rebuilt.bundle_dir, loosened)
    config_path = root / "loosened.yaml"
    config_path.write_text(yaml.safe_dump({**GRID, "runtime": {**GRID["runtime"],
                                                               "targets": {"normal": 0.8, "power_saving": 0.75}}}))
    mmnet = [sys.executable, "-m", "mmnet"]
    configure = subprocess.run([*mmnet, "configure", str(loosened), "--config", str(config_path)],
                               capture_output=True, text=True, timeout=600)
    assert configure.returncode == 0, configure.stderr
    gate = subprocess.run([*mmnet, "compare", str(rebuilt.bundle_dir), str(loosened), "--out", str(root / "gate")],
                          capture_output=True, text=True, timeout=300)
    assert gate.returncode == 3, gate.stdout + gate.stderr
    regressions = json.loads((root / "gate" / "compare.json").read_text())["regressions"]
    assert any(metric.endswith(".accuracy") for metric in regressions), regressions
    assert "regression gate: REGRESSION" in gate.stdout and regressions[0] in gate.stdout

    # The other way round through `mmnet build --compare`: against the loosened bundle the rebuild (all cache hits)
    # sends more frames to the master, so its recovery rate regressed; the bundle is still published.
    grid_path = root / "grid.yaml"
    grid_path.write_text(yaml.safe_dump(GRID))
    build = subprocess.run([*mmnet, "build", "--config", str(grid_path), "--out", str(rebuilt.bundle_dir), "--quiet",
                            "--compare", str(loosened)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 3, build.stdout + build.stderr
    published = json.loads((rebuilt.bundle_dir / "report" / "compare.json").read_text())
    assert published["verdict"] == "regression" and published["baseline"]["path"] == str(loosened)
    assert any(metric.endswith(".recovery_rate") for metric in published["regressions"]), published["regressions"]
    assert "regression gate: REGRESSION" in build.stdout
    load_bundle(rebuilt.bundle_dir)


def _build_command(config_path: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "mmnet", "build", "--config", str(config_path), "--out", str(out), "--quiet"]


def _event(events_dir: Path, stage: str, state: str) -> Callable[[], bool]:
    return lambda: events_dir.exists() and any(e["stage"] == stage and e["state"] == state for e in read_events(events_dir))


def _kill_when(command: list[str], ready: Callable[[], bool], what: str, timeout_s: float = 600) -> None:
    """Starts ``command`` in its own process group and SIGKILLs the group as soon as ``ready()``."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if ready():
                break
            if process.poll() is not None:
                pytest.fail(f"the build ended (exit {process.returncode}) before {what}")
            time.sleep(0.05)
        else:
            pytest.fail(f"no {what} within {timeout_s} s")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _half_trained(train_dir: Path) -> list[Path]:
    """The stage cache's temporary directories of models being trained: made when a task starts computing,
    published (renamed onto the key) only once the trained model is saved in it."""
    return [p for p in train_dir.glob(".*.tmp-*") if p.is_dir()] if train_dir.is_dir() else []


def test_kill_9_then_rerun_completes_and_the_half_written_bundle_never_verifies(tmp_path):
    config_path = tmp_path / "grid.yaml"
    config_path.write_text(yaml.safe_dump({**GRID, "training": {**GRID["training"], "distillation": {"enabled": False}}}))
    out = tmp_path / "bundle"
    events = tmp_path / ".bundle.work" / "events"
    train_dir = tmp_path / ".bundle.work" / "stages" / "train"

    # A model being trained (its temporary entry made), nothing published or exported yet.
    _kill_when(_build_command(config_path, out), lambda: bool(_half_trained(train_dir)), "a model being trained")
    half = _half_trained(train_dir)
    assert half and not out.exists()
    assert not [p for p in train_dir.iterdir() if not p.name.startswith(".")], "no model should be published yet"
    assert not _event(events, "export", "start")()
    inspect = subprocess.run([sys.executable, "-m", "mmnet", "inspect", str(out)], capture_output=True, text=True)
    assert inspect.returncode == 2 and "Traceback" not in inspect.stderr, inspect.stderr

    _kill_when(_build_command(config_path, out), _event(events, "export", "done"), "export done")  # mid-fan-out
    assert not out.exists()
    assert not any(p.exists() for p in half), "the next build removes a killed build's temporary entries"
    # While the bundle is being written.
    _kill_when(_build_command(config_path, out), _event(events, "configure", "start"), "configure start")
    assert not out.exists()
    staging = sorted(tmp_path.glob(".bundle.staging-*"))
    assert staging, "the third kill should have left the bundle's staging directory"
    inspect = subprocess.run([sys.executable, "-m", "mmnet", "inspect", str(staging[0])], capture_output=True, text=True)
    assert inspect.returncode != 0, inspect.stdout
    assert "Traceback" not in inspect.stderr

    rerun = subprocess.run(_build_command(config_path, out), capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    load_bundle(out)
    stats = cache_statistics(events)
    assert stats["train"]["hits"] == 3 and stats["train"]["misses"] == 0, stats
    assert json.loads((out / "manifest.json").read_text())["failures"] == []
