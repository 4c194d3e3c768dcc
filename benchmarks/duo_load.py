"""Dynamic Duo under load (dissertation §6.5, Fig. 6.17): an open-loop Poisson load on loopback against
the pair the pair search chose and against its big model alone, the p95-vs-load curve of each, the
throughput at equal p95, an overload run, and a queueing simulation extending the curve.

    .venv/bin/python -m mmnet.benchmarks.duo_load --duo results/duo_pool/duo_pool.json --out results/duo_load
    .venv/bin/python -m mmnet.benchmarks.duo_load --duo results/duo_pool/duo_pool.json --out results/duo_overload \\
        --overload --overload-seconds 60

``--duo`` is the ``duo_pool.json`` of ``mmnet.benchmarks.duo_pool`` (its serving block's pair,
``--target``/``--rule`` as for ``mmnet serve --duo``); the frames are that pool's test frames (a Coral
pool's photos from the config's data, ``$MMNET_SHARED_DATA``; a bundle pool's recorded test split),
sent one per request as base64 PNG. Both systems run
as ``python -m mmnet.server --duo`` children at once (the baseline with ``--big-alone``) with the same
:class:`~mmnet.server.duo.DuoConfig`; per offered rate each gets ``--passes`` runs of ``--seconds``,
the two alternating (side by side: a slow spell of the shared host touches both), pooled per rate with
each pass's p95 kept as the spread.

**The generator** (:func:`run_load`): asyncio on raw sockets in this process, HTTP/1.1 keep-alive,
open loop: arrivals are drawn up front (exponential gaps), each is sent at its time on an idle
connection or a new one whatever the replies do; a request's latency runs from its scheduled time
(so a late send counts against the server, not hidden). Its own limits are measured and printed:
the send lag (actual − scheduled send) of every run, and its highest rate against ``/healthz``.

**Numbers.** Per system and offered rate: answered/s, 429s, p50/p95/p99 of answered requests, the
recovery rate from the ``X-Mmnet-Answered-By`` headers, every answer checked against the pair's
offline decision (the pool's recorded outputs and the probe: same model and class). *Throughput at
the single model's p95*: L = the big model's p95 at the highest offered rate it sustains (no 429,
answered ≥ 97% of offered); each system's throughput is the highest sustained rate whose p95 ≤ L
(linear between measured rates); the ratio is printed beside the paper's 2.1×. Accuracy of each
system on the served test photos, the recovery rate and the probe's false positives/negatives beside
the paper's 9.5%, 0.8%, ≤ 8.8%.

**Overload** (``--overload``): 3× the pair's sustainable rate (the highest sustained rate of the curve,
or ``--sustainable``) for ``--overload-seconds``, then half the sustainable rate for 15 s: every request
must get an answer or a 429 (none lost, none wrong), the p95 of accepted requests stays bounded, and
the time until throughput recovers after the drop is reported (the first 1-s window from which on
every request is answered).

**Simulation** (:mod:`mmnet.benchmarks.duo_sim`): fed by what the server timed during each run (its
``GET /timings``: every worker pass by model and frames, and per request, matched by the
``X-Request-Id`` the generator sends, the front delay from the scheduled send to the frame queued —
HTTP, body, JSON/base64/PNG decoding — and the back delay from the last pass to the reply at the
client). Each measured run is replayed (its arrival times and frames, so the probe's real decisions)
``SIM_REPEATS`` times with independent draws from those distributions — each draw from the window of
``WINDOW_S`` (a tenth of a second) of the run it falls in (the host's slow spells where they were; the
report's pass-time memory shows how long they last), and, for comparison, from the whole run; p50,
p95 and throughput of every measured point beside the simulated ones, with the relative error per
point and the maximum, and the measured p95's own bootstrap interval. The runs are saved
(``duo_load_runs.json.gz``), so ``--resimulate`` redoes the simulation without load.
Beyond the measured rates (1.5, 2 and 3 × the highest) it runs Poisson arrivals with the highest
rate's service times. The service times measured in this process before the curve (in isolation)
are reported beside the served ones: on a shared 2-core host the same pass costs more under load.

Writes ``duo_load.json``, ``duo_load.md`` and ``duo_load.png`` (p95 vs load, measured and simulated).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.benchmarks.duo_sim import ServiceTimes, relative_error, simulate
from mmnet.benchmarks.results import write_results
from mmnet.format.errors import ConfigError, DataError, MmnetError
from mmnet.runtime.remote import png_bytes
from mmnet.server.duo import BIG, LITTLE, DuoConfig, DuoSystem, load_duo, route_frame
from mmnet.server.duo_app import REQUEST_ID_HEADER, DuoModels
from mmnet.server.launch import running_duo_server_process

REPO = Path(__file__).resolve().parents[1]
CORAL_CONFIG = REPO / "configs" / "coral-imagenet.yaml"
PAPER = {"throughput_ratio": 2.1, "recovery_rate": 0.095, "false_positive_rate": 0.008, "max_false_negative_rate": 0.088}
SUSTAINED_FRACTION = 0.97
# Default offered rates: these multiples of 1 / (the big model's median pass), measured at the start
RATE_FRACTIONS = (0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.1, 1.4, 1.8)
_RECOVERY_WINDOW_S = 1.0
_OVERLOAD_WINDOW_S = 10.0  # the accepted requests' p95 per window of the overload: bounded means no growth
# A kept-alive connection idle longer than this is closed rather than reused: the server closes one idle
# for its keep-alive / header timeout (5 s by default), and a request written into a socket it has just
# closed comes back as a reset — a stale connection of the client's pool, not a request the server lost.
IDLE_REUSE_S = 2.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the load generator ----------------------------------------------------------------------------------


@dataclass
class Reply:
    scheduled: float  # seconds from the run's start
    sent: float
    done: float
    status: int  # 0: no HTTP answer (connection error)
    frame: int
    answered_by: str = ""
    body: bytes = field(default=b"", repr=False)
    error: str = ""  # status 0: the exception the connection raised
    index: int = -1  # the request's place in its run (sent as X-Request-Id)
    origin: float = 0.0  # the run's start on the host's monotonic clock (the server's timing log's clock)

    @property
    def latency_s(self) -> float:
        return self.done - self.scheduled


def request_bytes(path: str, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


async def _read_reply(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def run_load(host: str, port: int, requests: list[bytes], schedule: np.ndarray, *, keep_bodies: bool = False,
                   max_connections: int = 512, timeout_s: float = 60.0) -> list[Reply]:
    """Sends ``requests[i % len(requests)]`` at ``schedule[i]`` seconds from now (open loop) and
    returns every reply. A request with no idle connection opens a new one (up to ``max_connections``
    in flight; beyond, it waits for one: the send lag shows it)."""
    loop = asyncio.get_running_loop()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []  # (…, when it went idle)
    slots = asyncio.Semaphore(max_connections)
    replies: list[Reply] = []
    start = loop.time()

    def fresh_idle() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        while idle:
            reader, writer, since = idle.pop()  # the most recently used first
            if loop.time() - since <= IDLE_REUSE_S:
                return reader, writer
            writer.close()
        return None

    async def exchange(i: int, frame: int, pooled: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None
                       ) -> tuple[int, dict[str, str], bytes]:
        reader, writer = pooled or await asyncio.open_connection(host, port)
        try:
            data = requests[frame]
            head_end = data.index(b"\r\n") + 2  # the request line; the id header follows it
            writer.writelines([data[:head_end], f"{REQUEST_ID_HEADER}: {i}\r\n".encode("ascii"), data[head_end:]])
            status, headers, body = await asyncio.wait_for(_read_reply(reader), timeout_s)
        except BaseException:
            writer.close()
            raise
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            idle.append((reader, writer, loop.time()))
        return status, headers, body

    async def one(i: int) -> None:
        async with slots:
            sent = loop.time() - start
            frame = i % len(requests)
            pooled = fresh_idle()
            try:
                try:
                    status, headers, body = await exchange(i, frame, pooled)
                except asyncio.IncompleteReadError as e:
                    if not (pooled and not e.partial):
                        raise
                    # the server closed this kept-alive connection while it sat idle (its keep-alive
                    # timeout) before reading the request: send it again on a new one, as HTTP clients do
                    status, headers, body = await exchange(i, frame, None)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as e:
                error = type(e).__name__ + (" on a kept-alive connection" if pooled else "")
                replies.append(Reply(float(schedule[i]), sent, loop.time() - start, 0, frame, error=error, index=i,
                                     origin=start))
                return
            done = loop.time() - start
            replies.append(Reply(float(schedule[i]), sent, done, status, frame, headers.get("x-mmnet-answered-by", ""),
                                 body if keep_bodies and status == 200 else b"", index=i, origin=start))

    tasks = []
    for i, t in enumerate(schedule):
        delay = start + float(t) - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    for _, writer, _ in idle:
        writer.close()
    return sorted(replies, key=lambda r: r.scheduled)


def poisson_schedule(phases: list[tuple[float, float]], seed: int) -> np.ndarray:
    """Arrival times (s) of a Poisson process whose rate is ``rate`` during each ``(rate, seconds)`` phase."""
    rng = np.random.default_rng(seed)
    times: list[float] = []
    offset = 0.0
    for rate, seconds in phases:
        t = offset + rng.exponential(1.0 / rate)
        while t < offset + seconds:
            times.append(t)
            t += rng.exponential(1.0 / rate)
        offset += seconds
    return np.asarray(times)


def generator_capacity(url: str, seconds: float = 2.0, rate: float = 1500.0) -> dict[str, float]:
    """The generator's own highest rate: an open loop far beyond it against ``GET /healthz`` (a reply of a
    few bytes, no model): what it completes per second is a lower bound on what it can drive."""
    host, port = url.removeprefix("http://").split(":")
    schedule = poisson_schedule([(rate, seconds)], seed=99)
    request = [f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("ascii")]
    started = time.perf_counter()
    replies = asyncio.run(run_load(host, int(port), request, schedule, max_connections=64))
    elapsed = time.perf_counter() - started
    ok = sum(r.status == 200 for r in replies)
    return {"offered_per_s": rate, "completed_per_s": ok / elapsed, "seconds": elapsed}


# --- offline truth ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frames:
    pixels: np.ndarray  # the pool's test frames, uint8 (N, H, W, C)
    labels: np.ndarray
    little: np.ndarray | None  # the pool's recorded test outputs of the little model
    big: np.ndarray


def load_frames(duo_json: Path, system: DuoSystem, data_root: Path | None, config_path: Path, limit: int | None) -> Frames:
    """The pool's test frames and its recorded outputs: a bundle pool's (``source`` ``bundle:DIR``) from the
    bundle's recorded test split; a config pool's (Coral) from the build config's photos, the split it recorded."""
    from mmnet.pipeline.duo.pool import load_pool

    doc = json.loads(duo_json.read_text(encoding="utf-8"))
    if "pool" not in doc:
        raise DataError(f"{duo_json}: no pool; expected duo_pool.json from mmnet.benchmarks.duo_pool")
    pool = load_pool(duo_json.parent)
    keep = slice(None) if limit is None else slice(0, limit)
    labels = pool.test_labels[keep]
    source = str(doc["pool"].get("source", ""))
    if source.startswith("bundle:"):
        from mmnet.format.bundle import load_bundle

        pixels, bundle_labels = load_bundle(source.removeprefix("bundle:")).load_split("test")
        pixels = pixels[keep]
        if not np.array_equal(bundle_labels[keep], labels):
            raise DataError(f"{duo_json}: the bundle {source} does not carry the test labels the pool recorded")
    else:
        from mmnet.pipeline.config import load_config
        from mmnet.pipeline.datasets.loaders import load_dataset

        indices = doc["pool"]["split"].get("test_indices")
        if not indices:
            raise DataError(f"{duo_json}: the pool recorded no test indices; expected a --coral or --bundle pool")
        if data_root is not None:  # the config's paths name the data root so
            os.environ["MMNET_SHARED_DATA"] = str(Path(data_root).absolute())
        config = load_config(config_path)
        dataset = load_dataset(config.dataset)
        idx = np.asarray(indices)[keep]
        if not np.array_equal(dataset.labels[idx], labels):
            raise DataError(f"{duo_json}: the photos under {config.dataset.source} do not carry the labels the pool recorded")
        pixels = dataset.frames[idx]
    little = pool.model(system.little.id).test_probabilities[keep] if system.little else None
    return Frames(pixels, labels, little, pool.model(system.big.id).test_probabilities[keep])


