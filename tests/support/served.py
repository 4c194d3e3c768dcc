"""`mmnet serve` in a child process on a free loopback port, for tests that run against a real master."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mmnet_serve(bundle: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> Iterator[str]:
    """Serves ``bundle`` until the block ends; yields the base URL once /healthz answers 200."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mmnet", "serve", str(bundle), "--port", str(port), *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(f"{url}/healthz", server, timeout_s)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_healthy(url: str, server: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"mmnet serve exited with {server.returncode}: {server.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"mmnet serve did not become healthy at {url} within {timeout_s} s")
