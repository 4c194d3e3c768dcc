"""Running the master server's app on uvicorn: blocking (:func:`serve`, ``mmnet serve``), in a
thread of this process (:func:`running_app`, :func:`running_server`: tests) or in a child process
(:func:`running_server_process`: benchmarks, which must not share the caller's GIL).

Graceful shutdown: uvicorn handles SIGINT/SIGTERM, stops accepting, lets in-flight requests finish
(at most ``graceful_timeout_s``) and then exits.

Connection limits (:mod:`mmnet.server.connections`, from the :class:`ServerConfig`): a request
head must arrive within ``header_timeout_s`` of connecting or of the previous response; an idle
kept-alive connection closes after ``keep_alive_s``; at most ``max_connections`` are open, a
newcomer beyond them evicting the connection that has waited longest for a request head. uvicorn's
own ``limit_concurrency`` is off: it counts idle connections as load and answers everyone 503 once
they reach it. Predicts in progress are bounded by the app (``max_active_predicts``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mmnet.format.bundle import Bundle
from mmnet.format.checks import check_int
from mmnet.format.errors import MmnetError
from mmnet.runtime.remote import TOKEN_ENV
from mmnet.server import serve_extra_missing
from mmnet.server.app import ServerConfig, create_app
from mmnet.server.connections import guarded_http_protocol, raise_open_file_limit
from mmnet.server.duo import DuoConfig, DuoSystem, load_duo

try:
    import uvicorn
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise serve_extra_missing(_e) from _e

__all__ = [
    "DEFAULT_PORT",
    "ServerError",
    "serve",
    "running_app",
    "running_server",
    "running_server_process",
    "child_command",
    "serve_duo",
    "running_duo_server_process",
    "duo_child_command",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8501  # TF Serving's REST port
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_LOG_TAIL_BYTES = 2000


class ServerError(MmnetError, RuntimeError):
    """The master server did not start, or did not become healthy in time."""


def _uvicorn_config(
    app: Any, *, host: str, port: int, graceful_timeout_s: float, config: ServerConfig, quiet: bool
) -> uvicorn.Config:
    logging_options: dict[str, Any] = {"log_config": None, "access_log": False} if quiet else {}
    max_connections = raise_open_file_limit(config.max_connections)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_http_protocol(header_timeout_s=config.header_timeout_s, max_connections=max_connections),
        lifespan="on",
        timeout_graceful_shutdown=max(1, math.ceil(graceful_timeout_s)),
        timeout_keep_alive=config.keep_alive_s,  # type: ignore[arg-type]  # any number of seconds works
        limit_concurrency=None,
        server_header=False,
        **logging_options,
    )


def serve(
    bundle_dir: str | Path | Bundle,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    graceful_timeout_s: float = 10.0,
    **options: Any,
) -> None:
    """Serve the master of ``bundle_dir`` (a bundle directory, or a Bundle loaded and verified by the
    caller) on ``host:port`` until SIGINT/SIGTERM (blocks).

    ``options`` are :class:`ServerConfig` fields. Both signals start uvicorn's graceful shutdown
    (no new connections, in-flight requests finish within ``graceful_timeout_s``). After SIGINT
    this returns; after SIGTERM uvicorn re-raises the signal once shut down, so the process ends
    by SIGTERM as a supervisor expects.

    ``token`` defaults to the environment variable ``$MMNET_TOKEN`` (:data:`TOKEN_ENV`, the one
    ``mmnet run`` reads too); auth is off when neither is set. Bind to a non-loopback ``host``
    only behind TLS (e.g. a reverse proxy).
    """
    check_int("port", port, low=0, high=65535)
    if options.get("token") is None:
        options["token"] = os.environ.get(TOKEN_ENV) or None
    config = ServerConfig(**options)
    if config.token is None and host not in _LOOPBACK_HOSTS:
        logger.warning("serving on %s without a bearer token: anyone who can reach it may use it", host)
    app = create_app(bundle_dir, config=config)
    logger.info("listening on http://%s:%d (auth %s)", host, port, "on" if config.token is not None else "off")
    server = uvicorn.Server(
        _uvicorn_config(
            app, host=host, port=port, graceful_timeout_s=graceful_timeout_s, config=config, quiet=False,
        )
    )
    try:
        server.run()
    except SystemExit as e:  # uvicorn exits when it cannot bind or its lifespan fails
        raise ServerError(
            f"the master server could not start on {host}:{port} (uvicorn exit code {e.code}; see its log above)"
        ) from e
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT after its graceful shutdown
        logger.info("master server on %s:%d stopped (SIGINT)", host, port)


@contextlib.contextmanager
def running_app(
    app: Any,
    *,
    host: str = "127.0.0.1",
    startup_timeout_s: float = 10.0,
    graceful_timeout_s: float = 2.0,
    config: ServerConfig | None = None,
) -> Iterator[str]:
    """Serve any ASGI ``app`` with uvicorn in a background thread on a free port of ``host``.

    The connection limits come from ``config`` (default: the app's own ``state.config`` if it has
    one, else :class:`ServerConfig`'s defaults). Yields the base URL (``http://127.0.0.1:PORT``);
    on exit stops the server, letting in-flight requests finish for at most ``graceful_timeout_s``.
    """
    if config is None:
        own = getattr(getattr(app, "state", None), "config", None)
        config = own if isinstance(own, ServerConfig) else ServerConfig()
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every kept-alive reply waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            _uvicorn_config(
                app, host=host, port=port, graceful_timeout_s=graceful_timeout_s, config=config, quiet=True,
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"mmnet-serve-{port}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive():
                raise ServerError(f"the server on {host}:{port} exited during startup")
            if time.monotonic() > deadline:
                server.should_exit = True
                thread.join(timeout=graceful_timeout_s + 5)
                raise ServerError(f"the server on {host}:{port} did not start within {startup_timeout_s:g} s")
            time.sleep(0.01)
        try:
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=graceful_timeout_s + 5)
            if thread.is_alive():
                logger.warning("server on %s:%d did not stop in time; forcing it", host, port)
                server.force_exit = True
                thread.join(timeout=5)
    finally:
        sock.close()


@contextlib.contextmanager
def running_server(bundle_dir: str | Path | Bundle, *, host: str = "127.0.0.1", **options: Any) -> Iterator[str]:
    """``create_app(bundle_dir, **options)`` served on a free loopback port; yields the base URL.

    ``startup_timeout_s`` and ``graceful_timeout_s`` go to :func:`running_app`, the other options
    to :class:`ServerConfig` (connection limits included).
    """
    runner = {k: options.pop(k) for k in ("startup_timeout_s", "graceful_timeout_s") if k in options}
    app = create_app(bundle_dir, **options)
    with running_app(app, host=host, **runner) as url:
        yield url


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _connection_options(host: str, port: int, config: ServerConfig) -> list[str]:
    """The command-line options of ``python -m mmnet.server`` that both servers take from ``config``."""
    return [
        "--host", host,
        "--port", str(port),
        "--max-body-bytes", str(config.max_body_bytes),
        "--max-instances", str(config.max_instances),
        "--inference-timeout-s", repr(float(config.inference_timeout_s)),
        "--body-timeout-s", repr(float(config.body_timeout_s)),
        "--header-timeout-s", repr(float(config.header_timeout_s)),
        "--keep-alive-s", repr(float(config.keep_alive_s)),
        "--max-connections", str(config.max_connections),
    ]


def child_command(bundle_dir: str | Path, *, host: str, port: int, config: ServerConfig) -> list[str]:
    """The command line of ``python -m mmnet.server`` serving ``bundle_dir`` with ``config``,
    all but its token (which travels in the environment, never on a command line)."""
    command = [sys.executable, "-m", "mmnet.server", str(bundle_dir), *_connection_options(host, port, config),
               "--max-active-predicts", str(config.max_active_predicts)]
    if config.threads is not None:
        command += ["--threads", str(config.threads)]
    if config.model_id is not None:
        command += ["--model-id", config.model_id]
    return command


def _wait_until_healthy(child: subprocess.Popen, url: str, timeout_s: float, log_tail: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if child.poll() is not None:
            raise ServerError(f"the server process exited with code {child.returncode} during startup:\n{log_tail()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1.0) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise ServerError(f"the server process did not become healthy within {timeout_s:g} s:\n{log_tail()}")
        time.sleep(0.05)


@contextlib.contextmanager
def _child_server(command: list[str], config: ServerConfig, host: str, port: int, startup_timeout_s: float,
                  stop_timeout_s: float, what: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Runs ``command`` (a server on ``port``) as a child with ``config``'s token in its environment
    only; yields its base URL and the child once ``/healthz`` answers. On exit: SIGTERM, then SIGKILL
    after ``stop_timeout_s``."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if config.token is not None:
        env[TOKEN_ENV] = config.token
    with tempfile.TemporaryFile(mode="w+b") as log:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)

        def log_tail() -> str:
            log.seek(0)
            return log.read()[-_LOG_TAIL_BYTES:].decode("utf-8", "replace")

        url = f"http://{host}:{port}"
        try:
            _wait_until_healthy(child, url, startup_timeout_s, log_tail)
            yield url, child
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=stop_timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning("%s process %d ignored SIGTERM; killing it", what, child.pid)
                    child.kill()
                    child.wait(timeout=5)


@contextlib.contextmanager
def running_server_process(
    bundle_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    startup_timeout_s: float = 60.0,
    stop_timeout_s: float = 15.0,
    **options: Any,
) -> Iterator[str]:
    """:func:`serve` in a child process (``python -m mmnet.server``) on a free port; yields the
    base URL once its ``/healthz`` answers.

    Unlike :func:`running_server` the server does not share the caller's GIL (benchmarks).
    ``options`` are :class:`ServerConfig` fields, validated here before the child starts; the
    token travels in the child's environment (``$MMNET_TOKEN``), never on its command line. A
    child that exits or stays unhealthy during startup raises :class:`ServerError` with the tail
    of its log. On exit the child gets SIGTERM (uvicorn's graceful shutdown), then SIGKILL after
    ``stop_timeout_s``.
    """
    config = ServerConfig(**options)
    port = _free_port(host)
    with _child_server(child_command(bundle_dir, host=host, port=port, config=config), config, host, port,
                       startup_timeout_s, stop_timeout_s, "server") as (url, _child):
        yield url


# --- the Dynamic Duo server ------------------------------------------------------------------------------


class _DrainingServer(uvicorn.Server):
    """uvicorn whose first SIGTERM/SIGINT drains the Dynamic Duo app before shutting down: predicts
    are answered 503 (``/healthz`` too, so a load balancer takes the replica out), the admitted ones
    finish within ``drain_timeout_s``, then uvicorn's own graceful shutdown runs. A second signal
    is uvicorn's (SIGINT twice: exit at once)."""

    def __init__(self, config: uvicorn.Config, scheduler: Any, drain_timeout_s: float) -> None:
        super().__init__(config)
        self._scheduler = scheduler
        self._drain_timeout_s = drain_timeout_s
        self._drain: threading.Thread | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._drain is not None:
            super().handle_exit(sig, frame)
            return
        self._scheduler.draining = True  # a plain flag: the event loop reads it on the next request
        self._scheduler.metrics.draining.set(1)
        logger.info("signal %d: draining (new predicts get 503, admitted ones finish)", sig)
        self._drain = threading.Thread(target=self._wait_then_exit, args=(sig,), name="mmnet-duo-drain", daemon=True)
        self._drain.start()

    def _wait_then_exit(self, sig: int) -> None:
        deadline = time.monotonic() + self._drain_timeout_s
        while self._scheduler.busy and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._scheduler.busy:
            logger.warning("drain timeout (%g s): %d frames still admitted; shutting down", self._drain_timeout_s,
                           self._scheduler.in_system)
        else:
            logger.info("drained: every admitted request answered")
        super().handle_exit(sig, None)


def serve_duo(
    duo: str | Path | DuoSystem,
    *,
    target: str | None = None,
    rule: str | None = None,
    big_alone: bool = False,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    graceful_timeout_s: float = 10.0,
    duo_config: DuoConfig | None = None,
    **options: Any,
) -> None:
    """Serve the Dynamic Duo system of ``duo`` (a ``duo_pool.json``, :func:`mmnet.server.duo.load_duo`,
    or a loaded :class:`DuoSystem`) on ``host:port`` until SIGTERM/SIGINT, which drain it first
    (:class:`_DrainingServer`). ``options`` are :class:`ServerConfig` fields; ``token`` defaults to
    ``$MMNET_TOKEN`` as for :func:`serve`."""
    from mmnet.server.duo_app import create_duo_app

    check_int("port", port, low=0, high=65535)
    if options.get("token") is None:
        options["token"] = os.environ.get(TOKEN_ENV) or None
    config = ServerConfig(**options)
    duo_config = duo_config or DuoConfig()
    if config.token is None and host not in _LOOPBACK_HOSTS:
        logger.warning("serving on %s without a bearer token: anyone who can reach it may use it", host)
    system = duo if isinstance(duo, DuoSystem) else load_duo(duo, target=target, rule=rule, big_alone=big_alone)
    app = create_duo_app(system, config=config, duo=duo_config)
    logger.info("listening on http://%s:%d (%s, auth %s)", host, port, system.name,
                "on" if config.token is not None else "off")
    server = _DrainingServer(
        _uvicorn_config(app, host=host, port=port, graceful_timeout_s=graceful_timeout_s, config=config, quiet=False),
        app.state.scheduler, duo_config.drain_timeout_s,
    )
    try:
        server.run()
    except SystemExit as e:
        raise ServerError(
            f"the Dynamic Duo server could not start on {host}:{port} (uvicorn exit code {e.code}; see its log above)"
        ) from e
    except KeyboardInterrupt:
        logger.info("Dynamic Duo server on %s:%d stopped (SIGINT)", host, port)


def duo_child_command(duo_json: str | Path, *, host: str, port: int, config: ServerConfig, duo_config: DuoConfig,
                      target: str | None = None, rule: str | None = None, big_alone: bool = False) -> list[str]:
    """The command line of ``python -m mmnet.server --duo FILE`` (token in the environment only)."""
    command = [
        sys.executable, "-m", "mmnet.server", "--duo", str(duo_json), *_connection_options(host, port, config),
        "--max-batch", str(duo_config.max_batch),
        "--max-wait-ms", repr(float(duo_config.max_wait_ms)),
        "--max-queued", str(duo_config.max_queued),
        "--max-recovery-queued", str(duo_config.max_recovery_queued),
        "--drain-timeout-s", repr(float(duo_config.drain_timeout_s)),
    ]
    if target is not None:
        command += ["--target", target]
    if rule is not None:
        command += ["--rule", rule]
    if big_alone:
        command.append("--big-alone")
    return command


@contextlib.contextmanager
def running_duo_server_process(
    duo_json: str | Path,
    *,
    target: str | None = None,
    rule: str | None = None,
    big_alone: bool = False,
    duo_config: DuoConfig | None = None,
    host: str = "127.0.0.1",
    startup_timeout_s: float = 60.0,
    stop_timeout_s: float = 40.0,
    **options: Any,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """:func:`serve_duo` in a child process on a free port; yields the base URL and the child (tests
    signal it to check the drain) once ``/healthz`` answers. On exit: SIGTERM (the drain), then
    SIGKILL after ``stop_timeout_s``."""
    config = ServerConfig(**options)
    duo_config = duo_config or DuoConfig()
    port = _free_port(host)
    command = duo_child_command(duo_json, host=host, port=port, config=config, duo_config=duo_config, target=target,
                                rule=rule, big_alone=big_alone)
    with _child_server(command, config, host, port, startup_timeout_s, stop_timeout_s, "Dynamic Duo server") as served:
        yield served