def offline_routes(system: DuoSystem, frames: Frames) -> list[str]:
    if system.little is None or frames.little is None:
        return [BIG] * len(frames.labels)
    return [route_frame(system.probe, row).model for row in frames.little]


def offline_answers(system: DuoSystem, frames: Frames) -> np.ndarray:
    routes = offline_routes(system, frames)
    if frames.little is None:
        return frames.big.argmax(axis=1)
    return np.where(np.asarray(routes) == LITTLE, frames.little.argmax(axis=1), frames.big.argmax(axis=1))


def probe_errors(system: DuoSystem, frames: Frames) -> dict[str, float]:
    """Recovery rate and the probe's FP (odd corrects sent to big) / FN (complex corrects kept) per test frame."""
    if frames.little is None:
        return {}
    recovered = np.asarray(offline_routes(system, frames)) == BIG
    little_ok = frames.little.argmax(axis=1) == frames.labels
    big_ok = frames.big.argmax(axis=1) == frames.labels
    n = len(frames.labels)
    return {"recovery_rate": float(recovered.mean()),
            "false_positive_rate": float(np.sum(recovered & little_ok & ~big_ok) / n),
            "false_negative_rate": float(np.sum(~recovered & ~little_ok & big_ok) / n)}


# --- one system under load ----------------------------------------------------------------------------------


def summarise(replies: list[Reply], offered_rate: float, seconds: float, expected_answers: np.ndarray,
              expected_routes: list[str]) -> dict[str, Any]:
    answered = [r for r in replies if r.status == 200]
    latencies = np.asarray([r.latency_s for r in answered]) * 1000.0
    lags = np.asarray([r.sent - r.scheduled for r in replies]) * 1000.0
    statuses: dict[str, int] = {}
    for r in replies:
        key = str(r.status) if r.status else f"0 ({r.error})"
        statuses[key] = statuses.get(key, 0) + 1
    routes = [r.answered_by for r in answered]
    wrong_route = sum(got != expected_routes[r.frame] for got, r in zip(routes, answered))
    wrong_answer = None
    if any(r.body for r in answered):
        wrong_answer = sum(int(np.argmax(json.loads(r.body)["predictions"][0])) != int(expected_answers[r.frame])
                           for r in answered if r.body)

    def pct(q: float) -> float | None:
        return float(np.percentile(latencies, q)) if latencies.size else None

    return {"offered_per_s": offered_rate, "sent": len(replies), "answered": len(answered),
            "throughput_per_s": len(answered) / seconds, "statuses": statuses,
            "refused_429": statuses.get("429", 0), "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "recovery_rate": (routes.count(BIG) / len(routes)) if routes else None,
            "wrong_route": wrong_route, "wrong_answer": wrong_answer,
            "send_lag_ms": {"p50": float(np.percentile(lags, 50)), "p99": float(np.percentile(lags, 99))} if lags.size else {}}


