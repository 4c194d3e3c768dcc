"""A well-behaved client's predict latency on the master server, unloaded and then while idle and
slowloris connections are held open, in one run.

Starts ``mmnet serve`` in a child process (:func:`mmnet.server.launch.running_server_process`) on a
free loopback port with the server's default limits (or the ones given). Phase 1: one client with a
keep-alive connection (:class:`mmnet.runtime.remote.RemoteMaster`, PNG frames) sends predicts one
after another for at least ``--predicts`` requests and ``--min-seconds``. Phase 2: :class:`Attack`
opens ``--idle`` connections that send nothing and ``--slowloris`` connections that send a request
head one byte per ``--trickle-s`` seconds, reopening each as the server closes it (after its header
timeout), and the same client measures again. Prints p50/p95 of both phases and the ratio of the
p95s (target: loaded p95 <= 2x unloaded p95); with ``--out`` also writes ``server_under_attack.json``
and ``.md`` there.

    .venv/bin/python -m mmnet.benchmarks.server_under_attack --bundle bundles/digits --out results/attack
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from mmnet.benchmarks.results import write_results
from mmnet.format.bundle import load_bundle
from mmnet.runtime.remote import RemoteMaster, RemoteMasterError

__all__ = ["Attack", "attack", "measure", "TARGET_RATIO"]

TARGET_RATIO = 2.0
_WARMUP_REQUESTS = 20
_SLOWLORIS_HEAD = b"POST /v1/models/x:predict HTTP/1.1\r\nHost: attacker\r\n" + b"X-Padding: a\r\n" * 10_000


class Attack:
    """``idle`` connections that send nothing and ``slowloris`` connections that trickle a request
    head, to ``url``'s host and port, each reopened whenever the server closes it. Runs its own
    event loop in a daemon thread; counts what happened in :attr:`stats`."""

    def __init__(self, url: str, *, idle: int, slowloris: int, trickle_s: float = 1.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.idle, self.slowloris, self.trickle_s = idle, slowloris, trickle_s
        self.stats: Counter = Counter()  # opened, closed_by_server, connect_failed
        self.open_now = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="attack", daemon=True)
        self._tasks: list[asyncio.Task] = []
        self._all_open = threading.Event()

    def start(self, timeout_s: float = 30.0) -> None:
        """Opens every connection; returns once all are open at least once."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._launch(), self._loop).result(timeout_s)
        if not self._all_open.wait(timeout_s):
            raise RuntimeError(f"only {self.open_now} of {self.idle + self.slowloris} attack connections opened")

    def stop(self) -> None:
        async def cancel() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _launch(self) -> None:
        self._tasks = [asyncio.create_task(self._hold(trickle=False)) for _ in range(self.idle)]
        self._tasks += [asyncio.create_task(self._hold(trickle=True)) for _ in range(self.slowloris)]

    async def _hold(self, *, trickle: bool) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.stats["connect_failed"] += 1
                await asyncio.sleep(0.1)
                continue
            self.stats["opened"] += 1
            self.open_now += 1
            if self.stats["opened"] >= self.idle + self.slowloris:
                self._all_open.set()
            try:
                if trickle:
                    await self._trickle(reader, writer)
                else:
                    await reader.read()  # b"" once the server closes the connection
                self.stats["closed_by_server"] += 1
            except OSError:
                self.stats["closed_by_server"] += 1
            finally:
                self.open_now -= 1
                writer.close()

    async def _trickle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Sends the head a byte at a time until the server answers (a 408) or closes."""
        for i in range(len(_SLOWLORIS_HEAD)):
            writer.write(_SLOWLORIS_HEAD[i:i + 1])
            await writer.drain()
            try:
                await asyncio.wait_for(reader.read(1024), self.trickle_s)
            except TimeoutError:
                continue
            return
        self.stats["whole_head_sent"] += 1  # the server never cut it off
        await reader.read()


@contextlib.contextmanager
def attack(url: str, *, idle: int, slowloris: int, trickle_s: float = 1.0) -> Iterator[Attack]:
    """An :class:`Attack` on ``url``, started and, on exit, stopped."""
    running = Attack(url, idle=idle, slowloris=slowloris, trickle_s=trickle_s)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _predicts(client: RemoteMaster, frames: np.ndarray, *, count: int, min_seconds: float) -> dict:
    latencies: list[float] = []
    failures: Counter = Counter()
    start = time.perf_counter()
    i = 0
    while len(latencies) + sum(failures.values()) < count or time.perf_counter() - start < min_seconds:
        begin = time.perf_counter()
        try:
            client.predict(frames[i % len(frames)])
        except RemoteMasterError as e:
            failures[e.kind] += 1
        else:
            latencies.append((time.perf_counter() - begin) * 1000.0)
        i += 1
    lat = np.asarray(latencies)
    return {
        "requests": int(lat.size),
        "failures": dict(failures),
        "seconds": time.perf_counter() - start,
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)) if lat.size else None,
            "p95": float(np.percentile(lat, 95)) if lat.size else None,
            "max": float(lat.max()) if lat.size else None,
        },
    }


def measure(bundle_dir: Path, *, idle: int = 500, slowloris: int = 50, predicts: int = 300, min_seconds: float = 12.0,
            trickle_s: float = 1.0, **server_options) -> dict:
    """Both phases against a fresh server child; ``server_options`` are ServerConfig fields."""
    from mmnet.server.app import ServerConfig
    from mmnet.server.launch import running_server_process

    bundle = load_bundle(bundle_dir)
    frames, _ = bundle.load_split("test")
    config = ServerConfig(**server_options)
    result: dict = {
        "bundle": str(bundle_dir),
        "bundle_name": bundle.name,
        "frame_shape": list(bundle.preprocessing.frame_shape),
        "attack": {"idle": idle, "slowloris": slowloris, "trickle_s": trickle_s},
        "server": {"header_timeout_s": config.header_timeout_s, "keep_alive_s": config.keep_alive_s,
                   "max_connections": config.max_connections, "max_active_predicts": config.max_active_predicts,
                   "threads": config.pool_size},
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "target_ratio": TARGET_RATIO,
    }
    with running_server_process(bundle_dir, **server_options) as url, \
            RemoteMaster(url, bundle.name, timeout_s=10.0, retries=0, num_classes=bundle.num_classes) as client:
        for i in range(_WARMUP_REQUESTS):
            client.predict(frames[i % len(frames)])
        result["unloaded"] = _predicts(client, frames, count=predicts, min_seconds=min_seconds)
        with attack(url, idle=idle, slowloris=slowloris, trickle_s=trickle_s) as running:
            result["loaded"] = _predicts(client, frames, count=predicts, min_seconds=min_seconds)
            result["attack"].update(open_at_end=running.open_now, **running.stats)
    unloaded, loaded = result["unloaded"]["latency_ms"]["p95"], result["loaded"]["latency_ms"]["p95"]
    result["p95_ratio"] = loaded / unloaded if unloaded and loaded else None
    result["met"] = bool(result["p95_ratio"] is not None and result["p95_ratio"] <= TARGET_RATIO
                         and not result["loaded"]["failures"])
    return result


def format_table(result: dict) -> str:
    def phase(name: str) -> str:
        p = result[name]
        lat = p["latency_ms"]
        failed = sum(p["failures"].values())
        return (f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['max']:.2f} ms "
                f"({p['requests']} ok, {failed} failed, {p['seconds']:.1f} s)")

    a, s = result["attack"], result["server"]
    rows = [
        ("bundle", f"{result['bundle_name']} (frames {tuple(result['frame_shape'])})"),
        ("server limits", f"header timeout {s['header_timeout_s']:g} s, keep-alive {s['keep_alive_s']:g} s, "
                          f"{s['max_connections']} connections, {s['max_active_predicts']} active predicts, "
                          f"{s['threads']} interpreters"),
        ("attack", f"{a['idle']} idle + {a['slowloris']} slowloris (1 byte / {a['trickle_s']:g} s); "
                   f"{a.get('opened', 0)} opened, {a.get('closed_by_server', 0)} closed by the server"),
        ("unloaded p50 / p95 / max", phase("unloaded")),
        ("loaded p50 / p95 / max", phase("loaded")),
        ("p95 loaded / unloaded", f"{result['p95_ratio']:.2f} (target <= {result['target_ratio']:g}: "
                                  f"{'met' if result['met'] else 'NOT met'})"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(["| what | value |", "| --- | --- |"] + [f"| {k.ljust(width)} | {v} |" for k, v in rows]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--bundle", type=Path, required=True, help="bundle directory (e.g. bundles/digits)")
    parser.add_argument("--idle", type=int, default=500, help="idle connections held open (default 500)")
    parser.add_argument("--slowloris", type=int, default=50, help="header-trickling connections (default 50)")
    parser.add_argument("--trickle-s", type=float, default=1.0, help="seconds between a slowloris's bytes")
    parser.add_argument("--predicts", type=int, default=300, help="predicts per phase at least (default 300)")
    parser.add_argument("--min-seconds", type=float, default=12.0,
                        help="seconds per phase at least, so the loaded phase sees the server close and the "
                        "attacker reopen its connections (default 12)")
    parser.add_argument("--header-timeout-s", type=float, default=None, help="server option (default: its own)")
    parser.add_argument("--max-connections", type=int, default=None, help="server option (default: its own)")
    parser.add_argument("--threads", type=int, default=None, help="server interpreters (default min(4, cpus))")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.idle < 0 or args.slowloris < 0 or args.predicts < 1 or args.trickle_s <= 0 or args.min_seconds < 0:
        parser.error("--idle/--slowloris must be >= 0, --predicts >= 1, --trickle-s > 0, --min-seconds >= 0")
    server = {k: v for k, v in (("header_timeout_s", args.header_timeout_s), ("max_connections", args.max_connections),
                                ("threads", args.threads)) if v is not None}
    result = measure(args.bundle, idle=args.idle, slowloris=args.slowloris, predicts=args.predicts,
                     min_seconds=args.min_seconds, trickle_s=args.trickle_s, **server)
    table = format_table(result)
    if args.out is None:
        sys.stdout.write(table)
    else:
        write_results(args.out, "server_under_attack", result, "# Master server under idle and slowloris connections\n\n" + table)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
