"""``mmnet bench`` for real on the fixture bundle (servers and shaped links on loopback): the results document,
its tables and plots, the verdict on a noisy run, the schema; and the command in a child process.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmnet.benchmarks.bench import ResultsError, run_bench, validate_results
from mmnet.benchmarks.bench_report import agreement_rows, to_markdown, verdict_rows
from mmnet.benchmarks.bench_systems import network_profile
from mmnet.runtime.network import transfer_latency_ms
from tests.support import tflite_fixtures as tfx

pytestmark = pytest.mark.server  # a real run serves the master from a child process, through shaped links

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    """The master takes 5 ms on the device per the manifest, so the minion pays off and no profile puts it in the cloud."""
    return tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("bench") / "tiny")


@pytest.fixture(scope="module")
def bench_run(bundle_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-out") / "results"
    run_bench(bundle_dir, out, fanout=False, progress=False)
    return json.loads((out / "results.json").read_text()), out


def _get(doc, **keys):
    [record] = [r for r in doc["records"] if all(r[k] == v for k, v in keys.items())]
    return record


def test_a_real_run_writes_valid_results_tables_and_plots(bench_run, bundle_dir):
    doc, out = bench_run
    validate_results(doc)
    assert doc["schema_version"] == "1.2" and doc["shaper"] == "asyncio-proxy (mmnet)"
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["litert"]["version"]
    assert len(doc["records"]) == 5 * 3 * 4 * 2  # system x profile x mode x path
    assert {p for p in doc["plots"]} == {"bench_3g.png", "bench_lte.png", "bench_wifi.png", "normalised.png"}
    for name in doc["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "results.md").read_text()
    for heading in ("## Verdict", "## Latency and energy normalised to cloud-only", "## Measured vs analytical",
                    "## Beside the paper", "### Beside Table 5.5", "### Beside Fig 5.6",
                    "## What the selector chose, and why", "## int8 vs float16 vs float32", "## Runtime decision overhead"):
        assert heading in markdown
    assert _get(doc, system="cloud-only", profile="3g", mode="private", path="measured")["applicable"] is False


def test_every_measured_cloud_request_crossed_the_shaped_link(bench_run, bundle_dir):
    doc, _ = bench_run
    config = json.loads((bundle_dir / "runtime_config.json").read_text())
    frames = doc["network"]["frames"]["measured"]
    for profile in ("3g", "lte", "wifi"):
        net = network_profile(config, profile)
        measured = _get(doc, system="cloud-only", profile=profile, mode="normal", path="measured")
        requests = measured["cloud_requests"]
        assert requests["count"] == frames and requests["failed"] == 0 and measured["path_counts"] == {"master_cloud": frames}
        # The link carried the requests (warm-up included), and shaping held: never faster than RTT + bytes / rate.
        link = doc["links"][profile]
        assert link["bytes_up"] >= requests["up_bytes_mean"] * frames > 0 and link["connections"] >= 1
        floor = transfer_latency_ms(net, int(requests["up_bytes_mean"]), int(requests["down_bytes_mean"]))
        # The upper bound is generous: a loaded 2-core host adds scheduling delay, never removes any.
        assert floor <= measured["latency_ms"]["p50"] < floor + 100.0
        assert measured["breakdown"]["energy_mj"]["transfer"] > 0 and measured["breakdown"]["energy_mj"]["master"] == 0
        # The analytical path charges exactly the model's transfer time, plus real compute.
        analytical = _get(doc, system="cloud-only", profile=profile, mode="normal", path="analytical")
        modelled = transfer_latency_ms(net, config["upload"]["bytes"], config["upload"]["reply_bytes"])
        assert modelled <= analytical["latency_ms"]["p50"] < modelled + 20.0
        assert analytical["breakdown"]["latency_ms"]["transfer"] == pytest.approx(modelled, abs=0.5)
    mobile = _get(doc, system="mobile-only", profile="3g", mode="normal", path="measured")
    assert mobile["cloud_requests"]["count"] == 0 and mobile["breakdown"]["energy_mj"]["transfer"] == 0
    # The hybrid keeps the master on the device; forced into the cloud it sends its recoveries there.
    assert {row["system"] for row in agreement_rows(doc) if row["request_ms"] is not None} <= {"cloud-only", "hybrid-cloud"}
    assert "cloud-only" in {row["system"] for row in agreement_rows(doc) if row["request_ms"] is not None}


def test_runs_are_measured_round_robin_and_report_their_noise(bench_run):
    doc, out = bench_run
    method = doc["method"]
    runs = {r["run"]: r for r in doc["records"] if r["applicable"]}
    counts = [r["passes"]["count"] for r in runs.values()]
    assert method["rounds"] == max(counts) == len(method["round_s"]) and min(counts) >= 1
    spreads = 0
    for record in runs.values():
        passes = record["passes"]
        assert len(passes["latency_mean_ms"]) == passes["count"]
        assert (passes["spread"] is None) == (passes["count"] == 1)
        means = passes["latency_mean_ms"]
        if passes["spread"] is not None:
            spreads += 1
            assert passes["spread"] == pytest.approx((max(means) - min(means)) / float(np.median(means)))
        ran = record["path_counts"].get("minions", 0) + record["path_counts"].get("minions_unchecked", 0)
        assert sum(record["minion_systems"].values()) >= ran
    assert spreads > 0, "no run made two passes, so no spread was checked"  # mobile-only's passes take milliseconds
    assert sum(runs["mobile-only"]["minion_systems"].values()) == 0
    assert f"{method['rounds']} rounds of" in (out / "results.md").read_text()


def test_a_no_from_a_run_whose_minions_were_slow_is_called_noise(bench_run):
    """A hybrid run slower than mobile-only gets a NO with the numbers; if its minions also took far longer than the
    same minions in the other runs, the verdict says the host was slow during that run."""
    doc = copy.deepcopy(bench_run[0])
    [hybrid] = [r for r in doc["records"]
                if (r["system"], r["profile"], r["mode"], r["path"]) == ("hybrid", "3g", "normal", "analytical")]
    assert hybrid["minion_systems"], "the fixture's hybrid runs its minion"
    mobile_ms = _get(doc, system="mobile-only", profile="3g", mode="normal", path="analytical")["latency_ms"]["mean"]
    hybrid["latency_ms"]["mean"] = 2 * mobile_ms
    for record in doc["records"]:  # passes this far apart would put even 2× inside the noise
        if record["applicable"]:
            record["passes"]["spread"] = None
    minion_frames = sum(hybrid["minion_systems"].values())

    def verdict(minion_ms_per_frame):
        hybrid["breakdown"]["latency_ms"]["minion"] = minion_ms_per_frame * minion_frames / hybrid["frames"]
        [row] = [r for r in verdict_rows(doc) if (r["profile"], r["mode"], r["path"]) == ("3g", "normal", "analytical")]
        [line] = [line for line in to_markdown(doc).splitlines() if line.startswith("- **3g, normal, analytical:")]
        return row, line

    row, _ = verdict(1.0)
    elsewhere = row["minion_ms_elsewhere"]
    assert row["minion_ms"] == pytest.approx(1.0) and row["minion_runs_elsewhere"] >= 3 and elsewhere > 0
    row, line = verdict(elsewhere)  # as fast as elsewhere: a real NO
    assert not row["beats_mobile"] and row["status"] == "slower" and not row["same_work"]
    assert line.startswith("- **3g, normal, analytical: NO.**") and "measurement noise" not in line
    row, line = verdict(2 * elsewhere)
    assert "2.0× the" in line and "this NO is measurement noise rather than the system" in line


def test_the_measured_path_sends_frames_in_the_configs_encoding(bundle_dir):
    """MeasuredCloud uploads a frame as the runtime config's upload.encoding says (the encoding its upload.bytes were
    measured in), not always as PNG: a JPEG config's request carries the JPEG body, byte for byte."""
    from mmnet.benchmarks.bench_systems import MeasuredCloud
    from mmnet.benchmarks.shaped_link import LinkShape, ShapedLink
    from mmnet.format.bundle import load_bundle
    from mmnet.runtime.remote import request_body
    from mmnet.server.launch import running_server_process

    bundle = load_bundle(bundle_dir)
    frames, _ = bundle.load_split("test")
    frame = frames[0]
    sent = {}
    with running_server_process(bundle.path, threads=1) as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with ShapedLink(host, int(port), LinkShape(up_mbps=1e5, down_mbps=1e5, one_way_delay_ms=0.0)) as link:
            for encoding in ("png", "jpeg"):
                upload = {"encoding": encoding, "jpeg_quality": 50, "server_ms": 0.0}
                cloud = MeasuredCloud(link, 0.0, upload, bundle.name, bundle.num_classes)
                try:
                    cloud.predict(frame)
                    [request] = cloud.take()
                finally:
                    cloud.close()
                sent[encoding] = request.up_bytes - len(request_body(frame, encoding, 50))  # the HTTP head
    assert len(request_body(frame, "png")) != len(request_body(frame, "jpeg", 50))
    # Both requests carried their own body and the same HTTP head (give or take Content-Length's digits).
    assert abs(sent["jpeg"] - sent["png"]) <= 2 and 0 < sent["png"] < 1024


