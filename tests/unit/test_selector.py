"""The runtime selector (dissertation §5.2): modes, master placement, runner-ups, server load, history.

Every number below comes from the hand-built config of ``_config_doc`` (validated with
``check_runtime_config``), whose costs are chosen so each rule flips at a known point:

- master 50 ms on the device; minions a 5 ms, b 8 ms, c 3 ms (preprocessing included);
- pair:a+b recovers 20% (normal) / 10% (power saving) of val inputs, single:c 50% / 40%;
- a request carries 5000 bytes up, 500 bytes down, 2 ms on the server, so
  L_t = 40/uplink + rtt + 4/downlink + 2 (ms, Mbps): wifi (20/50 Mbps, 20 ms) 24.08 ms -> cloud,
  slow (1/2 Mbps, 100 ms) 144 ms -> device, fiber (100/100 Mbps, 1 ms) 3.44 ms -> cloud.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import pytest

from mmnet.format.errors import ConfigError
from mmnet.format.runtime_config import RuntimeConfig, check_runtime_config
from mmnet.format.vocabulary import MASTER_ONLY, MODES, PATHS, ReasonCode
from mmnet.runtime import selector as sel
from mmnet.runtime.network import NetworkProfile, cloud_latency_ms, transfer_latency_ms
from mmnet.runtime.selector import (
    CostingCache,
    HistoryEntry,
    SelectorState,
    SelectorTables,
    after_frame,
    after_frame_trusted,
    decide,
    decide_trusted,
    initial_state,
    master_cloud_ms,
    observe_bandwidth,
    observe_rtt,
    rtt_from_request_ms,
)

MASTER = "master-r32"
PAIR = "pair:a+b"
SINGLE = "single:c"
POWER = {"alpha_up_mw_per_mbps": 100.0, "alpha_down_mw_per_mbps": 50.0, "beta_mw": 500.0}
PROFILES = {"wifi": (20.0, 50.0, 20.0), "slow": (1.0, 2.0, 100.0), "fiber": (100.0, 100.0, 1.0)}
WIFI_L_T = 40 / 20 + 20 + 4 / 50 + 2  # 24.08 ms


def _tuned(recovery_rate: float) -> dict:
    point = {"accuracy": 0.99, "recovery_rate": recovery_rate}
    return {"thresholds": [0.5, 0.6, 0.7], "disagreement_threshold": None, "val": point, "test": point,
            "single_threshold": None}


def _latency(total_ms: float) -> dict:
    return {"inference_ms": total_ms - 1.0, "preprocess_ms": 1.0, "total_ms": total_ms, "energy_mj": 2 * total_ms,
            "energy_source": "test: 2 W x total_ms"}


def _choice(system: str, placement: str, latency_ms: float, runner_ups: list[str]) -> dict:
    expected = {"latency_ms": latency_ms, "energy_mj": 1.0, "recovery_rate": 0.2, "accuracy": 0.99,
                "test_accuracy": 0.99, "test_recovery_rate": 0.2}
    return {"system": system, "placement": placement, "expected": expected, "runner_ups": runner_ups,
            "why": "hand-built for tests/unit/test_selector.py"}


def _config_doc() -> dict:
    cloud_ms = {name: 40 / up + rtt + 4 / down + 2 for name, (up, down, rtt) in PROFILES.items()}
    return {
        "schema_version": "1.0",
        "bundle": "selector-test",
        "created_utc": "2026-01-01T00:00:00Z",
        "reference": "labels",
        "targets": {"normal": 1.0, "power_saving": 0.99},
        "master": {"model": MASTER, "resolution": 32, "val_accuracy": 0.99, "test_accuracy": 0.99},
        "detector": {"threshold_rule": "calibrated_confidence_per_class",
                     "temperatures": {"a": 1.0, "b": 1.2, "c": 0.9}},
        "minion_execution": "serial",
        "systems": {
            PAIR: {"minions": ["a", "b"], "modes": {"normal": _tuned(0.2), "power_saving": _tuned(0.1)}},
            SINGLE: {"minions": ["c"], "modes": {"normal": _tuned(0.5), "power_saving": _tuned(0.4)}},
        },
        "modes": {
            "normal": {"minions": True, "cloud": True, "thresholds": "normal", "description": "normal"},
            "power_saving": {"minions": True, "cloud": True, "thresholds": "power_saving", "description": "relaxed"},
            "private": {"minions": True, "cloud": False, "thresholds": "normal", "description": "device only"},
            "mission_critical": {"minions": False, "cloud": True, "thresholds": None, "description": "master"},
        },
        "default_profile": "wifi",
        "network_profiles": {
            name: {"name": name, "uplink_mbps": up, "downlink_mbps": down, "rtt_ms": rtt, "source": "test", "power": POWER}
            for name, (up, down, rtt) in PROFILES.items()
        },
        "upload": {"encoding": "raw", "bytes": 5000, "reply_bytes": 500, "server_ms": 2.0},
        "placement": {
            name: {"device_ms": 50.0, "cloud_ms": cloud_ms[name], "device_mj": 100.0, "cloud_mj": 10.0,
                   "choice": "cloud" if cloud_ms[name] < 50 else "device", "why": "test"}
            for name in PROFILES
        },
        # What mmnet.pipeline.pairing.choose_system gives for these costs (worked out in the module doc).
        "selection": {
            "wifi": {
                "normal": _choice(SINGLE, "cloud", 3 + 0.5 * WIFI_L_T, [PAIR]),
                "power_saving": _choice(SINGLE, "cloud", 3 + 0.4 * WIFI_L_T, [PAIR]),
                "private": _choice(PAIR, "device", 23.0, [SINGLE]),
                "mission_critical": _choice(MASTER_ONLY, "cloud", WIFI_L_T, []),
            },
            "slow": {
                "normal": _choice(PAIR, "device", 23.0, [SINGLE]),
                "power_saving": _choice(PAIR, "device", 18.0, [SINGLE]),
                "private": _choice(PAIR, "device", 23.0, [SINGLE]),
                "mission_critical": _choice(MASTER_ONLY, "device", 50.0, []),
            },
            "fiber": {
                "normal": _choice(MASTER_ONLY, "cloud", 3.44, [SINGLE]),
                "power_saving": _choice(MASTER_ONLY, "cloud", 3.44, [SINGLE]),
                "private": _choice(PAIR, "device", 23.0, [SINGLE]),
                "mission_critical": _choice(MASTER_ONLY, "cloud", 3.44, []),
            },
        },
        "latency": {MASTER: _latency(50.0), "a": _latency(5.0), "b": _latency(8.0), "c": _latency(3.0)},
        "device_profile": {"name": "test", "kind": "host", "source": "test", "compute_power_w": 2.0,
                           "power_measured": False},
        "speculation_history": {"temporal_distance_ms": 125.0},
        "server_load": {"probe_interval_s": 5.0, "rtt_smoothing": 0.2},
    }


def _make(doc: dict) -> RuntimeConfig:
    check_runtime_config(doc, "test_selector config", num_classes=3)
    return RuntimeConfig(doc)


@pytest.fixture(scope="module")
def config() -> RuntimeConfig:
    return _make(_config_doc())


@pytest.fixture(scope="module")
def tables(config) -> SelectorTables:
    return SelectorTables.from_config(config)


@pytest.fixture
def wifi(tables) -> SelectorState:
    return initial_state(tables, "wifi")


def _texts(decision) -> list[str]:
    return [reason.text for reason in decision.reasons]


# --- estimates -------------------------------------------------------------------------------


def test_master_cloud_ms_is_the_network_modules_transfer_latency(config, tables, wifi):
    profile = NetworkProfile.from_json(config.document["network_profiles"]["wifi"])
    assert master_cloud_ms(tables, wifi.link) == transfer_latency_ms(profile, 5000, 500, 2.0)  # one formula: same bits
    assert master_cloud_ms(tables, wifi.link) == pytest.approx(WIFI_L_T)
    slower = observe_bandwidth(tables, wifi, uplink_mbps=0.1)
    assert master_cloud_ms(tables, slower.link) == pytest.approx(400 + 20 + 0.08 + 2)


def test_rtt_from_request_subtracts_transfer_and_server_time(tables, wifi):
    assert rtt_from_request_ms(tables, wifi.link, WIFI_L_T) == pytest.approx(20.0)
    assert rtt_from_request_ms(tables, wifi.link, 1.0) == 0.0


def test_every_l_t_of_the_selector_is_the_network_modules_formula(config, wifi, monkeypatch):
    """L_t is written once (network.cloud_latency_ms): the tables, the estimates, the RTT split and
    decide all compute it there."""
    calls = []

    def spy(upload_kbit, uplink_mbps, rtt_ms, reply_kbit, downlink_mbps, server_ms):
        calls.append((uplink_mbps, rtt_ms))
        return cloud_latency_ms(upload_kbit, uplink_mbps, rtt_ms, reply_kbit, downlink_mbps, server_ms)

    monkeypatch.setattr(sel, "cloud_latency_ms", spy)
    tables = SelectorTables.from_config(config)
    assert sorted(calls) == sorted((up, rtt) for up, _, rtt in PROFILES.values())  # each profile's nominal L_t
    calls.clear()
    assert master_cloud_ms(tables, wifi.link) == WIFI_L_T and calls == [(20.0, 20.0)]
    calls.clear()
    assert rtt_from_request_ms(tables, wifi.link, 30.0) == 30.0 - (WIFI_L_T - 20.0) and calls == [(20.0, 0.0)]
    calls.clear()
    assert decide(tables, wifi, mode="normal", now_s=0.0).estimates["L_t"] == WIFI_L_T and calls == [(20.0, 20.0)]


def test_initial_state_defaults_to_the_default_profile(tables):
    state = initial_state(tables)
    assert state.link == sel.LinkEstimate("wifi", 20.0, 20.0, 50.0)
    assert state.last is None and not state.server_overloaded and state.next_probe_s is None
    with pytest.raises(ConfigError, match=r"network profile is '5g'; expected one of \['fiber', 'slow', 'wifi'\]"):
        initial_state(tables, "5g")


# --- rule 1: modes ---------------------------------------------------------------------------


def test_normal_mode_runs_the_configured_system_with_normal_thresholds(tables, wifi):
    d = decide(tables, wifi, mode="normal", now_s=0.0)
    assert (d.path, d.system, d.placement, d.thresholds_mode, d.probe) == ("minions", SINGLE, "cloud", "normal", False)
    assert d.reason_codes[:2] == (ReasonCode.MODE, ReasonCode.CLOUD_FASTER)
    assert d.reasons[0].text == "mode normal"
    assert d.reasons[1].text == f"L_t {WIFI_L_T:.2f} ms < L_m 50.00 ms: master in the cloud"
    assert d.reasons[1].values == {"L_t": d.estimates["L_t"], "L_m": 50.0}  # the numbers compared, unformatted
    assert d.estimates["expected_ms"] == pytest.approx({SINGLE: 3 + 0.5 * WIFI_L_T, PAIR: 13 + 0.2 * WIFI_L_T})
    assert d.estimates["L_m"] == 50.0 and d.estimates["L_t"] == pytest.approx(WIFI_L_T)


def test_power_saving_mode_uses_power_saving_thresholds_and_recovery_rates(tables, wifi):
    d = decide(tables, wifi, mode="power_saving", now_s=0.0)
    assert (d.path, d.system, d.thresholds_mode) == ("minions", SINGLE, "power_saving")
    assert d.estimates["expected_ms"][SINGLE] == pytest.approx(3 + 0.4 * WIFI_L_T)
    assert d.estimates["expected_ms"][PAIR] == pytest.approx(13 + 0.1 * WIFI_L_T)


def test_private_mode_never_uses_the_cloud(tables, wifi):
    d = decide(tables, wifi, mode="private", now_s=0.0)
    assert (d.path, d.system, d.placement, d.thresholds_mode) == ("minions", PAIR, "device", "normal")
    assert "mode private never leaves the device: master on device" in _texts(d)
    assert d.estimates["expected_ms"] == pytest.approx({PAIR: 13 + 0.2 * 50, SINGLE: 3 + 0.5 * 50})


def test_mission_critical_runs_the_master_alone_where_it_is_fastest(tables, wifi):
    d = decide(tables, wifi, mode="mission_critical", now_s=0.0)
    assert (d.path, d.system, d.placement, d.thresholds_mode) == ("master_cloud", MASTER_ONLY, "cloud", None)
    assert "mode mission_critical runs the master alone" in _texts(d)
    d = decide(tables, initial_state(tables, "slow"), mode="mission_critical", now_s=0.0)
    assert (d.path, d.placement) == ("master_device", "device")
    assert "L_t 144.00 ms >= L_m 50.00 ms: master on device" in _texts(d)


def test_every_path_is_one_of_paths(tables):
    for profile in PROFILES:
        for mode in MODES:
            assert decide(tables, initial_state(tables, profile), mode=mode, now_s=0.0).path in PATHS


def test_the_runtimes_unchecked_entry_points_decide_as_the_checked_ones(tables):
    """decide_trusted and after_frame_trusted (the runtime's per-frame calls) are decide and after_frame
    without the checks, over every profile, mode, override, history and cache use."""
    histories = [None, HistoryEntry(0.995, 2, 2, True), HistoryEntry(0.995, 2, 0, True), HistoryEntry(0.5, 1, None, False)]
    for profile in PROFILES:
        for mode in MODES:
            for override in (None, "device", "cloud"):
                if override == "cloud" and mode == "private":
                    continue
                cache = CostingCache()
                for last in histories:
                    state = initial_state(tables, profile)
                    if last is not None:
                        assert after_frame_trusted(state, last) == after_frame(state, last)
                        state = after_frame(state, last)
                    for use in (None, cache):
                        checked = decide(tables, state, mode=mode, now_s=1.0, placement_override=override, cache=use)
                        assert decide_trusted(tables, state, mode, 1.0, override, use) == checked


def test_unknown_mode_profile_and_override_are_named(tables, wifi):
    with pytest.raises(ConfigError,
                       match=r"mode is 'turbo'; expected one of \['normal', 'power_saving', 'private', 'mission_critical'\]"):
        decide(tables, wifi, mode="turbo", now_s=0.0)
    with pytest.raises(ConfigError, match=r"placement_override is 'edge'; expected 'device', 'cloud' or None"):
        decide(tables, wifi, mode="normal", now_s=0.0, placement_override="edge")
    stray = wifi._replace(link=dataclasses.replace(wifi.link, profile="5g"))
    with pytest.raises(ConfigError, match=r"state.link.profile is '5g'; expected one of"):
        decide(tables, stray, mode="normal", now_s=0.0)
    with pytest.raises(ConfigError, match="now_s is nan; expected a finite number"):
        decide(tables, wifi, mode="normal", now_s=math.nan)


# --- rule 2: placement -----------------------------------------------------------------------


def test_placement_flips_to_the_device_when_the_uplink_drops(tables, wifi):
    assert decide(tables, wifi, mode="mission_critical", now_s=0.0).path == "master_cloud"
    slow = observe_bandwidth(tables, wifi, uplink_mbps=0.1)
    d = decide(tables, slow, mode="mission_critical", now_s=0.0)
    assert (d.path, d.placement, d.probe) == ("master_device", "device", False)
    assert "L_t 422.08 ms >= L_m 50.00 ms: master on device" in _texts(d)
    back = observe_bandwidth(tables, slow, uplink_mbps=20.0)
    assert decide(tables, back, mode="mission_critical", now_s=0.0).path == "master_cloud"


def test_placement_flips_to_the_device_when_the_rtt_rises(tables, wifi):
    state = wifi
    flipped_at = None
    for i in range(30):  # the request latency passes L_m 50 ms once the smoothed RTT passes 45.92 ms
        state = observe_rtt(tables, state, rtt_ms=60.0, now_s=0.1 * i)
        if flipped_at is None and state.server_overloaded:
            flipped_at = i
            assert master_cloud_ms(tables, state.link) > 50.0
    assert flipped_at is not None and flipped_at > 0  # smoothed: the first 60 ms sample does not flip it
    d = decide(tables, state, mode="mission_critical", now_s=3.0)
    assert (d.path, d.probe) == ("master_device", False)
    assert ReasonCode.SERVER_OVERLOADED in d.reason_codes


def test_placement_override_forces_the_place_and_says_so(tables, wifi):
    d = decide(tables, wifi, mode="normal", now_s=0.0, placement_override="device")
    assert (d.path, d.placement) == ("minions", "device")
    assert d.system == PAIR  # the pair is cheaper with a 50 ms master
    assert f"placement forced to device by override (L_t {WIFI_L_T:.2f} ms vs L_m 50.00 ms)" in _texts(d)
    slow = initial_state(tables, "slow")
    d = decide(tables, slow, mode="mission_critical", now_s=0.0, placement_override="cloud")
    assert (d.path, d.placement) == ("master_cloud", "cloud")
    assert d.estimates["master_ms"] == pytest.approx(144.0)


def test_private_mode_with_a_cloud_override_is_an_error(tables, wifi):
    with pytest.raises(ConfigError, match=r"placement_override is 'cloud' in mode 'private', which never leaves the device"):
        decide(tables, wifi, mode="private", now_s=0.0, placement_override="cloud")
    assert decide(tables, wifi, mode="private", now_s=0.0, placement_override="device").placement == "device"


# --- rule 4: minions not worth it, runner-ups --------------------------------------------------


def test_minions_not_worth_it_runs_the_master_alone(tables, wifi):
    fast = wifi._replace(link=dataclasses.replace(wifi.link, rtt_ms=1.0))  # L_t 5.08 ms
    d = decide(tables, fast, mode="normal", now_s=0.0)
    assert (d.path, d.system, d.thresholds_mode) == ("master_cloud", MASTER_ONLY, None)
    assert d.reasons[-1].text == "minions not worth it: best system single:c expects 5.54 ms >= master alone 5.08 ms on cloud"


def test_configured_master_only_runs_the_master(tables):
    d = decide(tables, initial_state(tables, "fiber"), mode="normal", now_s=0.0)
    assert (d.path, d.system) == ("master_cloud", MASTER_ONLY)
    assert d.estimates["expected_ms"] == pytest.approx({SINGLE: 3 + 0.5 * 3.44})


def test_runner_up_replaces_the_configured_system_when_the_placement_changes(tables, wifi):
    slow = observe_bandwidth(tables, wifi, uplink_mbps=0.1)  # master moves to the device (50 ms)
    d = decide(tables, slow, mode="normal", now_s=0.0)
    assert (d.path, d.system, d.placement) == ("minions", PAIR, "device")
    assert d.reasons[-1].code is ReasonCode.RUNNER_UP
    assert d.reasons[-1].text == ("runner-up pair:a+b (expected 23.00 ms) replaces the configured single:c (28.00 ms) "
                                  "with the master on device")


def test_runner_up_replaces_a_configured_master_only(tables):
    fiber = initial_state(tables, "fiber")
    congested = fiber._replace(link=dataclasses.replace(fiber.link, rtt_ms=20.0))  # L_t 22.44 ms
    d = decide(tables, congested, mode="normal", now_s=0.0)
    assert (d.path, d.system, d.placement) == ("minions", SINGLE, "cloud")
    assert d.reasons[-1].code is ReasonCode.RUNNER_UP and d.reasons[-1].values["configured"] == MASTER_ONLY
    assert "replaces the configured master-only" in d.reasons[-1].text


def test_parallel_minions_cost_the_slower_minion():
    doc = _config_doc()
    doc["minion_execution"] = "parallel"
    tables = SelectorTables.from_config(_make(doc))
    d = decide(tables, initial_state(tables, "slow"), mode="private", now_s=0.0)
    assert d.estimates["expected_ms"][PAIR] == pytest.approx(8 + 0.2 * 50)
    assert d.system == PAIR


@pytest.mark.parametrize("execution", ["serial", "parallel"])
def test_system_choice_agrees_with_the_pipelines_pairing_under_live_links(execution):
    """decide() re-costs what mmnet.pipeline.pairing.choose_system costs at build time (same formula)."""
    pairing = pytest.importorskip("mmnet.pipeline.pairing", reason="mmnet.pipeline.pairing is the build-time reference")
    doc = _config_doc()
    doc["minion_execution"] = execution
    tables = SelectorTables.from_config(_make(doc))
    wifi = initial_state(tables, "wifi")
    links = {
        "nominal": wifi.link,
        "uplink 0.1 Mbps": dataclasses.replace(wifi.link, uplink_mbps=0.1),
        "rtt 1 ms": dataclasses.replace(wifi.link, rtt_ms=1.0),
        "rtt 45 ms": dataclasses.replace(wifi.link, rtt_ms=45.0),
    }
    costs = {m: pairing.Cost(doc["latency"][m]["total_ms"], 0.0) for m in ("a", "b", "c")}
    for label, link in links.items():
        for mode in ("normal", "power_saving", "private"):
            d = decide(tables, SelectorState(link=link), mode=mode, now_s=0.0)
            tuning = doc["modes"][mode]["thresholds"]
            candidates = [
                pairing.Candidate(name, tuple(spec["minions"]), True, spec["modes"][tuning]["val"]["recovery_rate"],
                                  0.99, 0.0, 0.99)
                for name, spec in doc["systems"].items()
            ]
            master = pairing.Cost(d.estimates["master_ms"], 0.0)
            choice = pairing.choose_system(candidates, costs, master, placement=d.placement, execution=execution,
                                           master_accuracy=(0.99, 0.99), target=1.0)
            assert d.system == choice.system, (label, mode, _texts(d), choice.why)


# --- rule 3: server load ------------------------------------------------------------------------


def _overloaded(tables, state, now_s: float) -> SelectorState:
    once = observe_rtt(tables, state, rtt_ms=100.0, now_s=now_s - 0.1)  # 5x the profile's 20 ms
    assert not once.server_overloaded  # one spike: smoothed RTT 36 ms, request 40.08 ms <= L_m 50 ms
    twice = observe_rtt(tables, once, rtt_ms=100.0, now_s=now_s)  # smoothed 48.8 ms, request 52.88 ms > 50 ms
    assert twice.server_overloaded and twice.next_probe_s == pytest.approx(now_s + 5.0)
    return twice


def test_server_overload_backs_off_to_the_device_and_probes(tables, wifi):
    state = _overloaded(tables, wifi, now_s=10.0)
    # Overloaded: master on the device, no probe before probe_interval_s.
    for now in (10.0, 12.0, 14.99):
        d = decide(tables, state, mode="mission_critical", now_s=now)
        assert (d.path, d.placement, d.probe) == ("master_device", "device", False)
        assert ReasonCode.SERVER_OVERLOADED in d.reason_codes
        assert "server overloaded (request latency 52.9 ms > L_m 50.0 ms): master on device" in _texts(d)
    # Due: this frame's master call is a probe to the cloud, until its RTT is observed.
    for now in (15.0, 15.5):
        d = decide(tables, state, mode="mission_critical", now_s=now)
        assert (d.path, d.placement, d.probe) == ("master_cloud", "cloud", True)
        assert d.reasons[-1].code is ReasonCode.PROBE_SERVER_OVERLOADED
        assert d.reasons[-1].text == "probe: server overloaded; one master call to the cloud every 5 s"
    # A probe still slow: still overloaded, next probe 5 s later.
    still = observe_rtt(tables, state, rtt_ms=150.0, now_s=15.5)
    assert still.server_overloaded and still.next_probe_s == pytest.approx(20.5)
    assert decide(tables, still, mode="mission_critical", now_s=16.0).path == "master_device"
    # A probe back under L_m: recovered, the smoothed RTT restarts from it, back to the cloud.
    recovered = observe_rtt(tables, still, rtt_ms=21.0, now_s=20.5)
    assert not recovered.server_overloaded and recovered.link.rtt_ms == 21.0
    d = decide(tables, recovered, mode="mission_critical", now_s=20.6)
    assert (d.path, d.placement, d.probe) == ("master_cloud", "cloud", False)


def test_overload_probe_with_minions_sends_only_the_recovery_to_the_cloud(tables, wifi):
    state = _overloaded(tables, wifi, now_s=10.0)
    d = decide(tables, state, mode="normal", now_s=10.5)
    # Costed with the master on the device (50 ms): the pair is cheaper than the single.
    assert (d.path, d.system, d.placement, d.probe) == ("minions", PAIR, "device", False)
    d = decide(tables, state, mode="normal", now_s=15.0)
    assert (d.path, d.system, d.placement, d.probe) == ("minions", PAIR, "cloud", True)
    assert d.estimates["master_ms"] == 50.0


def test_private_mode_never_probes(tables, wifi):
    state = _overloaded(tables, wifi, now_s=10.0)
    d = decide(tables, state, mode="private", now_s=100.0)
    assert (d.placement, d.probe) == ("device", False)


def test_override_beats_the_overload_and_says_so(tables, wifi):
    state = _overloaded(tables, wifi, now_s=10.0)
    d = decide(tables, state, mode="mission_critical", now_s=11.0, placement_override="cloud")
    assert (d.path, d.probe) == ("master_cloud", False)
    assert ReasonCode.OVERRIDE_DESPITE_OVERLOAD in d.reason_codes
    assert "server overloaded, but the override decides the placement" in _texts(d)


def test_stale_link_estimates_are_re_measured_by_probes(tables, wifi):
    state = wifi
    for i in range(30):  # the server answers at the profile's RTT ...
        state = observe_rtt(tables, state, rtt_ms=20.0, now_s=float(i))
    state = observe_bandwidth(tables, state, uplink_mbps=0.1)  # ... but the uplink drops: the master leaves the cloud
    assert not state.server_overloaded and state.next_probe_s == 34.0
    assert decide(tables, state, mode="mission_critical", now_s=33.0).probe is False
    d = decide(tables, state, mode="mission_critical", now_s=34.0)
    assert (d.path, d.probe) == ("master_cloud", True)
    assert d.reasons[-1].code is ReasonCode.PROBE_LIVE_LINK
    assert d.reasons[-1].text.startswith("probe: the live link estimates (L_t ")
    # A profile whose own numbers keep the master on the device is never probed.
    slow = observe_rtt(tables, initial_state(tables, "slow"), rtt_ms=100.0, now_s=0.0)
    assert decide(tables, slow, mode="mission_critical", now_s=100.0).probe is False


def test_a_bandwidth_estimate_without_any_cloud_measurement_is_not_probed(tables, wifi):
    slow = observe_bandwidth(tables, wifi, uplink_mbps=0.1)
    assert slow.next_probe_s is None
    assert decide(tables, slow, mode="mission_critical", now_s=1e6).probe is False


def test_observations_check_their_numbers(tables, wifi):
    with pytest.raises(ConfigError, match=r"rtt_ms is -1.0; expected a finite number >= 0"):
        observe_rtt(tables, wifi, rtt_ms=-1.0, now_s=0.0)
    with pytest.raises(ConfigError, match=r"uplink_mbps is 0; expected a finite number > 0"):
        observe_bandwidth(tables, wifi, uplink_mbps=0)
    assert observe_bandwidth(tables, wifi) is wifi
    assert observe_bandwidth(tables, wifi, downlink_mbps=5.0).link.downlink_mbps == 5.0


# --- rule 5: speculation history ----------------------------------------------------------------


def test_history_rule_1_runs_the_minions_unchecked(tables, wifi):
    state = after_frame(wifi, HistoryEntry(timestamp_s=1.0, minion_answer=2, master_answer=2, recovered=True))
    d = decide(tables, state, mode="normal", now_s=1.0625)
    assert (d.path, d.system, d.thresholds_mode, d.probe) == ("minions_unchecked", SINGLE, None, False)
    assert d.reasons[-1].code is ReasonCode.HISTORY_AGREED
    assert d.reasons[-1].text.startswith("history rule 1: previous frame (62 ms ago) was recovered and the master agreed")
    assert d.estimates["dt_ms"] == pytest.approx(62.5)
    assert decide(tables, state, mode="normal", now_s=1.125).path == "minions_unchecked"  # exactly 125 ms: within


def test_history_rule_2_goes_straight_to_the_master(tables, wifi):
    state = after_frame(wifi, HistoryEntry(timestamp_s=1.0, minion_answer=2, master_answer=0, recovered=True))
    d = decide(tables, state, mode="normal", now_s=1.0625)
    assert (d.path, d.system, d.placement, d.thresholds_mode) == ("master_cloud", MASTER_ONLY, "cloud", None)
    assert d.reasons[-1].code is ReasonCode.HISTORY_CORRECTED
    assert d.reasons[-1].text == ("history rule 2: previous frame (62 ms ago) was corrected by the master (minions 2, master 0): "
                                  "straight to the master")
    assert decide(tables, state, mode="private", now_s=1.0625).path == "master_device"


@pytest.mark.parametrize("master_answer", [2, 0])
def test_history_has_no_effect_beyond_the_temporal_distance(tables, wifi, master_answer):
    state = after_frame(wifi, HistoryEntry(timestamp_s=1.0, minion_answer=2, master_answer=master_answer, recovered=True))
    d = decide(tables, state, mode="normal", now_s=1.25)
    assert (d.path, d.thresholds_mode) == ("minions", "normal")
    assert d.reasons[-1].code is ReasonCode.HISTORY_EXPIRED
    assert d.reasons[-1].text == "no history effect: previous frame 250 ms ago, beyond the temporal distance 125 ms"


def test_history_ignores_frames_that_were_not_recovered(tables, wifi):
    state = after_frame(wifi, HistoryEntry(timestamp_s=1.0, minion_answer=2, master_answer=None, recovered=False))
    d = decide(tables, state, mode="normal", now_s=1.01)
    assert d.path == "minions"
    assert not any(code.value.startswith("history") for code in d.reason_codes)


def test_history_does_not_apply_to_the_master_alone(tables, wifi):
    state = after_frame(wifi, HistoryEntry(timestamp_s=1.0, minion_answer=2, master_answer=2, recovered=True))
    assert decide(tables, state, mode="mission_critical", now_s=1.01).path == "master_cloud"
    fast = state._replace(link=dataclasses.replace(state.link, rtt_ms=1.0))  # minions not worth it
    d = decide(tables, fast, mode="normal", now_s=1.01)
    assert d.path == "master_cloud" and not any(code.value.startswith("history") for code in d.reason_codes)


def test_history_rule_1_sends_no_probe(tables, wifi):
    state = after_frame(_overloaded(tables, wifi, now_s=10.0),
                        HistoryEntry(timestamp_s=14.99, minion_answer=1, master_answer=1, recovered=True))
    d = decide(tables, state, mode="normal", now_s=15.0)
    assert (d.path, d.probe, d.placement) == ("minions_unchecked", False, "device")


def test_a_clock_going_back_is_an_error(tables, wifi):
    state = after_frame(wifi, HistoryEntry(timestamp_s=2.0, minion_answer=1, master_answer=1, recovered=True))
    with pytest.raises(ConfigError, match=r"now_s 1.0 is earlier than the previous frame's timestamp_s 2.0"):
        decide(tables, state, mode="normal", now_s=1.0)


def test_after_frame_checks_the_history_entry(wifi):
    with pytest.raises(ConfigError, match=r"HistoryEntry: recovered is True but minion_answer is 1 and master_answer is None"):
        after_frame(wifi, HistoryEntry(timestamp_s=0.0, minion_answer=1, master_answer=None, recovered=True))
    with pytest.raises(ConfigError, match=r"HistoryEntry.minion_answer is 1.5; expected a class index"):
        after_frame(wifi, HistoryEntry(timestamp_s=0.0, minion_answer=1.5, master_answer=None, recovered=False))
    with pytest.raises(ConfigError, match=r"HistoryEntry.timestamp_s is nan; expected a finite number"):
        after_frame(wifi, HistoryEntry(timestamp_s=float("nan"), minion_answer=1, master_answer=None, recovered=False))
    with pytest.raises(ConfigError, match=r"HistoryEntry.recovered is 1; expected a bool"):
        after_frame(wifi, HistoryEntry(timestamp_s=0.0, minion_answer=1, master_answer=1, recovered=1))
    with pytest.raises(ConfigError, match=r"entry is a tuple; expected a HistoryEntry"):
        after_frame(wifi, (0.0, 1, 1, True))


def test_decide_checks_the_types_it_reads(tables, wifi):
    with pytest.raises(ConfigError, match=r"state.link is a dict; expected a LinkEstimate"):
        decide(tables, wifi._replace(link={"profile": "wifi"}), mode="normal", now_s=0.0)
    with pytest.raises(ConfigError, match=r"state.last is a tuple; expected a HistoryEntry or None"):
        decide(tables, wifi._replace(last=(0.0, 1, 1, True)), mode="normal", now_s=1.0)
    with pytest.raises(ConfigError, match=r"state.server_overloaded is 'yes'; expected a bool"):
        decide(tables, wifi._replace(server_overloaded="yes"), mode="normal", now_s=1.0)
    with pytest.raises(ConfigError, match=r"state.next_probe_s is '5'; expected a finite number"):
        decide(tables, wifi._replace(next_probe_s="5"), mode="normal", now_s=1.0)


# --- purity and speed -----------------------------------------------------------------------------


def test_decide_is_pure_and_its_inputs_and_outputs_are_frozen(config, tables, wifi):
    state = after_frame(_overloaded(tables, wifi, now_s=10.0),
                        HistoryEntry(timestamp_s=14.0, minion_answer=1, master_answer=2, recovered=True))
    before = copy.deepcopy(state)
    document = json.dumps(config.document, sort_keys=True)
    first = decide(tables, state, mode="normal", now_s=15.0)
    assert decide(tables, state, mode="normal", now_s=15.0) == first
    assert state == before and json.dumps(config.document, sort_keys=True) == document
    with pytest.raises(AttributeError):  # NamedTuples, both
        state.server_overloaded = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        first.path = "minions"  # type: ignore[misc]
    with pytest.raises(TypeError):  # a reason's values may be shared by many decisions
        first.reasons[0].values["mode"] = "private"  # type: ignore[index]
    json.dumps(first.to_json())


def test_to_json_carries_each_reason_as_code_values_and_text(tables, wifi):
    state = after_frame(wifi, HistoryEntry(timestamp_s=1.0, minion_answer=2, master_answer=0, recovered=True))
    d = decide(tables, state, mode="normal", now_s=1.0625)
    reasons = json.loads(json.dumps(d.to_json()))["reasons"]
    assert [r["code"] for r in reasons] == ["mode", "cloud_faster", "configured_system", "history_corrected"]
    assert reasons[-1] == {
        "code": "history_corrected", "values": {"dt_ms": 62.5, "minion_answer": 2, "master_answer": 0},
        "text": "history rule 2: previous frame (62 ms ago) was corrected by the master (minions 2, master 0): straight to "
                "the master"}
    for reason, entry in zip(d.reasons, reasons):  # every sentence is its code's template with its values
        assert entry["text"] == ReasonCode(entry["code"]).template.format(**entry["values"]) == reason.text


def test_a_costing_cache_gives_the_decisions_of_none(tables, wifi):
    """The cache holds rules 1-4 per (tables, link, mode, override, overload): each change of one of
    them must give the decision an uncached call gives, also when switching back."""
    states = {
        "wifi": wifi,
        "slow uplink": observe_bandwidth(tables, wifi, uplink_mbps=0.1),
        "overloaded": _overloaded(tables, wifi, now_s=10.0),
    }
    other_tables = SelectorTables.from_config(_make({**_config_doc(), "upload": {
        "encoding": "raw", "bytes": 500_000, "reply_bytes": 500, "server_ms": 2.0}}))  # the cloud far slower
    calls = [(t, name, mode, override) for t in (tables, other_tables) for name in states
             for mode in ("normal", "private", "mission_critical") for override in (None, "device")]
    fresh = {call: decide(call[0], states[call[1]], mode=call[2], now_s=11.0, placement_override=call[3])
             for call in calls}
    assert len({(d.path, d.placement, d.system) for d in fresh.values()}) >= 4  # the inputs matter
    assert fresh[(tables, "wifi", "normal", None)] != fresh[(other_tables, "wifi", "normal", None)]
    cache = CostingCache()
    for call in calls + calls[::-1] + calls[::3]:
        t, name, mode, override = call
        assert decide(t, states[name], mode=mode, now_s=11.0, placement_override=override, cache=cache) == fresh[call], call
    first = decide(tables, wifi, mode="normal", now_s=11.0, cache=cache)
    with pytest.raises(TypeError):  # shared between decisions, so read-only
        first.estimates["expected_ms"][SINGLE] = 0.0  # type: ignore[index]
    first.estimates["dt_ms"] = 1.0  # each decision's own dict
    assert decide(tables, wifi, mode="normal", now_s=11.0, cache=cache).estimates["dt_ms"] is None


def test_a_costing_cache_recosts_only_when_an_input_of_rules_1_to_4_changes(tables, wifi, monkeypatch):
    costings = []
    real = sel._cost
    monkeypatch.setattr(sel, "_cost", lambda *args: costings.append(args[2:]) or real(*args))
    cache = CostingCache()
    history = after_frame(wifi, HistoryEntry(timestamp_s=0.0, minion_answer=1, master_answer=1, recovered=True))
    for i in range(50):  # the time and the previous frame are not inputs of rules 1-4
        decide(tables, history if i % 2 else wifi, mode="normal", now_s=float(i), cache=cache)
    assert len(costings) == 1
    decide(tables, wifi, mode="private", now_s=60.0, cache=cache)
    decide(tables, observe_bandwidth(tables, wifi, uplink_mbps=5.0), mode="private", now_s=61.0, cache=cache)
    assert [c[0] for c in costings] == ["normal", "private", "private"]
    decide(tables, wifi, mode="normal", now_s=62.0)  # no cache: costed every call
    assert len(costings) == 4


def test_the_selector_wants_tables_not_a_config(config, wifi):
    with pytest.raises(ConfigError, match=r"tables is a RuntimeConfig; expected a SelectorTables \(SelectorTables.from_config"):
        decide(config, wifi, mode="normal", now_s=0.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"tables is a RuntimeConfig; expected a SelectorTables"):
        initial_state(config)  # type: ignore[arg-type]


def test_selector_tables_want_a_runtime_config():
    with pytest.raises(ConfigError, match=r"config is a dict; expected a RuntimeConfig"):
        SelectorTables.from_config(_config_doc())  # type: ignore[arg-type]

