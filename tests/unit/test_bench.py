"""``mmnet bench`` (benchmarks/bench*.py) as functions: energy arithmetic, run plan, pass scheduling, normalisation.

A real run, its verdicts and schema, and the command are tested in tests/integration/test_bench.py.
"""

from __future__ import annotations

import pytest

from mmnet.benchmarks.bench_report import choice_sentence, noise_ms, normalised_rows, verdict_rows
from mmnet.benchmarks.bench_systems import (
    Request,
    energy_parts,
    interleave,
    plan_runs,
    radio_energy_mj,
    wants_pass,
)
from mmnet.runtime.network import NetworkProfile, RadioPowerModel, transfer_energy_mj, transfer_latency_ms


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
    modes = {"normal": {"cloud": True, "minions": True}, "power_saving": {"cloud": True, "minions": True},
             "private": {"cloud": False, "minions": True}, "mission_critical": {"cloud": True, "minions": False}}
    return {"modes": modes, "default_profile": "lte", "network_profiles": {"3g": {}, "lte": {}, "wifi": {}}}


def test_plan_fills_every_record_with_the_fewest_runs():
    slots = plan_runs(_config_doc())
    assert len(slots) == 5 * 3 * 4 * 2  # system x profile x mode x path: every record, none dropped
    keys = {(s.system, s.profile, s.mode, s.path) for s in slots}
    assert len(keys) == len(slots)
    runs = {s.run for s in slots if s.run is not None}
    # mobile-only once; cloud-only per profile and path; hybrid per profile, mode and path, but one run for
    # both paths of the mode that never leaves the device; hybrid-device once per mode with minions; hybrid-cloud per
    # profile, path and mode with minions that may use the cloud.
    assert len(runs) == 1 + 3 * 2 + 3 * (3 * 2 + 1) + 3 + 3 * 2 * 2
    by_key = {(s.system, s.profile, s.mode, s.path): s for s in slots}
    # Forced onto the device nothing depends on the link: one run per mode; a mode without minions is mobile-only's run.
    assert {by_key["hybrid-device", p, "normal", path].run.key for p in ("3g", "wifi") for path in ("analytical", "measured")} \
        == {"hybrid-device/normal"}
    mobile = by_key["mobile-only", "lte", "normal", "analytical"].run
    assert by_key["hybrid-device", "lte", "mission_critical", "measured"].run == mobile
    # Forced into the cloud: a run per profile and path; without minions it is cloud-only's run; private never leaves.
    assert by_key["hybrid-cloud", "3g", "normal", "measured"].run.key == "hybrid-cloud/3g/normal/measured"
    cloud_only = by_key["cloud-only", "3g", "normal", "measured"].run
    assert by_key["hybrid-cloud", "3g", "mission_critical", "measured"].run == cloud_only
    assert by_key["hybrid-cloud", "wifi", "private", "analytical"].run is None
    private_cloud = [s for s in slots if s.system == "cloud-only" and s.mode == "private"]
    assert len(private_cloud) == 6 and all(s.run is None and "never leaves the device" in s.note for s in private_cloud)
    assert {s.run.key for s in slots if s.system == "mobile-only"} == {"mobile-only"}
    private_hybrid = {s.run for s in slots if s.system == "hybrid" and s.mode == "private" and s.profile == "3g"}
    assert len(private_hybrid) == 1 and next(iter(private_hybrid)).path is None


def test_passes_go_round_robin_each_run_within_its_own_budget():
    """Pass 1 of every run, then pass 2 of those that want another, ...; a run stops at 5 passes or when one more
    (as long as its mean pass) would take its own pass time past the budget, whatever the others take, but not before
    3 passes when a pass takes at most 10 s."""
    seconds = {"fast": 0.1, "mid": 4.0, "slow": 20.0, "exact": 2.5}
    order = []

    def make_pass(job):
        order.append(job)
        return seconds[job]

    rounds = interleave(list(seconds), make_pass, passes=5, budget_s=10.0)
    # mid: 4 s, then 8 s, and a third makes 12 s, past the budget, but a 4 s pass still gets the 3 a median needs;
    # exact: 4 x 2.5 s = 10 s is within the budget; slow: a 20 s pass, only its first.
    assert order == ["fast", "mid", "slow", "exact", "fast", "mid", "exact", "fast", "mid", "exact", "fast", "exact", "fast"]
    assert len(rounds) == 5 and all(r >= 0 for r in rounds)
    assert wants_pass([]) and not wants_pass([0.1] * 5, passes=5) and not wants_pass([11.0], budget_s=10.0)
    assert wants_pass([6.0, 6.0], budget_s=10.0) and not wants_pass([6.0] * 3, budget_s=10.0)  # 3 passes of 6 s
    assert not wants_pass([6.0, 6.0], passes=2)  # never past --passes
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


