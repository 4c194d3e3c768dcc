"""``mmnet bench`` (benchmarks/bench*.py): energy arithmetic, run plan, pass scheduling, normalisation, a real run,
the verdict on a noisy run, schema, CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmnet.benchmarks.bench import ResultsError, run_bench, validate_results
from mmnet.benchmarks.bench_report import agreement_rows, normalised_rows, to_markdown, verdict_rows
from mmnet.benchmarks.bench_systems import (Request, energy_parts, interleave, network_profile, plan_runs, radio_energy_mj,
                                      wants_pass)
from mmnet.runtime.network import NetworkProfile, RadioPowerModel, transfer_energy_mj, transfer_latency_ms
from tests.unit import tflite_fixtures as tfx

REPO = Path(__file__).resolve().parents[2]


def _profile() -> NetworkProfile:
    """2 Mbps up, 4 Mbps down, 50 ms RTT; P_up = 400*2 + 1000 = 1800 mW, P_down = 50*4 + 1000 = 1200 mW."""
    return NetworkProfile(name="hand", uplink_mbps=2.0, downlink_mbps=4.0, rtt_ms=50.0,
                          power=RadioPowerModel(400.0, 50.0, 1000.0), source="hand-made for tests")


def test_energy_of_a_frame_by_hand():
    # One cloud request: 1000 B up take 1000*8/2e3 = 4 ms at 1800 mW = 7.2 mJ; 500 B down take 500*8/4e3 = 1 ms at
    # 1200 mW = 1.2 mJ; the radio was busy 60 ms, so 60 - 5 = 55 ms wait at beta 1000 mW = 55 mJ. Radio: 63.4 mJ.
    request = Request(up_bytes=1000, down_bytes=500, duration_ms=60.0, server_ms=0.3, ok=True)
    assert radio_energy_mj(_profile(), request) == pytest.approx(63.4)
    # Two minions (0.1 + 0.2 mJ from the device profile) ran; the master ran in the cloud, not on the device.
    parts = energy_parts(["m1", "m2"], None, [request], {"m1": 0.1, "m2": 0.2, "master": 5.0}, _profile())
    assert parts == pytest.approx({"minion": 0.3, "master": 0.0, "transfer": 63.4})
    assert sum(parts.values()) == pytest.approx(63.7)
    # The master on the device instead: its 5 mJ, no radio.
    assert energy_parts(["m1"], "master", [], {"m1": 0.1, "master": 5.0}, _profile()) == pytest.approx(
        {"minion": 0.1, "master": 5.0, "transfer": 0.0})


def test_radio_energy_of_a_modelled_request_is_the_runtimes_estimate():
    """With the modelled duration (transfer + RTT + server time) it is network.transfer_energy_mj with wait = RTT + server."""
    profile, server_ms = _profile(), 0.7
    duration = transfer_latency_ms(profile, 634, 515) + server_ms
    expected = transfer_energy_mj(profile, 634, 515, wait_ms=profile.rtt_ms + server_ms)
    assert radio_energy_mj(profile, Request(634, 515, duration, server_ms, True)) == pytest.approx(expected)


def _config_doc() -> dict:
    modes = {"normal": {"cloud": True}, "power_saving": {"cloud": True}, "private": {"cloud": False},
             "mission_critical": {"cloud": True}}
    return {"modes": modes, "default_profile": "lte", "network_profiles": {"3g": {}, "lte": {}, "wifi": {}}}


def test_plan_fills_every_record_with_the_fewest_runs():
    slots = plan_runs(_config_doc())
    assert len(slots) == 3 * 3 * 4 * 2  # system x profile x mode x path: every record, none dropped
    keys = {(s.system, s.profile, s.mode, s.path) for s in slots}
    assert len(keys) == len(slots)
    runs = {s.run for s in slots if s.run is not None}
    # mobile-only once; cloud-only per profile and path; hybrid per profile, mode and path, but one run for
    # both paths of the mode that never leaves the device.
    assert len(runs) == 1 + 3 * 2 + 3 * (3 * 2 + 1)
    private_cloud = [s for s in slots if s.system == "cloud-only" and s.mode == "private"]
    assert len(private_cloud) == 6 and all(s.run is None and "never leaves the device" in s.note for s in private_cloud)
    assert {s.run.key for s in slots if s.system == "mobile-only"} == {"mobile-only"}
    private_hybrid = {s.run for s in slots if s.system == "hybrid" and s.mode == "private" and s.profile == "3g"}
    assert len(private_hybrid) == 1 and next(iter(private_hybrid)).path is None


def test_passes_go_round_robin_each_run_within_its_own_budget():
    """Pass 1 of every run, then pass 2 of those that want another, ...; a run stops at 5 passes or when one more
    (as long as its mean pass) would take its own pass time past the budget, whatever the others take."""
    seconds = {"fast": 0.1, "mid": 4.0, "slow": 20.0, "exact": 2.5}
    order = []

    def make_pass(job):
        order.append(job)
        return seconds[job]

    rounds = interleave(list(seconds), make_pass, passes=5, budget_s=10.0)
    # mid: 4 s, then 8 s, and a third would make 12 s; exact: 4 x 2.5 s = 10 s is within the budget; slow: only its first.
    assert order == ["fast", "mid", "slow", "exact", "fast", "mid", "exact", "fast", "exact", "fast", "exact", "fast"]
    assert len(rounds) == 5 and all(r >= 0 for r in rounds)
    assert wants_pass([]) and not wants_pass([0.1] * 5, passes=5) and not wants_pass([6.0], budget_s=10.0)
    assert interleave([], make_pass) == []


def _record(system, mode, path, latency, energy, applicable=True):
    if not applicable:
        return {"system": system, "profile": "lte", "mode": mode, "path": path, "applicable": False, "reason": "never leaves"}
    return {"system": system, "profile": "lte", "mode": mode, "path": path, "applicable": True, "accuracy": 0.99,
            "latency_ms": {"mean": latency}, "energy_mj_per_frame": energy}


def test_normalisation_to_cloud_only():
    records = [
        _record("cloud-only", "normal", "analytical", 100.0, 50.0),
        _record("mobile-only", "normal", "analytical", 40.0, 60.0),
        _record("hybrid", "normal", "analytical", 20.0, 10.0),
        _record("cloud-only", "private", "analytical", 0, 0, applicable=False),
        _record("mobile-only", "private", "analytical", 40.0, 60.0),
        _record("hybrid", "private", "analytical", 25.0, 12.0),
    ]
    rows = normalised_rows(records, "analytical")
    assert [(r["profile"], r["mode"]) for r in rows] == [("lte", "normal"), ("lte", "private")]
    normal = rows[0]["systems"]
    assert normal["cloud-only"]["latency_norm"] == 1.0 and normal["cloud-only"]["speedup"] == 1.0
    assert normal["hybrid"]["latency_norm"] == pytest.approx(0.2) and normal["hybrid"]["speedup"] == pytest.approx(5.0)
    assert normal["hybrid"]["energy_norm"] == pytest.approx(0.2) and normal["hybrid"]["energy_change"] == pytest.approx(-0.8)
    assert normal["mobile-only"]["speedup"] == pytest.approx(2.5) and normal["mobile-only"]["energy_change"] == pytest.approx(0.2)
    private = rows[1]
    assert private["systems"]["cloud-only"] is None and private["cloud_reason"] == "never leaves"
    assert private["systems"]["hybrid"]["latency_ms"] == 25.0 and private["systems"]["hybrid"]["speedup"] is None


# --------------------------------------------------------------------------------------------
# A real run on the fixture bundle


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
    assert doc["schema_version"] == "1.1" and doc["shaper"] == "asyncio-proxy (mmnet)"
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["litert"]["version"]
    assert len(doc["records"]) == 3 * 3 * 4 * 2
    assert {p for p in doc["plots"]} == {"bench_3g.png", "bench_lte.png", "bench_wifi.png", "normalised.png"}
    for name in doc["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "results.md").read_text()
    for heading in ("## Verdict", "## Latency and energy normalised to cloud-only", "## Measured vs analytical",
                    "## Against the paper's headline numbers", "## int8 vs float16 vs float32", "## Runtime decision overhead"):
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
        assert floor <= measured["latency_ms"]["p50"] < floor + 50.0
        assert measured["breakdown"]["energy_mj"]["transfer"] > 0 and measured["breakdown"]["energy_mj"]["master"] == 0
        # The analytical path charges exactly the model's transfer time, plus real compute.
        analytical = _get(doc, system="cloud-only", profile=profile, mode="normal", path="analytical")
        modelled = transfer_latency_ms(net, config["upload"]["bytes"], config["upload"]["reply_bytes"])
        assert modelled <= analytical["latency_ms"]["p50"] < modelled + 5.0
        assert analytical["breakdown"]["latency_ms"]["transfer"] == pytest.approx(modelled, abs=0.5)
    mobile = _get(doc, system="mobile-only", profile="3g", mode="normal", path="measured")
    assert mobile["cloud_requests"]["count"] == 0 and mobile["breakdown"]["energy_mj"]["transfer"] == 0
    assert {row["system"] for row in agreement_rows(doc) if row["request_ms"] is not None} == {"cloud-only"}


def test_runs_are_measured_round_robin_and_report_their_noise(bench_run):
    doc, out = bench_run
    method = doc["method"]
    runs = {r["run"]: r for r in doc["records"] if r["applicable"]}
    counts = [r["passes"]["count"] for r in runs.values()]
    assert method["rounds"] == max(counts) == len(method["round_s"]) and min(counts) >= 1
    for record in runs.values():
        passes = record["passes"]
        assert len(passes["latency_mean_ms"]) == passes["count"]
        assert (passes["spread"] is None) == (passes["count"] == 1)
        means = passes["latency_mean_ms"]
        if passes["spread"] is not None:
            assert passes["spread"] == pytest.approx((max(means) - min(means)) / float(np.median(means)))
        ran = record["path_counts"].get("minions", 0) + record["path_counts"].get("minions_unchecked", 0)
        assert sum(record["minion_systems"].values()) >= ran
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
    minion_frames = sum(hybrid["minion_systems"].values())

    def verdict(minion_ms_per_frame):
        hybrid["breakdown"]["latency_ms"]["minion"] = minion_ms_per_frame * minion_frames / hybrid["frames"]
        [row] = [r for r in verdict_rows(doc) if (r["profile"], r["path"]) == ("3g", "analytical")]
        [line] = [line for line in to_markdown(doc).splitlines() if line.startswith("- **3g, analytical:")]
        return row, line

    row, _ = verdict(1.0)
    elsewhere = row["minion_ms_elsewhere"]
    assert row["minion_ms"] == pytest.approx(1.0) and row["minion_runs_elsewhere"] >= 3 and elsewhere > 0
    row, line = verdict(elsewhere)  # as fast as elsewhere: a real NO
    assert not row["beats_mobile"] and line.startswith("- **3g, analytical: NO.**") and "noise" not in line
    row, line = verdict(2 * elsewhere)
    assert "2.0× the" in line and "this NO is measurement noise rather than the system" in line


@pytest.mark.parametrize("break_it, fragment", [
    (lambda d: d.pop("records"), "'records' is a required property"),
    (lambda d: d["records"][0].update(system="edge-only"), "edge-only"),
    (lambda d: d["records"][0]["latency_ms"].pop("p95"), "'p95' is a required property"),
    (lambda d: next(r for r in d["records"] if not r["applicable"]).pop("reason"), "'reason' is a required property"),
    (lambda d: d["records"][0].update(accuracy=1.5), "1.5"),
    (lambda d: d.update(schema_version="1.0"), "1.1"),
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
