"""The Dynamic Duo queueing simulation against queueing theory and hand-computed queues, its service times
from a server timing log (windows, gaps, front/back delays, recorded runs), and the load benchmark's pure
summaries (throughput at a p95 bound, the overload verdict) on synthetic replies."""

from __future__ import annotations

import numpy as np
import pytest

from mmnet.benchmarks.duo_load import (
    Reply,
    Run,
    overload_summary,
    pass_time_memory,
    poisson_schedule,
    repeat_noise,
    simulate_point,
    sustained,
    throughput_at,
    times_from_log,
)
from mmnet.benchmarks.duo_sim import ServiceTimes, relative_error, simulate
from mmnet.server.duo import DuoConfig

BIG_S = 0.010


def _times(little_s: float = 0.001, **delays: np.ndarray) -> ServiceTimes:
    return ServiceTimes({1: np.full(5, little_s), 4: np.full(5, 2.5 * little_s)}, {1: np.full(5, BIG_S)}, **delays)


def test_single_system_matches_m_d_1_waiting_time():
    # Poisson arrivals, deterministic 10 ms service, no batching wait: M/D/1 with rho = 0.5.
    config = DuoConfig(max_batch=1, max_wait_ms=0.0, max_queued=10_000, max_recovery_queued=10_000)
    result = simulate(50.0, 15_000, _times(), config, single=True, seed=1)
    rho = 50.0 * BIG_S
    expected_mean = BIG_S + rho * BIG_S / (2 * (1 - rho))  # service + Pollaczek-Khinchine wait
    assert result.latencies_s.mean() == pytest.approx(expected_mean, rel=0.05)
    assert result.refused == 0


def test_the_duo_sends_the_recovered_share_to_the_big_model_and_waits_for_batches():
    config = DuoConfig(max_batch=4, max_wait_ms=5.0, max_queued=1000, max_recovery_queued=1000)
    never = simulate(20.0, 4000, _times(), config, single=False, recovery_rate=0.0, seed=2)
    always = simulate(20.0, 4000, _times(), config, single=False, recovery_rate=1.0, seed=2)
    assert never.recovered == 0 and always.recovered == 4000
    # at 20/s a frame rarely finds company: it waits out max_wait, then a one-frame pass
    assert np.median(never.latencies_s) == pytest.approx(0.005 + 0.001, abs=0.0015)
    assert np.median(always.latencies_s) == pytest.approx(0.005 + 0.001 + BIG_S, abs=0.003)
    half = simulate(20.0, 4000, _times(), config, single=False, recovery_rate=0.5, seed=2)
    assert 0.4 < half.recovered / 4000 < 0.6


def test_overload_is_refused_and_the_admitted_stay_bounded():
    config = DuoConfig(max_batch=8, max_wait_ms=1.0, max_queued=16, max_recovery_queued=8)
    result = simulate(300.0, 6000, _times(), config, single=False, recovery_rate=0.9, seed=3)  # big capacity: ~111/s
    assert result.refused > 0.4 * result.offered
    # at most max_queued frames ahead, each at most one big pass after its little pass
    assert result.latencies_s.max() <= 16 * (BIG_S + 0.001) + 0.01


def test_replayed_routes_recover_exactly_those_frames():
    config = DuoConfig(max_queued=1000, max_recovery_queued=1000)
    result = simulate(10.0, 1000, _times(), config, single=False, routes=[True, False, False, False], seed=4)
    assert result.recovered == 250


def test_relative_error():
    assert relative_error(11.0, 10.0) == pytest.approx(0.1)
    assert relative_error(None, 10.0) is None and relative_error(1.0, 0.0) is None


# --- the load benchmark's summaries ------------------------------------------------------------------


def _point(rate, p95, refused=0, answered=None):
    sent = int(rate * 10)
    return {"offered_per_s": rate, "throughput_per_s": (answered if answered is not None else sent) / 10, "sent": sent,
            "answered": answered if answered is not None else sent, "refused_429": refused, "p95_ms": p95,
            "statuses": {"200": sent - refused, "429": refused}}


