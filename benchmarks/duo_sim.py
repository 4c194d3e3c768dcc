"""A discrete-event simulation of the Dynamic Duo server (:mod:`mmnet.server.duo_app`), fed by measured
service times, to extend the p95-vs-load curve past what the host can drive (``duo_load`` calls it).

The model, station by station, as the server runs:

- Poisson arrivals of one-frame requests at ``rate``; admission as :func:`mmnet.server.duo.admit`
  decides it (the same function: bounded admitted frames, recovery-queue backpressure → 429);
- the **little worker** (``little_workers`` of them): dynamic batching by :func:`mmnet.server.duo.plan_batch`
  (``max_batch``, ``max_wait_ms``); a pass of ``b`` frames takes a time drawn from the measured
  passes of ``b`` frames (the sum of ``b`` one-frame draws when ``b`` was not measured);
- the probe: each frame is recovered with the measured probability (``recovery_rate``) — or, with
  ``routes``, by replaying the probe's real decisions on the served frames in arrival order;
- the **big worker(s)**: the recovery queue, up to ``max_batch`` frames per pass without waiting
  (a single system: batched like the little worker), a pass the sum of one-frame draws;
- a fixed per-request ``overhead_s`` for what is not a model (HTTP, decoding, reply): one number,
  calibrated by the caller at the lowest measured load.

What it leaves out: contention between the workers and the HTTP side for the host's cores (the
simulation gives each worker a core of its own), so it is optimistic near saturation on 2 cores.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmnet.server.duo import DuoConfig, Load, admit, plan_batch

__all__ = ["ServiceTimes", "SimResult", "simulate"]


@dataclass(frozen=True)
class ServiceTimes:
    """Measured pass times in seconds: ``little[b]`` the passes of ``b`` frames; ``big`` one-frame passes."""

    little: dict[int, np.ndarray] = field(default_factory=dict)
    big: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def little_pass(self, b: int, rng: np.random.Generator) -> float:
        if b in self.little and self.little[b].size:
            return float(rng.choice(self.little[b]))
        return float(sum(rng.choice(self.little[1]) for _ in range(b)))

    def big_pass(self, b: int, rng: np.random.Generator) -> float:
        return float(rng.choice(self.big, size=b).sum())


@dataclass(frozen=True)
class SimResult:
    rate: float
    offered: int
    answered: int
    refused: int
    latencies_s: np.ndarray = field(repr=False)
    recovered: int = 0

    def percentile_ms(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_s, q) * 1000.0) if self.latencies_s.size else None

    def to_json(self) -> dict[str, Any]:
        return {"rate": self.rate, "offered": self.offered, "answered": self.answered, "refused": self.refused,
                "recovered": self.recovered, "p50_ms": self.percentile_ms(50), "p95_ms": self.percentile_ms(95),
                "p99_ms": self.percentile_ms(99)}


def simulate(rate: float, requests: int, times: ServiceTimes, config: DuoConfig, *, single: bool,
             recovery_rate: float = 0.0, routes: Sequence[bool] | None = None, overhead_s: float = 0.0,
             little_workers: int = 1, big_workers: int = 1, seed: int = 0, warmup: int = 200) -> SimResult:
    """``requests`` Poisson arrivals at ``rate`` per second through the server's queues (module doc);
    the first ``warmup`` requests are left out of the statistics."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, size=requests))
    recovered_by_frame = (np.asarray(routes, bool)[np.arange(requests) % len(routes)] if routes is not None
                          else rng.random(requests) < recovery_rate)
    events: list[tuple[float, int, str, Any]] = []  # (time, sequence, kind, payload)
    sequence = 0

    def push(t: float, kind: str, payload: Any = None) -> None:
        nonlocal sequence
        heapq.heappush(events, (t, sequence, kind, payload))
        sequence += 1

    for i, t in enumerate(arrivals):
        push(float(t), "arrive", i)
    little_q: deque[tuple[float, int]] = deque()  # (enqueued, request)
    big_q: deque[tuple[float, int]] = deque()
    free = {"little": little_workers, "big": big_workers}
    timer_armed = {"little": False, "big": False}
    in_system = 0
    done = np.full(requests, np.nan)
    refused = np.zeros(requests, bool)
    recovered = 0
    big_wait = config.max_wait_s if single else 0.0

    def dispatch(now: float, station: str) -> None:
        queue, wait = (little_q, config.max_wait_s) if station == "little" else (big_q, big_wait)
        while free[station] and queue:
            plan = plan_batch(len(queue), now - queue[0][0], config.max_batch, wait)
            if not plan.take:
                if not timer_armed[station] and plan.wait_s is not None:
                    timer_armed[station] = True
                    # at least 0.1 µs: float rounding can leave a due deadline a hair ahead of now
                    push(now + max(plan.wait_s, 1e-7), "timer", station)
                return
            batch = [queue.popleft()[1] for _ in range(plan.take)]
            free[station] -= 1
            duration = times.little_pass(len(batch), rng) if station == "little" else times.big_pass(len(batch), rng)
            push(now + duration, f"{station}_done", batch)

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "arrive":
            a = admit(Load(in_system, len(big_q)), 1, config, recovery_possible=not single)
            if not a.admitted:
                refused[payload] = True
                continue
            in_system += 1
            (big_q if single else little_q).append((now, payload))
            dispatch(now, "big" if single else "little")
        elif kind == "timer":
            timer_armed[payload] = False
            dispatch(now, payload)
        elif kind == "little_done":
            free["little"] += 1
            for request in payload:
                if recovered_by_frame[request]:
                    big_q.append((now, request))
                    recovered += 1
                else:
                    done[request] = now
                    in_system -= 1
            dispatch(now, "little")
            dispatch(now, "big")
        else:  # big_done
            free["big"] += 1
            for request in payload:
                done[request] = now
                in_system -= 1
            dispatch(now, "big")
    counted = slice(min(warmup, requests // 4), None)
    answered = ~np.isnan(done[counted])
    latencies = (done[counted] - arrivals[counted])[answered] + overhead_s
    return SimResult(rate, int(done[counted].size), int(answered.sum()), int(refused[counted].sum()),
                     np.sort(latencies), recovered)


def relative_error(simulated: float | None, measured: float | None) -> float | None:
    if simulated is None or measured is None or not measured or math.isnan(measured):
        return None
    return abs(simulated - measured) / measured