def sustained(point: dict[str, Any]) -> bool:
    return point["refused_429"] == 0 and point["answered"] >= SUSTAINED_FRACTION * point["sent"]


def throughput_at(points: list[dict[str, Any]], bound_ms: float) -> float | None:
    """The highest sustained offered rate whose p95 ≤ ``bound_ms`` (linear between measured rates)."""
    best = None
    ordered = sorted(points, key=lambda p: p["offered_per_s"])
    for low, high in zip(ordered, ordered[1:] + [None]):
        if not sustained(low) or low["p95_ms"] is None or low["p95_ms"] > bound_ms:
            break
        best = low["throughput_per_s"]
        if high is not None and sustained(high) and high["p95_ms"] is not None and high["p95_ms"] > bound_ms:
            share = (bound_ms - low["p95_ms"]) / (high["p95_ms"] - low["p95_ms"])
            best = low["throughput_per_s"] + share * (high["throughput_per_s"] - low["throughput_per_s"])
            break
    return best


def measure_service_times(system: DuoSystem, frames: Frames, config: DuoConfig, samples: int) -> ServiceTimes:
    """Worker passes timed in this process with the server's own functions (:class:`DuoModels`), the
    host otherwise as it is: the service times *in isolation*, beside those the servers log under load."""
    models = DuoModels(system)
    rng = np.random.default_rng(1)
    n = len(frames.pixels)

    def timed(function: Any, b: int) -> np.ndarray:
        out = []
        for _ in range(samples):
            batch = frames.pixels[rng.integers(0, n, b)]
            start = time.perf_counter()
            function(batch)
            out.append(time.perf_counter() - start)
        return np.asarray(out)

    little = {}
    if system.little is not None:
        for b in sorted({1, 2, 4, config.max_batch}):
            if b <= config.max_batch:
                little[b] = timed(models.run_little, b)
    return ServiceTimes(little, {1: timed(models.run_big, 1)})