def test_throughput_at_a_bound_interpolates_between_sustained_rates():
    points = [_point(10, 20.0), _point(20, 30.0), _point(30, 50.0), _point(40, 400.0, refused=50, answered=350)]
    assert sustained(points[2]) and not sustained(points[3])
    assert throughput_at(points, 40.0) == pytest.approx(25.0)
    assert throughput_at(points, 60.0) == pytest.approx(30.0)  # the last sustained rate
    assert throughput_at(points, 10.0) is None


def test_poisson_schedule_follows_its_phases():
    times = poisson_schedule([(200.0, 5.0), (20.0, 5.0)], seed=0)
    assert 800 < np.sum(times < 5.0) < 1200 and 60 < np.sum(times >= 5.0) < 140
    assert np.all(np.diff(times) > 0)


def test_overload_summary_counts_lost_wrong_and_recovery():
    expected_answers = np.array([1, 2])
    routes = ["little", "big"]

    def reply(t, status, frame=0, route=None):
        return Reply(t, t, t + 0.05, status, frame, route or routes[frame])

    replies = [reply(0.5, 200), reply(1.0, 429), reply(2.0, 0), reply(3.0, 200, 1, "little")]  # overload phase: 4 s
    replies += [reply(4.2, 429), reply(5.5, 200), reply(6.5, 200, 1), reply(7.9, 200)]  # after: answered from 5 s on
    out = overload_summary(replies, 10.0, 4.0, 4.0, expected_answers, routes)
    assert out["lost_or_other_status"] == 1
    assert out["wrong"] == 1  # frame 1 answered by the little model where the offline decision says big
    assert out["recovered_after_s"] == pytest.approx(1.0)
    assert out["during"]["refused_429"] == 1 and out["after"]["answered"] == 3
    assert out["p95_per_window_ms"] == pytest.approx([50.0])  # one window of the 4-s overload: its two answers


def test_a_simulated_p95_between_the_passes_p95s_is_inside_the_measurements_own_noise():
    point = {"p95_ms": 200.0, "p95_passes": [150.0, 260.0, 190.0]}
    assert repeat_noise(point, 250.0) == {"p95_passes_ms": [150.0, 260.0, 190.0], "p95_repeat_spread": 0.55,
                                          "p95_inside_repeats": True}
    assert repeat_noise(point, 270.0)["p95_inside_repeats"] is False
    assert repeat_noise({"p95_ms": 200.0, "p95_passes": [200.0]}, 200.0)["p95_inside_repeats"] is None


def test_a_pass_size_not_measured_is_scaled_from_the_nearest_measured_one():
    rng = np.random.default_rng(0)
    times = _times(little_s=0.001)
    assert times.pass_time("little", 4, rng) == pytest.approx(0.0025)
    assert times.pass_time("little", 8, rng) == pytest.approx(0.005)  # 4-frame passes, per frame × 8
    assert times.pass_time("big", 3, rng) == pytest.approx(3 * BIG_S)
    with pytest.raises(ValueError, match="no measured big passes"):
        ServiceTimes({1: np.ones(2)}, {}).pass_time("big", 1, rng)


def test_front_and_back_delays_add_to_every_answered_request():
    config = DuoConfig(max_batch=1, max_wait_ms=0.0, max_queued=1000, max_recovery_queued=1000)
    arrivals = np.arange(50) * 1.0  # one a second: no queueing
    bare = simulate(0.0, 0, _times(), config, single=True, arrivals=arrivals, warmup=0)
    delayed = simulate(0.0, 0, _times(front=np.full(3, 0.004), back=np.full(3, 0.002)), config, single=True,
                       arrivals=arrivals, warmup=0)
    assert bare.latencies_s == pytest.approx(np.full(50, BIG_S))
    assert delayed.latencies_s == pytest.approx(np.full(50, BIG_S + 0.006))
    assert delayed.to_json()["throughput_per_s"] == pytest.approx(50 / 49)


