"""A tiny multi-dsNN on digits end to end: designed, written as a bundle, verified, routed by the
TF-free runtime as the pipeline routed it, run by `mmnet run` and summarised by `mmnet inspect`.

One tail share (30%), two trainings per part, 12 epochs: about a minute of CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mmnet.format.bundle import load_bundle
from mmnet.pipeline.dsnn import data as datasets
from mmnet.pipeline.dsnn.make_bundle import build
from mmnet.pipeline.dsnn.partition import route_batch
from mmnet.runtime.multi_dsnn import MultiDsnnRunner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("dsnn") / "digits-dsnn"
    path, note = build("digits", out, budget=2, epochs=12, target=1.0, seed=0, tail_shares=(0.3,), three_way=False)
    assert "2-way, tail 30%" in note
    return path


def _mmnet(*args):
    return subprocess.run([sys.executable, "-m", "mmnet", *args], capture_output=True, text=True, timeout=120)


def test_the_bundle_verifies_and_routes_as_the_pipeline_did(bundle_dir):
    bundle = load_bundle(bundle_dir)
    system = bundle.multi_dsnn
    assert system is not None and system.case == "fc" and system.preprocessor_path is None
    assert bundle.runtime_config is None and bundle.models[0].role == "master"
    runner = MultiDsnnRunner(bundle)
    frames, labels = bundle.load_split("test")
    summary = runner.replay(frames, labels)
    # The runtime's features and routes are the design's: same normalisation, same tree rule.
    data = datasets.load("digits", seed=0)
    assert np.array_equal(frames, data.frames["test"])
    expected = route_batch(system.selector, data.inputs["test"])
    assert [r["part_index"] for r in summary["routes"]] == expected.tolist()
    assert set(summary["routed"]) == {"main", "tail"} and min(summary["routed"].values()) > 0  # both dsNNs ran
    # LiteRT's dsNNs answer as the Keras models the design measured (a frame's worth of slack for float ties).
    assert abs(summary["accuracy"] - system.document["metrics"]["test_accuracy"]) <= 1.0 / len(labels)
    mono = bundle.model(system.document["monolithic"])
    assert summary["mean_macs"] < mono.macs


def test_mmnet_run_and_inspect(bundle_dir, tmp_path):
    out = tmp_path / "summary.json"
    run = _mmnet("run", str(bundle_dir), "--split", "test", "--summary-json", str(out), "--trace", str(tmp_path / "t.jsonl"))
    assert run.returncode == 0, run.stderr
    assert "frames through the multi-dsNN (FC case)" in run.stdout
    summary = json.loads(out.read_text())
    assert summary["frames"] == 360 and summary["accuracy"] > 0.8
    first = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert first["route"]["reason"] == "routed" and first["route"]["part"] in ("main", "tail")
    inspect = _mmnet("inspect", str(bundle_dir))
    assert inspect.returncode == 0, inspect.stderr
    assert "multi-dsNN (FC case) replacing monolithic-float32" in inspect.stdout


def test_mmnet_bench_measures_the_system_beside_the_monolithic_network(bundle_dir, tmp_path):
    out = tmp_path / "bench"
    bench = _mmnet("bench", str(bundle_dir), "--out", str(out), "--passes", "2", "--frames", "60", "--quiet")
    assert bench.returncode == 0, bench.stderr
    doc = json.loads((out / "results.json").read_text())  # validated against its schema before it was written
    assert doc["kind"] == "multi_dsnn" and doc["frames"] == 60 and doc["passes"] == 2
    assert len(doc["monolithic"]["median_ms_per_pass"]) == len(doc["multi_dsnn"]["median_ms_per_pass"]) == 2
    assert sum(doc["multi_dsnn"]["routed"].values()) == 60
    bundle = load_bundle(bundle_dir)
    mono = bundle.model(bundle.multi_dsnn.document["monolithic"])
    assert doc["monolithic"]["macs"] == mono.macs and 0 < doc["macs_ratio"] < 1
    frames, labels = bundle.load_split("test")
    summary = MultiDsnnRunner(bundle).replay(frames[:60], labels[:60])
    assert doc["multi_dsnn"]["accuracy"] == summary["accuracy"] and doc["multi_dsnn"]["routed"] == summary["routed"]
    markdown = (out / "results.md").read_text()
    assert "multi-dsNN (FC case) vs monolithic" in markdown and "paper: ≤ 10%, mean 1.6%" in markdown


def test_a_tampered_dsnn_is_one_line_naming_the_file(bundle_dir, tmp_path):
    import shutil

    broken = shutil.copytree(bundle_dir, tmp_path / "broken")
    path = broken / "multi_dsnn" / "dsnn-tail.tflite"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    result = _mmnet("run", str(broken), "--split", "test")
    assert result.returncode == 2
    assert "dsnn-tail.tflite" in result.stderr and "sha256" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
