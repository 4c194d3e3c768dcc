"""Throughput and latency of the master server under K concurrent clients.

Starts the server in a child process (:func:`mmnet.server.launch.running_server_process`; with
``--in-process`` in a thread of this one, sharing its GIL) on a free loopback port, or uses ``--url``
for one already running, then lets ``--clients`` threads, each with its own keep-alive
:class:`mmnet.runtime.remote.RemoteMaster`, send one frame per request (the bundle's recorded test
frames, round robin) for ``--seconds``. A latency is the client's wall time of ``predict`` (frame
encoding, HTTP round trip, reply validation). Prints requests/s and p50/p95/p99; with ``--out``
also writes ``serving.json`` and ``serving.md`` there.

    .venv/bin/python -m mmnet.benchmarks.serving bundles/digits --clients 4 --seconds 5
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from mmnet.benchmarks.results import write_results
from mmnet.format.bundle import load_bundle
from mmnet.runtime.remote import ENCODINGS, RemoteMaster, RemoteMasterError

_WARMUP_REQUESTS = 3


def _client(url: str, name: str, frames: np.ndarray, deadline: float, encoding: str, offset: int,
            token: str | None, latencies: list[float], failures: Counter, lock: threading.Lock) -> None:
    mine: list[float] = []
    failed: Counter = Counter()
    with RemoteMaster(url, name, token=token, encoding=encoding, timeout_s=10.0, retries=0) as client:
        for i in range(_WARMUP_REQUESTS):
            client.predict(frames[(offset + i) % len(frames)])
        i = offset
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                client.predict(frames[i % len(frames)])
            except RemoteMasterError as e:
                failed[e.kind] += 1
            else:
                mine.append((time.perf_counter() - start) * 1000.0)
            i += 1
    with lock:
        latencies.extend(mine)
        failures.update(failed)


def _load(url: str, name: str, frames: np.ndarray, *, clients: int, seconds: float, encoding: str,
          token: str | None) -> dict:
    latencies: list[float] = []
    failures: Counter = Counter()
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds
    threads = [
        threading.Thread(
            target=_client,
            args=(url, name, frames, deadline, encoding, k * 7, token, latencies, failures, lock),
            name=f"bench-client-{k}",
        )
        for k in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - start
    if any(t.is_alive() for t in threads):
        raise RuntimeError(f"benchmark clients did not finish within {seconds + 60:g} s")
    if not latencies:
        raise RuntimeError(f"no request succeeded; failures by kind: {dict(failures)}")
    lat = np.asarray(latencies)
    return {
        "requests": int(lat.size),
        "failures": dict(failures),
        "elapsed_s": elapsed,
        "throughput_rps": lat.size / elapsed,
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)),
            "p99": float(np.percentile(lat, 99)),
            "mean": float(lat.mean()),
            "max": float(lat.max()),
        },
    }


def measure(bundle_dir: Path, *, clients: int = 4, seconds: float = 5.0, encoding: str = "png",
            threads: int | None = None, url: str | None = None, token: str | None = None,
            in_process: bool = False) -> dict:
    bundle = load_bundle(bundle_dir)
    frames, _ = bundle.load_split("test")
    setup = {
        "bundle": str(bundle_dir),
        "bundle_name": bundle.name,
        "frame_shape": list(bundle.preprocessing.frame_shape),
        "clients": clients,
        "seconds": seconds,
        "encoding": encoding,
        "server_threads": threads,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
    }
    if url is not None:
        return {**setup, "url": url, **_load(url, bundle.name, frames, clients=clients, seconds=seconds,
                                             encoding=encoding, token=token)}
    from mmnet.server.launch import running_server, running_server_process
    from mmnet.server.master import select_master

    setup["master"] = select_master(bundle).id
    if in_process:
        server = running_server(bundle, threads=threads, token=token)
    else:
        server = running_server_process(bundle_dir, threads=threads, token=token)
    with server as base:
        result = _load(base, bundle.name, frames, clients=clients, seconds=seconds, encoding=encoding, token=token)
    return {**setup, "url": "loopback " + ("thread" if in_process else "process"), **result}


def format_table(result: dict) -> str:
    lat = result["latency_ms"]
    rows = [
        ("bundle", f"{result['bundle_name']} (master {result.get('master', '?')}, frames {tuple(result['frame_shape'])})"),
        ("clients x seconds", f"{result['clients']} x {result['seconds']:g} s, encoding {result['encoding']}"),
        ("server", result["url"]),
        ("server interpreters", str(result["server_threads"] or "default (min(4, cpus))")),
        ("requests ok / failed", f"{result['requests']} / {sum(result['failures'].values())} {result['failures'] or ''}"),
        ("throughput", f"{result['throughput_rps']:.1f} requests/s"),
        ("latency p50 / p95 / p99", f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['p99']:.2f} ms"),
        ("latency mean / max", f"{lat['mean']:.2f} / {lat['max']:.2f} ms"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["| what | value |", "| --- | --- |"] + [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--encoding", choices=ENCODINGS, default="png")
    parser.add_argument("--threads", type=int, default=None, help="server interpreters (default min(4, cpus))")
    parser.add_argument("--url", default=None, help="benchmark a running server instead of starting one")
    parser.add_argument("--token", default=None)
    parser.add_argument("--in-process", action="store_true",
                        help="run the server in a thread of this process (shares the GIL with the clients)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.clients < 1 or not 0 < args.seconds <= 600:
        parser.error("--clients must be >= 1 and --seconds in (0, 600]")
    result = measure(args.bundle, clients=args.clients, seconds=args.seconds, encoding=args.encoding,
                     threads=args.threads, url=args.url, token=args.token, in_process=args.in_process)
    table = format_table(result)
    if args.out is None:
        sys.stdout.write(table)
    else:
        write_results(args.out, "serving", result, "# Master server benchmark\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