def test_traced_overheads_and_a_stall_replay_what_each_request_and_the_worker_met():
    config = DuoConfig(max_batch=1, max_wait_ms=0.0, max_queued=1000, max_recovery_queued=1000)
    arrivals = np.array([0.0, 0.001, 1.0])
    traced = {0: (0.004, 0.002)}  # request 0's own front and back delays; the others draw (none measured: 0)
    # the measured big pass that ended at 0.014 s was followed by a 0.5 s stall before the next one
    stall = {"big": (np.array([0.014]), np.array([0.5]))}
    result = simulate(0.0, 0, _times(), config, single=True, arrivals=arrivals, warmup=0, traced=traced,
                      traced_gaps=stall)
    # request 1 (no front delay) is queued first and served 0.001-0.011 s; that pass ended nearest the measured
    # one before the stall, so the worker is held 0.5 s (to 0.511 s); request 0 (front 4 ms) then gets its pass
    # (10 ms) and its back delay (2 ms); request 2 comes after the stall and is not held by it
    assert result.latencies_s.tolist() == pytest.approx([BIG_S, BIG_S, 0.511 + BIG_S + 0.002])


def _log(passes, requests):
    return {"pass_fields": ["seq", "model", "frames", "start", "end", "queued"], "passes": passes,
            "request_fields": ["seq", "request_id", "status", "frames", "read", "submitted", "answered", "replied"],
            "requests": requests}


def test_service_times_come_from_the_servers_log_matched_by_request_id():
    origin = 100.0
    replies = [Reply(0.0, 0.0, 0.020, 200, 0, "little", index=0, origin=origin),
               Reply(0.5, 0.5, 0.530, 200, 1, "big", index=1, origin=origin),
               Reply(0.9, 0.9, 0.950, 429, 0, index=2, origin=origin),
               Reply(1.0, 1.0, 1.010, 200, 0, index=3, origin=origin)]  # not in the log: left out
    log = _log([[1, "little", 1, 100.004, 100.006, 0], [2, "little", 2, 100.504, 100.508, 3],
                [3, "big", 1, 100.508, 100.521, 0], [7, "little", 3, 100.510, 100.514, 0]],
               [[4, "0", 200, 1, 100.002, 100.003, 100.006, 100.007],
                [5, "1", 200, 1, 100.502, 100.504, 100.521, 100.523],
                [6, "2", 429, 1, None, None, None, None]])
    times = times_from_log(log, replies)
    assert times.little[1] == pytest.approx([0.002]) and times.little[2] == pytest.approx([0.004])
    assert times.gaps["little"] == pytest.approx([0.002])  # only after the pass that left frames waiting
    assert times.gaps["big"].size == 0
    assert times.big[1] == pytest.approx([0.013])
    assert times.front == pytest.approx([0.003, 0.004])  # submitted − scheduled
    assert times.back == pytest.approx([0.014, 0.009])  # client done − last pass
    summary = times.summary_ms()
    assert summary["big"]["1"]["samples"] == 1 and summary["front"]["median_ms"] == pytest.approx(3.5)


def test_a_measured_run_replayed_through_the_simulation_reproduces_a_deterministic_queue():
    # every request recovered, 10 ms big passes back to back: two arrivals 1 ms apart → the second waits
    config = DuoConfig(max_batch=1, max_wait_ms=0.0, max_queued=1000, max_recovery_queued=1000)
    times = ServiceTimes({1: np.full(3, 0.001)}, {1: np.full(3, 0.010)}, np.full(3, 0.002), np.full(3, 0.001))
    run = Run(np.array([0.0, 0.001]), 1.0, [], times)
    out = simulate_point([run], config, single=False, routes=["big"], repeats=3)
    # first: 2 + 1 + 10 + 1 = 14 ms; second (sent at 1 ms): queued at 3, little done at 4, waits for the big
    # model until 13, done at 23, replied at 24: 23 ms
    assert out["p50_ms"] == pytest.approx((14.0 + 23.0) / 2) and out["p99_ms"] == pytest.approx(23.0, abs=0.1)
    assert out["throughput_per_s"] == pytest.approx(2.0)
    assert out["refused_share"] == 0.0