def _run_record(system, path, mean, *, sd=1.0, frames=100, spread=None, paths=None, mode="normal"):
    return {"system": system, "profile": "lte", "mode": mode, "path": path, "applicable": True, "run": f"{system}/{path}",
            "frames": frames, "latency_ms": {"mean": mean, "sd": sd}, "passes": {"spread": spread},
            "path_counts": paths or {"master_device": frames}, "minion_systems": {}, "accuracy": 0.9,
            "master_accuracy": 0.9, "recovery_rate": 0.0, "energy_mj_per_frame": 1.0,
            "breakdown": {"latency_ms": {"minion": 0.0, "master": mean, "transfer": 0.0, "overhead": 0.0}}}


_MASTER_ALONE = {"placement_asked": "auto", "placement": "device", "system": "master-only", "runs_minions": False,
                 "L_m": 16.18, "L_t": 207.8, "master_ms": 16.18,
                 "best": {"system": "pair:v1-0.25-128+v1-0.5-160", "minion_ms": 9.1, "recovery_rate": 0.71,
                          "recovery_ms": 16.18, "expected_ms": 20.56}, "reasons": []}


def _verdict_doc(hybrid: dict, mobile_ms: float = 20.0, cloud_ms: float = 200.0) -> dict:
    records = [hybrid, _run_record("mobile-only", "analytical", mobile_ms),
               _run_record("cloud-only", "analytical", cloud_ms, paths={"master_cloud": 100})]
    return {"network": {"profiles": {"lte": {}}}, "records": records,
            "selection": {"lte": {"normal": {"auto": _MASTER_ALONE}}}}


def test_noise_is_the_larger_of_two_standard_errors_and_half_the_pass_spread():
    a, b = _run_record("hybrid", "analytical", 20.0, sd=4.0), _run_record("mobile-only", "analytical", 20.0, sd=4.0)
    two_se = 2 * (4.0 ** 2 / 100 * 2) ** 0.5  # 1.131 ms
    assert noise_ms(a, b) == pytest.approx(two_se)
    b["passes"]["spread"] = 0.1  # passes 10% apart on a 20 ms mean: ±1 ms, under 2 SE
    assert noise_ms(a, b) == pytest.approx(two_se)
    a["passes"]["spread"] = 0.3  # ±3 ms
    assert noise_ms(a, b) == pytest.approx(3.0)


@pytest.mark.parametrize("hybrid_ms, paths, status", [
    (15.0, {"minions": 60, "master_device": 40}, "faster"),  # 5 ms under, noise 0.28 ms
    (20.2, {"minions": 60, "master_device": 40}, "tie"),  # inside the noise
    (23.0, {"minions": 60, "master_device": 40}, "slower"),
    (23.0, None, "tie"),  # master alone on the device for every frame: mobile-only's work, so a slower mean is noise
])
def test_the_verdict_compares_the_hybrid_with_the_faster_baseline_within_the_noise(hybrid_ms, paths, status):
    doc = _verdict_doc(_run_record("hybrid", "analytical", hybrid_ms, paths=paths))
    [row] = verdict_rows(doc)
    assert row["best"] == "mobile-only" and row["best_ms"] == 20.0 and row["noise_ms"] == pytest.approx(2 * (0.02) ** 0.5)
    assert row["status"] == status and row["ok"] == (status != "slower") and row["same_work"] == (paths is None)
    assert row["difference_ms"] == pytest.approx(hybrid_ms - 20.0)


def test_same_work_compares_shares_of_frames_not_counts():
    """The measured path may run fewer frames than mobile-only's shared run: the same paths in the same shares is the
    same work."""
    hybrid = _run_record("hybrid", "analytical", 25.0, frames=5, paths={"master_device": 5})
    [row] = verdict_rows(_verdict_doc(hybrid))
    assert row["same_work"] and row["status"] == "tie"


def test_why_master_alone_is_said_with_the_bundles_numbers():
    text = choice_sentence(_MASTER_ALONE)
    assert text.startswith("runs the master alone (mobile-only work): best pair v1-0.25-128+v1-0.5-160 expects 20.6 ms "
                           "per frame (minions 9.1 + detector-triggered master 71% × 16.2 = 11.5) >= master alone on the "
                           "device 16.2 ms")
    assert "L_t 207.8 ms (cloud request) >= L_m 16.2 ms" in text
    in_cloud = {**_MASTER_ALONE, "placement_asked": "cloud", "placement": "cloud", "runs_minions": True,
                "system": "pair:a+b", "master_ms": 207.8,
                "best": {"system": "pair:a+b", "minion_ms": 9.1, "recovery_rate": 0.5, "recovery_ms": 207.8,
                         "expected_ms": 113.0}}
    assert choice_sentence(in_cloud) == ("runs a+b: best pair a+b expects 113.0 ms per frame (minions 9.1 + "
                                         "detector-triggered cloud request 50% × 207.8 = 103.9) < master alone in the "
                                         "cloud 207.8 ms; master forced in the cloud (L_t 207.8 ms, L_m 16.2 ms)")


def test_the_same_work_is_a_tie_whichever_way_the_clock_went():
    """Master alone on the device for every frame, as mobile-only: a mean 5 ms under mobile-only's is drift between
    the two runs, not a faster system."""
    [row] = verdict_rows(_verdict_doc(_run_record("hybrid", "analytical", 15.0)))
    assert row["same_work"] and row["status"] == "tie" and row["ok"]
