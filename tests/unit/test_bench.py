"""``mmnet bench`` (benchmarks/bench*.py) as functions: energy arithmetic, run plan, pass scheduling, normalisation.

A real run, its verdicts and schema, and the command are tested in tests/integration/test_bench.py.
"""

from __future__ import annotations

import pytest

from mmnet.benchmarks.bench_report import normalised_rows
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
