"""A real ``distributed.LocalCluster`` (worker processes on 127.0.0.1) in a child process of its own.

Run as a script it starts the cluster, prints the scheduler address and serves until killed;
:func:`local_cluster` starts it, waits for the address and stops it afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["local_cluster"]


@contextmanager
def local_cluster(workers: int, log_path: Path, timeout_s: float = 120.0) -> Iterator[str]:
    """Yields the scheduler address ``127.0.0.1:PORT`` of a cluster of ``workers`` processes."""
    log = open(log_path, "w", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "tests.support.dask_cluster", str(workers)],
                               stdout=subprocess.PIPE, stderr=log, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + timeout_s
        line = process.stdout.readline().strip()
        if not line.startswith("tcp://") or time.monotonic() > deadline:
            raise RuntimeError(f"the Dask LocalCluster did not start (see {log_path}): {line!r}")
        yield line.removeprefix("tcp://")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


if __name__ == "__main__":
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=int(sys.argv[1]), processes=True, threads_per_worker=1, host="127.0.0.1",
                           dashboard_address=None)
    print(cluster.scheduler_address, flush=True)
    while True:
        time.sleep(3600)