@pytest.mark.parametrize("break_it, fragment", [
    (lambda d: d.pop("records"), "'records' is a required property"),
    (lambda d: d["records"][0].update(system="edge-only"), "edge-only"),
    (lambda d: d["records"][0]["latency_ms"].pop("p95"), "'p95' is a required property"),
    (lambda d: next(r for r in d["records"] if not r["applicable"]).pop("reason"), "'reason' is a required property"),
    (lambda d: d["records"][0].update(accuracy=1.5), "1.5"),
    (lambda d: d.update(schema_version="1.1"), "1.2"),
])
def test_bad_results_documents_are_rejected(bench_run, break_it, fragment):
    doc = copy.deepcopy(bench_run[0])
    break_it(doc)
    with pytest.raises(ResultsError, match="^results: ") as e:
        validate_results(doc)
    assert fragment in str(e.value)


# --------------------------------------------------------------------------------------------
# CLI


def _mmnet(*args):
    return subprocess.run([sys.executable, "-m", "mmnet", *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_missing_bundle_is_one_line_and_exit_2(tmp_path):
    result = _mmnet("bench", str(tmp_path / "nothing"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("mmnet bench: error: ") and "manifest" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--measured-frames", "0"], "--measured-frames is 0"),
    (["--out", "FILE"], "exists and is not a directory"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, bundle_dir, args, fragment):
    (tmp_path / "file").write_text("x")
    out = ["--out", str(tmp_path / "out")] if "--out" not in args else []
    args = [str(tmp_path / "file") if a == "FILE" else a for a in args]
    result = _mmnet("bench", str(bundle_dir), *out, *args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and fragment in result.stderr, result.stderr


def test_the_cli_imports_no_heavy_module_for_bench():
    code = ("import sys, mmnet.cli; mmnet.cli.build_parser(); "
            "print(sorted(m for m in ('tensorflow', 'matplotlib', 'apache_beam', 'uvicorn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