def fetch_timings(url: str, since: int) -> dict[str, Any]:
    """The server's timing log after ``since`` (``GET /timings``, :class:`mmnet.server.duo_app.TimingLog`)."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/timings?since={since}", timeout=30) as reply:
        return json.loads(reply.read().decode("utf-8"))


WINDOW_S = 0.1  # the simulation's windows of a run (ServiceTimes.windows): shorter than the host's slow spells


def _request_delays(log: dict[str, Any], replies: list[Reply]) -> list[tuple[int, float, float, float, float]]:
    """Per answered request found in the log (by X-Request-Id): (index, scheduled, front delay, its last
    pass's end on the monotonic clock, back delay), seconds."""
    fields = {name: k for k, name in enumerate(log["request_fields"])}
    served = {row[fields["request_id"]]: row for row in log["requests"]
              if row[fields["status"]] == 200 and row[fields["submitted"]] is not None}
    out = []
    for r in replies:
        row = served.get(str(r.index))
        if r.status != 200 or row is None:
            continue
        answered = row[fields["answered"]]
        out.append((r.index, r.scheduled, row[fields["submitted"]] - (r.origin + r.scheduled), answered,
                    (r.origin + r.done) - answered))
    return out


def times_from_log(log: dict[str, Any], replies: list[Reply], window_s: float = WINDOW_S) -> ServiceTimes:
    """One run's service times from the server's timing log: every worker pass by model and frames, the
    gap from a pass that left frames waiting to the model's next pass, and per answered request
    (matched by its X-Request-Id) the front delay (scheduled send → frames queued) and the back delay
    (last pass done → reply at the client), all on the monotonic clock; also cut into windows of
    ``window_s`` seconds of the run (by when the pass started, the gap ended, the request was scheduled
    or its last pass ended)."""
    origin = replies[0].origin if replies else 0.0
    fields = {name: k for k, name in enumerate(log["pass_fields"])}
    passes: list[tuple[float, str, int, float]] = []  # (run time, model, frames, seconds)
    gaps: list[tuple[float, str, float]] = []
    previous: dict[str, list[Any]] = {}
    for row in sorted(log["passes"], key=lambda r: r[fields["start"]]):
        model, start = row[fields["model"]], row[fields["start"]]
        passes.append((start - origin, model, int(row[fields["frames"]]), row[fields["end"]] - start))
        before = previous.get(model)
        if before is not None and before[fields["queued"]] > 0:
            gaps.append((start - origin, model, start - before[fields["end"]]))
        previous[model] = row
    rows = _request_delays(log, replies)
    front = [(scheduled, f) for _, scheduled, f, _, _ in rows]
    back = [(answered - origin, b) for _, _, _, answered, b in rows]

    def build(low: float, high: float) -> ServiceTimes:
        def table(model: str) -> dict[int, np.ndarray]:
            out: dict[int, list[float]] = {}
            for t, m, b, seconds in passes:
                if m == model and low <= t < high:
                    out.setdefault(b, []).append(seconds)
            return {b: np.asarray(v) for b, v in out.items()}

        def values(pairs: list[tuple[float, float]]) -> np.ndarray:
            return np.asarray([v for t, v in pairs if low <= t < high])

        return ServiceTimes(table(LITTLE), table(BIG), values(front), values(back),
                            {m: np.asarray([g for t, mm, g in gaps if mm == m and low <= t < high]) for m in (LITTLE, BIG)})

    whole = build(-np.inf, np.inf)
    end = max([t for t, *_ in passes] + [t for t, _ in front] + [0.0])
    windows = tuple(build(k * window_s, (k + 1) * window_s) for k in range(int(end // window_s) + 1))
    return ServiceTimes(whole.little, whole.big, whole.front, whole.back, whole.gaps, windows, window_s)


def pooled_times(times: list[ServiceTimes]) -> ServiceTimes:
    """Several runs' service times as one set of distributions."""
    def merge(tables: list[dict[int, np.ndarray]]) -> dict[int, np.ndarray]:
        sizes = sorted({b for t in tables for b in t})
        return {b: np.concatenate([t[b] for t in tables if b in t]) for b in sizes}

    return ServiceTimes(merge([t.little for t in times]), merge([t.big for t in times]),
                        np.concatenate([t.front for t in times]), np.concatenate([t.back for t in times]),
                        {m: np.concatenate([t.gaps.get(m, np.zeros(0)) for t in times]) for m in (LITTLE, BIG)})


@dataclass
class Run:
    """One pass of one system at one offered rate: what was sent, and what the server timed during it."""

    schedule: np.ndarray
    seconds: float
    replies: list[Reply] = field(repr=False)
    times: ServiceTimes = field(repr=False)
    log: dict[str, Any] = field(default_factory=dict, repr=False)  # the server's timing log of the run

    def traced_delays(self) -> dict[int, tuple[float, float]]:
        """Each answered request's own measured (front, back) delays, by its index in the schedule."""
        return {index: (front, back) for index, _, front, _, back in _request_delays(self.log, self.replies)}

    def traced_gaps(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per model, the end times (s from the run's start, sorted) of its passes after which frames
        waited, and the gap to its next pass, from the server's log."""
        origin = self.replies[0].origin if self.replies else 0.0
        fields = {name: k for k, name in enumerate(self.log["pass_fields"])}
        out = {}
        for model in (LITTLE, BIG):
            rows = sorted((r for r in self.log["passes"] if r[fields["model"]] == model), key=lambda r: r[fields["start"]])
            waited = [(a[fields["end"]] - origin, b[fields["start"]] - a[fields["end"]])
                      for a, b in zip(rows, rows[1:]) if a[fields["queued"]] > 0]
            waited.sort()
            out[model] = (np.asarray([t for t, _ in waited]), np.asarray([g for _, g in waited]))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"schedule": self.schedule.tolist(), "seconds": self.seconds, "log": self.log,
                "replies": [[r.index, r.scheduled, r.sent, r.done, r.status, r.frame, r.origin] for r in self.replies]}

    @classmethod
    def from_json(cls, doc: dict[str, Any], window_s: float = WINDOW_S) -> Run:
        replies = [Reply(scheduled, sent, done, status, frame, index=index, origin=origin)
                   for index, scheduled, sent, done, status, frame, origin in doc["replies"]]
        return cls(np.asarray(doc["schedule"]), float(doc["seconds"]), replies,
                   times_from_log(doc["log"], replies, window_s), doc["log"])


RUNS_FILE = "duo_load_runs.json.gz"


def save_runs(path: Path, runs: dict[str, list[list[Run]]]) -> None:
    """Every run's schedule, replies and server timing log, so the simulation can be redone (``--resimulate``)."""
    import gzip

    doc = {key: [[run.to_json() for run in point] for point in points] for key, points in runs.items()}
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(doc, f)


def load_runs(path: Path, window_s: float = WINDOW_S) -> dict[str, list[list[Run]]]:
    import gzip

    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the recorded runs ({e}); expected {RUNS_FILE} of a duo_load run") from e
    return {key: [[Run.from_json(run, window_s) for run in point] for point in points] for key, points in doc.items()}


def run_curves(duo_json: Path, systems: dict[str, tuple[DuoSystem, bool]], frames: Frames, requests: list[bytes],
               rates: list[float], seconds: float, passes: int, config: DuoConfig, *, target: str | None,
               rule: str | None, seed: int
               ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[list[Run]]], dict[str, float] | None]:
    """Every system (key → (system, big_alone)) served at once, one child each; per offered rate
    ``passes`` runs of ``seconds`` per system, the systems alternating, so a slow spell of the shared
    host touches both alike. A rate's point pools its passes' replies (``p95_passes``: each pass's p95);
    each pass's :class:`Run` keeps the server's own timings of it (``GET /timings``)."""
    expected = {key: (offline_answers(system, frames), offline_routes(system, frames))
                for key, (system, _) in systems.items()}
    points: dict[str, list[dict[str, Any]]] = {key: [] for key in systems}
    runs: dict[str, list[list[Run]]] = {key: [] for key in systems}
    with contextlib.ExitStack() as stack:
        urls = {}
        for key, (_system, big_alone) in systems.items():
            url, _child = stack.enter_context(running_duo_server_process(
                duo_json, target=target, rule=rule, big_alone=big_alone, duo_config=config,
                max_instances=min(64, config.max_queued)))
            urls[key] = url
            host, port = url.removeprefix("http://").split(":")
            asyncio.run(run_load(host, int(port), requests, poisson_schedule([(20.0, 1.0)], seed=seed + 1000)))
        capacity = generator_capacity(next(iter(urls.values())))
        keys = list(systems)
        for k, rate in enumerate(rates):
            replies: dict[str, list[Reply]] = {key: [] for key in keys}
            per_pass: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
            rate_runs: dict[str, list[Run]] = {key: [] for key in keys}
            for p in range(passes):
                for key in (keys if p % 2 == 0 else keys[::-1]):
                    host, port = urls[key].removeprefix("http://").split(":")
                    schedule = poisson_schedule([(rate, seconds)], seed=seed + 100 * k + p)
                    since = fetch_timings(urls[key], sys.maxsize)["next"]  # records from here on
                    got = asyncio.run(run_load(host, int(port), requests, schedule, keep_bodies=True))
                    log = fetch_timings(urls[key], since)
                    run = Run(schedule, seconds, got, times_from_log(log, got), log)
                    summary = summarise(got, rate, seconds, *expected[key])
                    summary["served_ms"] = run.times.summary_ms()
                    per_pass[key].append(summary)
                    rate_runs[key].append(run)
                    replies[key] += got
            for key in keys:
                point = summarise(replies[key], rate, seconds * passes, *expected[key])
                point["p95_passes"] = [q["p95_ms"] for q in per_pass[key]]
                point["served_ms"] = pooled_times([r.times for r in rate_runs[key]]).summary_ms()
                points[key].append(point)
                runs[key].append(rate_runs[key])
                _say(f"  {systems[key][0].name}: {rate:g}/s offered → {point['throughput_per_s']:.1f}/s answered, "
                     f"{point['refused_429']} × 429, p95 {point['p95_ms'] or float('nan'):.1f} ms "
                     f"(passes {[round(v or 0) for v in point['p95_passes']]}), send lag p99 "
                     f"{point['send_lag_ms'].get('p99', float('nan')):.1f} ms")
            if all(points[key][-1]["refused_429"] > 0.2 * points[key][-1]["sent"] for key in keys):
                break  # both far past saturation: higher rates only add 429s
    return points, runs, capacity


def run_overload(duo_json: Path, system: DuoSystem, frames: Frames, requests: list[bytes], sustainable: float,
                 seconds: float, config: DuoConfig, *, target: str | None, rule: str | None, seed: int,
                 after_s: float = 15.0) -> dict[str, Any]:
    """3× ``sustainable`` for ``seconds``, then half of it for ``after_s`` (module doc)."""
    expected_answers = offline_answers(system, frames)
    expected_routes = offline_routes(system, frames)
    schedule = poisson_schedule([(3 * sustainable, seconds), (0.5 * sustainable, after_s)], seed=seed)
    with running_duo_server_process(duo_json, target=target, rule=rule, duo_config=config,
                                    max_instances=min(64, config.max_queued)) as (url, _child):
        host, port = url.removeprefix("http://").split(":")
        asyncio.run(run_load(host, int(port), requests, poisson_schedule([(20.0, 1.0)], seed=seed + 1)))
        replies = asyncio.run(run_load(host, int(port), requests, schedule, keep_bodies=True))
    return overload_summary(replies, sustainable, seconds, after_s, expected_answers, expected_routes)


def overload_summary(replies: list[Reply], sustainable: float, seconds: float, after_s: float,
                     expected_answers: np.ndarray, expected_routes: list[str]) -> dict[str, Any]:
    during = [r for r in replies if r.scheduled < seconds]
    after = [r for r in replies if r.scheduled >= seconds]
    over = summarise(during, 3 * sustainable, seconds, expected_answers, expected_routes)
    calm = summarise(after, 0.5 * sustainable, after_s, expected_answers, expected_routes)
    # recovery: the first window start after the drop from which on every request is answered
    windows = np.arange(seconds, seconds + after_s, _RECOVERY_WINDOW_S)
    clean = [all(r.status == 200 for r in after if w <= r.scheduled < w + _RECOVERY_WINDOW_S) for w in windows]
    recovered_at = None
    for i in range(len(windows)):
        if all(clean[i:]):
            recovered_at = float(windows[i] - seconds)
            break
    lost = sum(r.status not in (200, 429) for r in replies)
    windows_p95 = []
    for w in np.arange(0.0, seconds, _OVERLOAD_WINDOW_S):
        accepted = [r.latency_s * 1000.0 for r in during if r.status == 200 and w <= r.scheduled < w + _OVERLOAD_WINDOW_S]
        windows_p95.append(float(np.percentile(accepted, 95)) if accepted else None)
    return {"p95_per_window_ms": windows_p95, "window_s": _OVERLOAD_WINDOW_S,
            "sustainable_per_s": sustainable, "overload_per_s": 3 * sustainable, "seconds": seconds,
            "after_per_s": 0.5 * sustainable, "after_seconds": after_s, "during": over, "after": calm,
            "lost_or_other_status": lost,
            "wrong": (over["wrong_route"] + calm["wrong_route"] + (over["wrong_answer"] or 0) + (calm["wrong_answer"] or 0)),
            "recovered_after_s": recovered_at}


# --- the whole benchmark ----------------------------------------------------------------------------------------


def _accuracy(system: DuoSystem, frames: Frames) -> float:
    return float(np.mean(offline_answers(system, frames) == frames.labels))


SIM_REPEATS = 10  # simulated replays of each measured run (independent draws), pooled
ERROR_BOUND = 0.15  # the simulation's target: within 15% of the measured p50, p95 and throughput


def simulate_point(runs: list[Run], config: DuoConfig, *, single: bool, routes: list[str],
                   repeats: int = SIM_REPEATS, windowed: bool = True, traced: bool = False) -> dict[str, Any]:
    """A measured point simulated: each of its runs replayed ``repeats`` times — the run's own arrival
    times and frames (so the probe's real decisions), service times drawn from what the server timed
    during that run (``windowed``: from the window of the run each draw falls in; else from the whole
    run) — and pooled as the measured point pools its runs. ``traced``: each answered request keeps its
    own measured front and back delays (the overheads outside the model passes: the generator's send,
    HTTP, decoding, the reply) and each worker gap is the one measured after the pass that ended nearest
    in time (host stalls where they happened); only the pass times are drawn."""
    latencies, answered, offered, refused, seconds = [], 0, 0, 0, 0.0
    for run in runs:
        recovered = [routes[i % len(routes)] == BIG for i in range(run.schedule.size)]
        times = run.times if windowed else run.times.stationary()
        delays, gaps = (run.traced_delays(), run.traced_gaps()) if traced else (None, None)
        for repeat in range(repeats):
            result = simulate(0.0, 0, times, config, single=single, routes=recovered, arrivals=run.schedule,
                              seconds=run.seconds, seed=repeat, warmup=0, traced=delays, traced_gaps=gaps)
            latencies.append(result.latencies_s)
            answered, offered, refused = answered + result.answered, offered + result.offered, refused + result.refused
            seconds += run.seconds
    pooled = np.concatenate(latencies) * 1000.0 if latencies else np.zeros(0)

    def pct(q: float) -> float | None:
        return float(np.percentile(pooled, q)) if pooled.size else None

    return {"p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "throughput_per_s": answered / seconds if seconds else None,
            "refused_share": refused / offered if offered else None, "repeats": repeats}


MEMORY_LAGS_S = (0.03, 0.1, 0.3, 1.0)  # pass-time memory: lags, seconds (MEMORY_TOLERANCE on either side)
MEMORY_TOLERANCE = 0.3


def pass_time_memory(runs: list[list[Run]], lags: tuple[float, ...] = MEMORY_LAGS_S) -> dict[str, float | None]:
    """How long the host's speed persists: over every run's worker passes, the correlation between two
    passes' log duration relative to the median pass of their model and frames, for passes ``lag`` apart
    (±30%), per lag (None: fewer than 30 pairs). Where it fades, draws that far apart may as well be
    independent: the simulation's windows (``WINDOW_S``) should be shorter than that."""
    pairs: dict[float, list[np.ndarray]] = {lag: [] for lag in lags}
    for point in runs:
        for run in point:
            fields = {name: k for k, name in enumerate(run.log.get("pass_fields", []))}
            rows = run.log.get("passes", [])
            for model in (LITTLE, BIG):
                mine = [r for r in rows if r[fields["model"]] == model]
                if len(mine) < 2:
                    continue
                start = np.asarray([r[fields["start"]] for r in mine])
                frames = np.asarray([r[fields["frames"]] for r in mine])
                seconds = np.maximum(np.asarray([r[fields["end"]] for r in mine]) - start, 1e-9)
                medians = {b: np.median(seconds[frames == b]) for b in np.unique(frames)}
                deviation = np.log(seconds / np.asarray([medians[b] for b in frames]))
                apart = start[None, :] - start[:, None]
                for lag in lags:
                    i, j = np.nonzero(np.abs(apart - lag) < MEMORY_TOLERANCE * lag)
                    pairs[lag].append(np.stack([deviation[i], deviation[j]]))
    out: dict[str, float | None] = {}
    for lag, chunks in pairs.items():
        joined = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0))
        usable = joined.shape[1] >= 30 and joined[0].std() > 0 and joined[1].std() > 0
        out[f"{lag:g}"] = float(np.corrcoef(joined)[0, 1]) if usable else None
    return out


def p95_interval(runs: list[Run], rng: np.random.Generator, resamples: int = 1000) -> list[float] | None:
    """The measured p95's own uncertainty: a 90% bootstrap interval over the point's answered requests."""
    latencies = np.asarray([r.latency_s * 1000.0 for run in runs for r in run.replies if r.status == 200])
    if latencies.size < 20:
        return None
    draws = rng.choice(latencies, size=(resamples, latencies.size))
    p95s = np.percentile(draws, 95, axis=1)
    return [float(np.percentile(p95s, 5)), float(np.percentile(p95s, 95))]


def repeat_noise(point: dict[str, Any], simulated_p95: float | None) -> dict[str, Any]:
    """The measured p95's repeat-to-repeat noise at one load: its passes' p95s (the same offered rate
    and system, a few seconds apart), their range relative to the pooled p95, and whether the
    simulated p95 lies inside that range — a simulation no farther from the pooled p95 than one
    repeat of the measurement is from another has no error the measurement can show."""
    passes = [v for v in point.get("p95_passes") or [] if v is not None]
    pooled = point.get("p95_ms")
    if len(passes) < 2 or not pooled:
        return {"p95_passes_ms": passes, "p95_repeat_spread": None, "p95_inside_repeats": None}
    low, high = min(passes), max(passes)
    return {"p95_passes_ms": passes, "p95_repeat_spread": (high - low) / pooled,
            "p95_inside_repeats": simulated_p95 is not None and low <= simulated_p95 <= high}


def validate_simulation(points: list[dict[str, Any]], runs: list[list[Run]], config: DuoConfig, *, single: bool,
                        routes: list[str], extra_rates: list[float], seed: int = 0) -> dict[str, Any]:
    """Every measured point beside its simulation (:func:`simulate_point`): p50, p95 and throughput with
    their relative errors; then ``extra_rates`` (Poisson, 6000 requests) with the service times of the
    highest measured rate pooled over its runs — the host's contention at that load carried forward."""
    rows = []
    keys = ("p50_ms", "p95_ms", "throughput_per_s")
    rng = np.random.default_rng(seed)
    for point, point_runs in zip(points, runs):
        sim = simulate_point(point_runs, config, single=single, routes=routes)
        whole = simulate_point(point_runs, config, single=single, routes=routes, windowed=False)
        traced = simulate_point(point_runs, config, single=single, routes=routes, traced=True)
        rows.append({"rate": point["offered_per_s"], "measured": {k: point[k] for k in keys}, "simulated": sim,
                     "stationary": whole, "traced": traced,
                     **{f"{k}_error": relative_error(sim[k], point[k]) for k in keys},
                     **{f"stationary_{k}_error": relative_error(whole[k], point[k]) for k in keys},
                     **{f"traced_{k}_error": relative_error(traced[k], point[k]) for k in keys},
                     "traced_p95_inside_repeats": repeat_noise(point, traced["p95_ms"])["p95_inside_repeats"],
                     "measured_p95_interval_ms": p95_interval(point_runs, rng), **repeat_noise(point, sim["p95_ms"])})
    extended = []
    if runs:
        top = pooled_times([run.times for run in runs[-1]])
        recovered = [r == BIG for r in routes]
        for k, rate in enumerate(extra_rates):
            result = simulate(rate, 6000, top, config, single=single, routes=recovered, seed=seed + k)
            extended.append(result.to_json())
    def worst(prefix: str) -> dict[str, float | None]:
        return {k: max((r[f"{prefix}{k}_error"] for r in rows if r[f"{prefix}{k}_error"] is not None), default=None)
                for k in keys}

    window_s = next((run.times.window_s for point in runs for run in point), WINDOW_S)
    return {"rows": rows, "extended": extended, "repeats": SIM_REPEATS, "window_s": window_s,
            "pass_time_memory": pass_time_memory(runs),
            "max_error": worst(""), "stationary_max_error": worst("stationary_"), "traced_max_error": worst("traced_")}


def equal_p95(systems: dict[str, Any]) -> dict[str, Any] | None:
    """Throughput at the single model's p95 (module doc) and the ratio."""
    single_points = [p for p in systems["single"]["points"] if sustained(p)]
    if not single_points:
        return None
    anchor = max(single_points, key=lambda p: p["offered_per_s"])
    bound = anchor["p95_ms"]
    s_rate, d_rate = throughput_at(systems["single"]["points"], bound), throughput_at(systems["duo"]["points"], bound)
    return {"bound_ms": bound, "bound_at_per_s": anchor["offered_per_s"], "single_per_s": s_rate,
            "duo_per_s": d_rate, "ratio": (d_rate / s_rate) if s_rate and d_rate else None}


def simulate_systems(result: dict[str, Any], runs: dict[str, list[list[Run]]], systems: dict[str, DuoSystem],
                     frames: Frames, config: DuoConfig) -> None:
    """:func:`validate_simulation` for each system of ``result`` on its recorded runs, and the errors over all."""
    _say(f"simulation: every measured run replayed {SIM_REPEATS} times with the service times the server logged")
    keys = ("p50_ms", "p95_ms", "throughput_per_s")
    for key, system in systems.items():
        points = result["systems"][key]["points"]
        top = max(p["offered_per_s"] for p in points)
        result["systems"][key]["simulation"] = validate_simulation(
            points, runs[key], config, single=key == "single", routes=offline_routes(system, frames),
            extra_rates=[top * f for f in (1.5, 2, 3)])
    for prefix in ("", "stationary_", "traced_"):
        errors = {k: [r[f"{prefix}{k}_error"] for s in result["systems"].values() for r in s["simulation"]["rows"]
                      if r[f"{prefix}{k}_error"] is not None] for k in keys}
        result[f"{prefix}simulation_error"] = {k: {"max": max(v) if v else None, "mean": float(np.mean(v)) if v else None}
                                               for k, v in errors.items()}
    rows = [r for s in result["systems"].values() for r in s["simulation"]["rows"]]
    for prefix in ("", "traced_"):
        beyond = [r for r in rows if r[f"{prefix}p95_ms_error"] is not None and r[f"{prefix}p95_ms_error"] > ERROR_BOUND]
        result[f"{prefix}simulation_error"]["p95_beyond_bound"] = {
            "bound": ERROR_BOUND, "points": len(rows), "beyond": len(beyond),
            "beyond_inside_repeats": sum(bool(r.get(f"{prefix}p95_inside_repeats")) for r in beyond),
            "max_outside_repeats": max((r[f"{prefix}p95_ms_error"] for r in rows
                                        if r.get(f"{prefix}p95_inside_repeats") is False), default=None)}


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for key, color in (("single", "tab:orange"), ("duo", "tab:blue")):
        system = result["systems"].get(key)
        if not system:
            continue
        pts = [p for p in system["points"] if p["p95_ms"] is not None]
        ax.plot([p["offered_per_s"] for p in pts], [p["p95_ms"] for p in pts], "o-", color=color,
                label=f"{system['name']} measured")
        sim = [(r["rate"], r["simulated"]["p95_ms"]) for r in system.get("simulation", {}).get("rows", [])]
        sim += [(r["rate"], r["p95_ms"]) for r in system.get("simulation", {}).get("extended", [])
                if r["refused"] <= 0.2 * r["offered"]]
        sim = [(x, y) for x, y in sim if y is not None]
        if sim:
            ax.plot([x for x, _ in sim], [y for _, y in sim], "--", color=color, alpha=0.7,
                    label=f"{system['name']} simulated")
    bound = result.get("equal_p95", {}).get("bound_ms")
    if bound:
        ax.axhline(bound, color="grey", lw=0.8, ls=":", label=f"the single model's p95 ({bound:.0f} ms)")
    ax.set_xlabel("offered load (requests/s, Poisson, one photo each)")
    ax.set_ylabel("p95 latency of answered requests (ms)")
    ax.set_yscale("log")
    ax.set_title("Dynamic Duo vs its big model alone on this host (loopback)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(value: float | None, digits: str = ".1f") -> str:
    return "n/a" if value is None else format(value, digits)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _spread(values: list[float | None] | None) -> str:
    """Each pass's value, as [lowest, highest]."""
    known = [v for v in values or [] if v is not None]
    return f"[{min(known):.0f}, {max(known):.0f}]" if len(known) > 1 else ""


def to_markdown(result: dict[str, Any]) -> str:
    lines = [f"# Dynamic Duo under load: {result['pair']}", "",
             f"Host: {result['host']['cpus']} CPUs, 1-min load average {result['host']['load_average_1min']} at the start "
             "(shared machine: other work runs beside this). Server: `python -m mmnet.server --duo` child, "
             f"DuoConfig {result['config']}; frames: {result['frames']} test photos, one base64 PNG per request.", ""]
    capacity = result.get("generator")
    if capacity:
        lines += [f"Generator: asyncio, raw sockets, open loop. Against `/healthz` it completed "
                  f"{capacity['completed_per_s']:.0f} requests/s (offered {capacity['offered_per_s']:.0f}/s): its own "
                  "ceiling on this host, far above the model rates below; every run's send lag (actual − scheduled "
                  "send) is in the table.", ""]
    for key in ("single", "duo"):
        system = result["systems"].get(key)
        if not system:
            continue
        lines += [f"## {system['name']} ({'big model alone' if key == 'single' else 'Dynamic Duo'}), offline test "
                  f"accuracy {_pct(system['accuracy'])}", "",
                  "| offered/s | answered/s | 429 | p50 ms | p95 ms [passes] | p99 ms | recovery | wrong | send lag p99 ms | "
                  "served pass ms (b=1) | front / back ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        role = BIG if key == "single" else LITTLE
        for p in system["points"]:
            wrong = p["wrong_route"] + (p["wrong_answer"] or 0)
            served = p.get("served_ms", {})
            one = served.get(role, {}).get("1", {}).get("median_ms")
            front, back = (served.get("front") or {}).get("median_ms"), (served.get("back") or {}).get("median_ms")
            lines.append(f"| {p['offered_per_s']:g} | {p['throughput_per_s']:.1f} | {p['refused_429']} | {_f(p['p50_ms'])} | "
                         f"{_f(p['p95_ms'])} {_spread(p.get('p95_passes'))} | {_f(p['p99_ms'])} | "
                         f"{_pct(p['recovery_rate'])} | {wrong} | "
                         f"{_f(p['send_lag_ms'].get('p99'))} | {_f(one, '.2f')} | {_f(front, '.1f')} / {_f(back, '.1f')} |")
        isolated = system.get("isolated_ms", {}).get(role, {}).get("1", {}).get("median_ms")
        lines += ["", f"Served pass ms: the median {role} pass of one frame in the server's own timing log at that load "
                  f"(in isolation, measured in this process before the curve: {_f(isolated, '.2f')} ms); front / back: "
                  "the median per-request time from the scheduled send to the frame queued (HTTP, decoding) and from "
                  "the last pass to the reply at the client.", ""]
        sim = system.get("simulation")
        if sim:
            lines += [f"Simulation (each run replayed {sim['repeats']} × with its own arrivals, frames and the service "
                      f"times the server logged; draws from the {sim['window_s']:g}-s window of the run they fall in, "
                      "and, in brackets, from the whole run):", "",
                      "| offered/s | p50 ms measured / simulated (error) [whole run] | p95 ms measured / simulated (error) "
                      "[whole run] | p95 of each pass: spread; simulated inside | p95 ms, each request's own overheads "
                      "(error; inside) | answered/s measured / simulated (error) [whole run] |", "|---|---|---|---|---|---|"]

            def cell(r: dict[str, Any], k: str, digits: str = ".1f") -> str:
                return (f"{_f(r['measured'][k], digits)} / {_f(r['simulated'][k], digits)} ({_pct(r[f'{k}_error'])}) "
                        f"[{_f(r['stationary'][k], digits)}, {_pct(r[f'stationary_{k}_error'])}]")

            for r in sim["rows"]:
                interval = r.get("measured_p95_interval_ms")
                spread = f" measured 90% interval [{interval[0]:.0f}, {interval[1]:.0f}]" if interval else ""
                passes = r.get("p95_passes_ms") or []
                inside = {True: "yes", False: "no", None: "n/a"}[r.get("p95_inside_repeats")]
                noise = (f"{', '.join(f'{v:.0f}' for v in passes)}: {_pct(r.get('p95_repeat_spread'))}; {inside}"
                         if passes else "n/a")
                traced = r.get("traced")
                traced_cell = (f"{_f(traced['p95_ms'])} ({_pct(r['traced_p95_ms_error'])}; "
                               f"{ {True: 'yes', False: 'no', None: 'n/a'}[r.get('traced_p95_inside_repeats')]})"
                               if traced else "n/a")
                lines.append(f"| {r['rate']:g} | {cell(r, 'p50_ms')} | {cell(r, 'p95_ms')}{spread} | {noise} | "
                             f"{traced_cell} | {cell(r, 'throughput_per_s')} |")
            memory = sim.get("pass_time_memory")
            if memory:
                lines += ["", "Pass-time memory (how long the host's speed persists): the correlation of two worker "
                          "passes' durations, relative to the median of their size, by how far apart they ran: "
                          + ", ".join(f"{lag} s {_f(r, '.2f')}" for lag, r in memory.items())
                          + f" (the simulation's windows: {sim['window_s']:g} s)."]
            worst, whole = sim["max_error"], sim["stationary_max_error"]
            lines += ["", f"Max error: p50 {_pct(worst['p50_ms'])}, p95 {_pct(worst['p95_ms'])}, throughput "
                      f"{_pct(worst['throughput_per_s'])} (whole-run draws: {_pct(whole['p50_ms'])}, "
                      f"{_pct(whole['p95_ms'])}, {_pct(whole['throughput_per_s'])})."]
            if sim["extended"]:
                lines += ["", "Simulated beyond the measured rates (the highest rate's logged service times): " + ", ".join(
                    f"{r['rate']:g}/s → p95 {_f(r['p95_ms'])} ms ({r['refused']} of {r['offered']} refused)"
                    for r in sim["extended"]) + "."]
        lines.append("")
    errors, whole = result.get("simulation_error", {}), result.get("stationary_simulation_error", {})
    if errors:
        lines += ["Simulation vs measurement over every measured point of both systems (draws by window; whole-run "
                  "draws in brackets): " + ", ".join(
                      f"{label} error max {_pct(errors[k]['max'])} [{_pct(whole[k]['max'])}], mean {_pct(errors[k]['mean'])} "
                      f"[{_pct(whole[k]['mean'])}]" for k, label in (("p50_ms", "p50"), ("p95_ms", "p95"),
                                                                      ("throughput_per_s", "throughput"))) + ".", ""]
        traced = result.get("traced_simulation_error")
        if traced:
            lines += ["With the measured overheads in time (each answered request's own front and back delays, each "
                      "worker gap replayed at its time; pass times drawn): " + ", ".join(
                          f"{label} error max {_pct(traced[k]['max'])}, mean {_pct(traced[k]['mean'])}"
                          for k, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("throughput_per_s", "throughput")))
                      + ".", ""]
        for label, block in (("", errors), ("overheads replayed: ", traced or {})):
            beyond = block.get("p95_beyond_bound")
            if beyond:
                lines += [f"{label}p95 beyond {100 * beyond['bound']:g}% at {beyond['beyond']} of {beyond['points']} "
                          f"points; {beyond['beyond_inside_repeats']} of them inside the measurement's own "
                          "repeat-to-repeat range (the simulated p95 between the lowest and highest pass p95 at that "
                          "load: no error the measurement can resolve); largest p95 error outside that range "
                          f"{_pct(beyond['max_outside_repeats'])}.", ""]
    eq = result.get("equal_p95")
    if eq:
        lines += ["## Throughput at the single model's p95", "",
                  f"Bound L = {_f(eq['bound_ms'])} ms (the big model's p95 at {eq['bound_at_per_s']:g}/s, its highest "
                  "sustained rate). Highest sustained throughput with p95 ≤ L: "
                  f"single {_f(eq['single_per_s'])}/s, Dynamic Duo {_f(eq['duo_per_s'])}/s: ratio "
                  f"**{_f(eq['ratio'], '.2f')}×** (paper: {PAPER['throughput_ratio']}×, Fig. 6.17, a TITAN X and its pool).",
                  ""]
    probe = result.get("probe")
    if probe:
        lines += ["## Accuracy and the probe, on the served test photos", "",
                  "| | single | Dynamic Duo | paper |", "|---|---|---|---|",
                  f"| test accuracy | {_pct(result['systems']['single']['accuracy'])} | "
                  f"{_pct(result['systems']['duo']['accuracy'])} | equal (±0.3 points asked) |",
                  f"| recovery rate | — | {_pct(probe['recovery_rate'])} | {_pct(PAPER['recovery_rate'])} |",
                  f"| false positives (odd corrects recovered, per frame) | — | {_pct(probe['false_positive_rate'])} | "
                  f"{_pct(PAPER['false_positive_rate'])} |",
                  f"| false negatives (complex corrects kept, per frame) | — | {_pct(probe['false_negative_rate'])} | "
                  f"≤ {_pct(PAPER['max_false_negative_rate'])} |", ""]
    over = result.get("overload")
    if over:
        d, a = over["during"], over["after"]
        lines += ["## Overload", "",
                  f"{over['overload_per_s']:g}/s (3 × {over['sustainable_per_s']:g}/s sustainable) for {over['seconds']:g} s, "
                  f"then {over['after_per_s']:g}/s for {over['after_seconds']:g} s.", "",
                  f"- during: {d['sent']} sent, {d['answered']} answered ({d['throughput_per_s']:.1f}/s), "
                  f"{d['refused_429']} × 429; p50/p95/p99 of answered {_f(d['p50_ms'])}/{_f(d['p95_ms'])}/"
                  f"{_f(d['p99_ms'])} ms; statuses {d['statuses']}",
                  f"- after: {a['sent']} sent, {a['answered']} answered, {a['refused_429']} × 429, p95 {_f(a['p95_ms'])} ms",
                  f"- lost (no answer, or a status other than 200/429): {over['lost_or_other_status']}; wrong answers: "
                  f"{over['wrong']}",
                  f"- p95 of the accepted per {over.get('window_s', _OVERLOAD_WINDOW_S):g} s of the overload: "
                  + ", ".join(_f(v, ".0f") for v in over.get("p95_per_window_ms", [])) + " ms",
                  f"- throughput recovered {_f(over['recovered_after_s'], 'g')} s after the load dropped "
                  "(first 1-s window from which on every request was answered)", ""]
    return "\n".join(lines)


def _requests(frames: Frames, name: str) -> list[bytes]:
    path = f"/v1/models/{name}:predict"
    return [request_bytes(path, json.dumps({"instances": [{"b64": base64.b64encode(png_bytes(f)).decode("ascii")}]})
                          .encode("ascii")) for f in frames.pixels]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmnet.benchmarks.duo_load", description=__doc__.split("\n")[0])
    parser.add_argument("--duo", type=Path, required=True, help="duo_pool.json of mmnet.benchmarks.duo_pool")
    parser.add_argument("--target", help="the serving block's target (default: its default_target)")
    parser.add_argument("--rule", help="the probe rule (default: the block's default_rule)")
    parser.add_argument("--data", type=Path, default=None, help="data root (default: $MMNET_SHARED_DATA or ../shared/data)")
    parser.add_argument("--config", type=Path, default=CORAL_CONFIG, help="the build config of the pool's data")
    parser.add_argument("--out", type=Path, default=Path("results/duo_load"))
    parser.add_argument("--rates", type=float, nargs="+", default=None,
                        help="offered rates (requests/s; default: fractions of the big model's capacity measured here, "
                        + ", ".join(f"{f:g}" for f in RATE_FRACTIONS) + ")")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per pass of an offered rate")
    parser.add_argument("--passes", type=int, default=2, help="passes per offered rate and system (alternating)")
    parser.add_argument("--max-batch", type=int, default=DuoConfig.max_batch)
    parser.add_argument("--max-wait-ms", type=float, default=DuoConfig.max_wait_ms)
    parser.add_argument("--max-queued", type=int, default=DuoConfig.max_queued)
    parser.add_argument("--max-recovery-queued", type=int, default=DuoConfig.max_recovery_queued)
    parser.add_argument("--service-samples", type=int, default=40, help="timed worker passes per batch size (simulation)")
    parser.add_argument("--overload", action="store_true", help="the overload run instead of the curve")
    parser.add_argument("--overload-seconds", type=float, default=60.0)
    parser.add_argument("--sustainable", type=float, help="--overload: the pair's sustainable rate (default: from "
                        "duo_load.json in --curve, else measured by a short curve)")
    parser.add_argument("--curve", type=Path, help="--overload: a duo_load.json whose highest sustained duo rate is used")
    parser.add_argument("--limit", type=int, default=None, help="the first N test photos only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window-s", type=float, default=WINDOW_S,
                        help=f"--resimulate: the simulation's windows of a run, seconds (default {WINDOW_S:g})")
    parser.add_argument("--resimulate", type=Path, metavar="DUO_LOAD_DIR",
                        help="redo the simulation on the runs a curve recorded there (duo_load.json, "
                        f"{RUNS_FILE}); writes to --out")
    args = parser.parse_args(argv)
    try:
        if not args.duo.is_file():
            raise ConfigError(f"--duo {args.duo} does not exist; run mmnet.benchmarks.duo_pool first")
        data_root = args.data or Path(os.environ.get("MMNET_SHARED_DATA") or REPO.parent / "shared" / "data")
        try:
            pool_source = str(json.loads(args.duo.read_text(encoding="utf-8")).get("pool", {}).get("source", ""))
        except ValueError as e:
            raise ConfigError(f"--duo {args.duo}: not JSON ({e}); expected duo_pool.json of mmnet.benchmarks.duo_pool") from e
        bundle_pool = pool_source.startswith("bundle:")
        if not bundle_pool and not (data_root / "imagenet-sample-a").is_dir():
            print(f"skipped: the Coral photos are not in {data_root} (set $MMNET_SHARED_DATA or --data)", file=sys.stderr)
            return 0
        config = DuoConfig(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queued=args.max_queued,
                           max_recovery_queued=args.max_recovery_queued)
        duo = load_duo(args.duo, target=args.target, rule=args.rule)
        if duo.little is None:
            raise ConfigError(f"{args.duo}: the chosen configuration ({duo.target}) is a single model; pick a target "
                              "where the search chose a pair (--target)")
        single = load_duo(args.duo, target=args.target, rule=args.rule, big_alone=True)
        frames = load_frames(args.duo, duo, data_root, args.config, args.limit)
        requests = _requests(frames, "duo")
        host = {"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}
        if args.overload:
            sustainable = args.sustainable
            if sustainable is None and args.curve is not None:
                curve = json.loads(args.curve.read_text(encoding="utf-8"))
                rates = [p["throughput_per_s"] for p in curve["systems"]["duo"]["points"] if sustained(p)]
                sustainable = max(rates) if rates else None
            if sustainable is None:
                raise ConfigError("--overload needs --sustainable RATE or --curve duo_load.json")
            _say(f"overload: {3 * sustainable:g}/s for {args.overload_seconds:g} s, then {0.5 * sustainable:g}/s")
            over = run_overload(args.duo, duo, frames, requests, sustainable, args.overload_seconds, config,
                                target=args.target, rule=args.rule, seed=args.seed)
            result = {"pair": duo.name, "host": host, "config": config.__dict__, "frames": len(frames.labels),
                      "systems": {}, "overload": over}
            write_results(args.out, "duo_overload", result, to_markdown(result))
            return 0
        if not args.window_s > 0:
            raise ConfigError(f"--window-s {args.window_s}: expected a positive number of seconds")
        if args.resimulate:  # the simulation redone on a curve's recorded runs, no load sent
            result = json.loads((args.resimulate / "duo_load.json").read_text(encoding="utf-8"))
            runs = load_runs(args.resimulate / RUNS_FILE, args.window_s)
            simulate_systems(result, runs, {"single": single, "duo": duo}, frames, config)
        else:
            _say(f"service times: {args.service_samples} passes per batch size, in this process")
            times = {"duo": measure_service_times(duo, frames, config, args.service_samples),
                     "single": measure_service_times(single, frames, config, args.service_samples)}
            big_capacity = 1.0 / float(np.median(times["single"].big[1]))
            rates = args.rates or [round(big_capacity * f, 1) for f in RATE_FRACTIONS]
            _say(f"big model alone: median pass {1000 / big_capacity:.2f} ms here → rates {rates}")
            _say(f"{single.name} and {duo.name}: {len(rates)} rates × {args.passes} passes × {args.seconds:g} s, alternating")
            curves, runs, capacity = run_curves(args.duo, {"single": (single, True), "duo": (duo, False)}, frames,
                                                requests, rates, args.seconds, args.passes, config, target=args.target,
                                                rule=args.rule, seed=args.seed)
            args.out.mkdir(parents=True, exist_ok=True)
            save_runs(args.out / RUNS_FILE, runs)
            systems = {key: {"name": system.name, "accuracy": _accuracy(system, frames), "points": curves[key],
                             "isolated_ms": times[key].summary_ms()} for key, system in (("single", single), ("duo", duo))}
            result = {"pair": duo.name, "target": duo.target, "host": host, "config": config.__dict__,
                      "frames": len(frames.labels), "generator": capacity, "systems": systems,
                      "equal_p95": equal_p95(systems), "probe": probe_errors(duo, frames), "paper": PAPER}
            simulate_systems(result, runs, {"single": single, "duo": duo}, frames, config)
    except (MmnetError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_results(args.out, "duo_load", result, to_markdown(result))
    plot(result, args.out / "duo_load.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