def test_the_gap_after_each_pass_holds_the_worker_back():
    config = DuoConfig(max_batch=1, max_wait_ms=0.0, max_queued=1000, max_recovery_queued=1000)
    arrivals = np.zeros(10)  # ten at once: passes back to back
    gapless = simulate(0.0, 0, _times(), config, single=True, arrivals=arrivals, warmup=0)
    gapped = simulate(0.0, 0, _times(gaps={"big": np.full(2, 0.005)}), config, single=True, arrivals=arrivals, warmup=0)
    assert gapless.latencies_s.max() == pytest.approx(10 * BIG_S)
    assert gapped.latencies_s.max() == pytest.approx(10 * BIG_S + 9 * 0.005)


def test_windowed_times_draw_from_the_window_of_their_moment():
    rng = np.random.default_rng(0)
    slow = ServiceTimes({}, {1: np.full(3, 0.100)})
    fast = ServiceTimes({}, {1: np.full(3, 0.010)})
    empty = ServiceTimes()
    times = ServiceTimes({}, {1: np.full(3, 0.050)}, windows=(fast, slow, empty), window_s=1.0)
    assert times.pass_time("big", 1, rng, 0.5) == pytest.approx(0.010)
    assert times.pass_time("big", 2, rng, 1.5) == pytest.approx(0.200)
    assert times.pass_time("big", 1, rng, 2.5) == pytest.approx(0.050)  # an empty window: the whole run's
    assert times.pass_time("big", 1, rng, 9.0) == pytest.approx(0.050)  # past the last window: the last one's
    assert times.pass_time("big", 1, rng) == pytest.approx(0.050) and times.stationary().windows == ()


def test_pass_time_memory_finds_how_long_slow_spells_last():
    # Passes every 10 ms for 30 s; the host is 3x slower in 60-ms spells starting at random moments (about
    # two a second), with independent jitter: passes 30 ms apart often share a spell, 1 s apart only by chance.
    rng = np.random.default_rng(3)
    start = np.arange(0.0, 30.0, 0.010)
    spells = rng.uniform(0.0, 30.0, 60)
    slow = ((start[:, None] - spells[None, :] >= 0) & (start[:, None] - spells[None, :] < 0.06)).any(axis=1)
    seconds = 0.004 * np.where(slow, 3.0, 1.0) * np.exp(rng.normal(0, 0.1, start.size))
    rows = [[k, "big", 1, float(t), float(t + d), 0] for k, (t, d) in enumerate(zip(start, seconds))]
    run = Run(np.zeros(0), 30.0, [], ServiceTimes(), _log(rows, []))
    memory = pass_time_memory([[run]], lags=(0.03, 1.0))
    assert memory["0.03"] > 0.3
    assert abs(memory["1"]) < 0.1


def test_pass_time_memory_needs_enough_pairs():
    rows = [[1, "big", 1, 0.0, 0.004, 0], [2, "big", 1, 0.03, 0.035, 0]]
    run = Run(np.zeros(0), 1.0, [], ServiceTimes(), _log(rows, []))
    assert pass_time_memory([[run]], lags=(0.03,)) == {"0.03": None}


def test_recorded_runs_cut_into_windows_and_survive_a_round_trip(tmp_path):
    from mmnet.benchmarks.duo_load import load_runs, save_runs

    origin = 50.0
    replies = [Reply(0.2, 0.2, 0.25, 200, 0, index=0, origin=origin), Reply(1.4, 1.4, 1.52, 200, 1, index=1, origin=origin)]
    log = _log([[1, "big", 1, 50.21, 50.24, 0], [2, "big", 1, 51.41, 51.51, 0]],
               [[3, "0", 200, 1, 50.205, 50.21, 50.24, 50.245], [4, "1", 200, 1, 51.405, 51.41, 51.51, 51.515]])
    run = Run(np.array([0.2, 1.4]), 2.0, replies, times_from_log(log, replies, window_s=1.0), log)
    assert len(run.times.windows) == 2
    assert run.times.windows[0].big[1] == pytest.approx([0.03]) and run.times.windows[1].big[1] == pytest.approx([0.10])
    save_runs(tmp_path / "runs.json.gz", {"single": [[run]]})
    again = load_runs(tmp_path / "runs.json.gz", window_s=1.0)["single"][0][0]
    assert again.schedule == pytest.approx(run.schedule) and again.times.front == pytest.approx(run.times.front)
    assert again.times.windows[1].big[1] == pytest.approx([0.10])
