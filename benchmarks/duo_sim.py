"""A discrete-event simulation of the Dynamic Duo server (:mod:`mmnet.server.duo_app`), fed by the service
times the server measured during a load run (its ``GET /timings``), to check the queueing model against
the measured points and to extend the p95-vs-load curve past what the host can drive (``duo_load``).

The model, stage by stage, as a request goes through the server:

- **arrivals**: one-frame requests at the run's own scheduled times (to validate a measured point) or
  Poisson at ``rate`` (to extend the curve);
- **admission** at arrival, as :func:`mmnet.server.duo.admit` decides it (bounded admitted frames,
  recovery-queue backpressure → 429); an admitted request counts as one frame from then on, as the
  server counts a request it is decoding;
- **front** (client send, HTTP, body read, JSON/base64/PNG decode, up to the frames joining the
  queues): a delay drawn per request from the measured ``front`` times (what the server's
  timing log gives as ``submitted − scheduled``), then the server's second check (the recovery
  queue may have filled meanwhile);
- the **little worker**: dynamic batching by :func:`mmnet.server.duo.plan_batch` (``max_batch``,
  ``max_wait_ms``); a pass of ``b`` frames takes a time drawn from the measured passes of ``b`` frames
  (a size not measured: the nearest measured size, scaled per frame); after it the worker waits a
  ``gap`` drawn from the measured gaps between a pass and the next when frames were waiting (the
  event loop's turn to hand the answers out and start the next pass: on a busy host, milliseconds);
- the probe: each frame is recovered as the probe decided on that frame (``routes``, replayed by
  frame), or with probability ``recovery_rate``;
- the **big worker**: the recovery queue, up to ``max_batch`` frames per pass without waiting (a single
  system: batched like the little worker), a pass drawn like the little ones;
- **back** (the last pass's end to the client having the reply: the event loop's turn, JSON encoding,
  the socket): a delay drawn per request from the measured ``back`` times.

Every draw is independent. With one distribution per run the model keeps what the run's times were, not
*when*: on a shared host the slow spells (another job taking the cores for a moment) hit many passes
and requests together. ``ServiceTimes.windows`` keeps that too: the run's times cut into short windows
(a tenth of a second in ``duo_load``), each draw from the window of its moment (the host's speed as it
was then; the queueing is still the simulation's). It gives each worker its own thread as the server
does; the workers' contention for the host's cores is in the measured times, not modelled.
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

__all__ = ["ServiceTimes", "SimResult", "simulate", "relative_error"]

LITTLE = "little"
BIG = "big"


def _zeros() -> np.ndarray:
    return np.zeros(0)


@dataclass(frozen=True)
class ServiceTimes:
    """Measured times in seconds: worker passes by frames per pass (``little[b]``, ``big[b]``), the
    worker's gap from a pass to the next while frames waited (``gaps[model]``), and per request the
    ``front`` delay (scheduled send → frames queued) and the ``back`` delay (last pass done → reply at
    the client). Empty delays or gaps: none."""

    little: dict[int, np.ndarray] = field(default_factory=dict)
    big: dict[int, np.ndarray] = field(default_factory=dict)
    front: np.ndarray = field(default_factory=_zeros)
    back: np.ndarray = field(default_factory=_zeros)
    gaps: dict[str, np.ndarray] = field(default_factory=dict)
    # The same times cut into consecutive windows of window_s seconds of the run (a draw at time t comes
    # from t's window when it holds samples of that kind): the host's slow spells where they happened.
    windows: tuple[ServiceTimes, ...] = ()
    window_s: float = 0.0

    def stationary(self) -> ServiceTimes:
        """These times as one distribution for the whole run (no windows)."""
        return ServiceTimes(self.little, self.big, self.front, self.back, self.gaps)

    def _sources(self, t: float | None) -> list[ServiceTimes]:
        if self.windows and t is not None and self.window_s > 0:
            return [self.windows[min(max(int(t // self.window_s), 0), len(self.windows) - 1)], self]
        return [self]

    def pass_time(self, station: str, b: int, rng: np.random.Generator, t: float | None = None) -> float:
        for source in self._sources(t):
            measured = {k: v for k, v in (source.little if station == LITTLE else source.big).items() if v.size}
            if not measured:
                continue
            if b in measured:
                return float(rng.choice(measured[b]))
            nearest = min(measured, key=lambda k: (abs(k - b), k))
            return float(rng.choice(measured[nearest])) * b / nearest
        raise ValueError(f"no measured {station} passes to draw from")

    def delay(self, stage: str, rng: np.random.Generator, t: float | None = None) -> float:
        for source in self._sources(t):
            values = {"front": source.front, "back": source.back}.get(stage)
            if values is None:
                values = source.gaps.get(stage, _zeros())
            if values.size:
                return float(rng.choice(values))
        return 0.0

    def summary_ms(self) -> dict[str, Any]:
        """Medians and sample counts, in ms, for the report."""
        def stats(v: np.ndarray) -> dict[str, float]:
            return {"median_ms": float(np.median(v) * 1000), "p95_ms": float(np.percentile(v, 95) * 1000),
                    "samples": int(v.size)}
        return {"little": {str(b): stats(v) for b, v in sorted(self.little.items()) if v.size},
                "big": {str(b): stats(v) for b, v in sorted(self.big.items()) if v.size},
                "front": stats(self.front) if self.front.size else None,
                "back": stats(self.back) if self.back.size else None,
                "gaps": {m: stats(v) for m, v in sorted(self.gaps.items()) if v.size}}


@dataclass(frozen=True)
class SimResult:
    rate: float
    offered: int
    answered: int
    refused: int
    latencies_s: np.ndarray = field(repr=False)
    recovered: int = 0
    seconds: float = 0.0  # the arrivals' span: answered / seconds is the throughput

    def percentile_ms(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_s, q) * 1000.0) if self.latencies_s.size else None

    def to_json(self) -> dict[str, Any]:
        return {"rate": self.rate, "offered": self.offered, "answered": self.answered, "refused": self.refused,
                "recovered": self.recovered, "p50_ms": self.percentile_ms(50), "p95_ms": self.percentile_ms(95),
                "p99_ms": self.percentile_ms(99),
                "throughput_per_s": self.answered / self.seconds if self.seconds else None}


def simulate(rate: float, requests: int, times: ServiceTimes, config: DuoConfig, *, single: bool,
             recovery_rate: float = 0.0, routes: Sequence[bool] | None = None, arrivals: np.ndarray | None = None,
             seconds: float | None = None, seed: int = 0, warmup: int = 200,
             traced: dict[int, tuple[float, float]] | None = None,
             traced_gaps: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> SimResult:
    """``requests`` Poisson arrivals at ``rate`` per second (or the given ``arrivals``, seconds from 0,
    over ``seconds``) through the server's stages (module doc); ``routes[i % len(routes)]`` True when
    request ``i``'s frame is recovered. The first ``warmup`` requests are left out of the statistics
    (at most a quarter of them). ``traced``: request ``i``'s own measured (front, back) delays, used
    instead of draws where given (a measured run replayed with the overheads each request had);
    ``traced_gaps[model]``: the end times (s from the run's start, sorted) of the measured passes after
    which frames waited, and the gap to the next pass: a pass ending at t waits for the worker's measured resumption
    after the measured pass that ended nearest t (what is left of that gap), so a host stall holds the
    passes around when it happened, once, rather than any pass drawn from its window."""
    rng = np.random.default_rng(seed)
    if arrivals is None:
        arrivals = np.cumsum(rng.exponential(1.0 / rate, size=requests))
    else:
        arrivals = np.asarray(arrivals, dtype=np.float64)
        requests = arrivals.size
    span = seconds if seconds is not None else (float(arrivals[-1]) if requests else 0.0)
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
    free = {LITTLE: 1, BIG: 1}
    timer_armed = {LITTLE: False, BIG: False}
    in_system = 0
    done = np.full(requests, np.nan)
    refused = np.zeros(requests, bool)
    recovered = 0
    big_wait = config.max_wait_s if single else 0.0

    def gap_after(station: str, ends: float) -> float:
        if traced_gaps is None or station not in traced_gaps:
            return times.delay(station, rng, ends)
        at, gaps = traced_gaps[station]
        if not at.size:
            return 0.0
        k = int(np.searchsorted(at, ends))
        nearest = min((j for j in (k - 1, k) if 0 <= j < at.size), key=lambda j: abs(at[j] - ends))
        # the worker resumed at the measured time: passes ending inside a stall wait out what is left of it
        return max(0.0, float(at[nearest] + gaps[nearest]) - max(ends, float(at[nearest])))

    def dispatch(now: float, station: str) -> None:
        queue, wait = (little_q, config.max_wait_s) if station == LITTLE else (big_q, big_wait)
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
            ends = now + times.pass_time(station, len(batch), rng, now)
            push(ends, f"{station}_done", batch)
            push(ends + gap_after(station, ends), "free", station)

    def answer(now: float, request: int) -> None:
        nonlocal in_system
        done[request] = now + (traced[request][1] if traced and request in traced else times.delay("back", rng, now))
        in_system -= 1

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "arrive":
            if not admit(Load(in_system, len(big_q)), 1, config, recovery_possible=not single).admitted:
                refused[payload] = True
                continue
            in_system += 1
            front = traced[payload][0] if traced and payload in traced else times.delay("front", rng, now)
            push(now + front, "queue", payload)
        elif kind == "queue":  # decoded: checked again without itself, then its frame joins the queue
            if not admit(Load(in_system - 1, len(big_q)), 1, config, recovery_possible=not single).admitted:
                refused[payload] = True
                in_system -= 1
                continue
            (big_q if single else little_q).append((now, payload))
            dispatch(now, BIG if single else LITTLE)
        elif kind == "timer":
            timer_armed[payload] = False
            dispatch(now, payload)
        elif kind == "free":
            free[payload] += 1
            dispatch(now, payload)
        elif kind == "little_done":
            for request in payload:
                if recovered_by_frame[request]:
                    big_q.append((now, request))
                    recovered += 1
                else:
                    answer(now, request)
            dispatch(now, BIG)
        else:  # big_done
            for request in payload:
                answer(now, request)
    counted = slice(min(warmup, requests // 4), None)
    answered = ~np.isnan(done[counted])
    latencies = (done[counted] - arrivals[counted])[answered]
    kept = requests - counted.start
    return SimResult(rate, int(done[counted].size), int(answered.sum()), int(refused[counted].sum()),
                     np.sort(latencies), recovered, span * kept / requests if requests else 0.0)


def relative_error(simulated: float | None, measured: float | None) -> float | None:
    if simulated is None or measured is None or not measured or math.isnan(measured):
        return None
    return abs(simulated - measured) / measured
