"""Connection limits of the master server, enforced in uvicorn's HTTP/1.1 protocol (h11).

Every connection must deliver a complete request head within ``header_timeout_s`` of connecting,
and again within ``header_timeout_s`` of each response it got (the rest of a body the server
answered early included); otherwise it is closed (with a 408 when some bytes had arrived, silently
when nothing had). So neither an idle connection nor a client trickling its headers a byte at a
time holds a socket for longer than that.

At most ``max_connections`` connections are open. A connection beyond the cap evicts the one that
has been waiting longest for a request head (idle or trickling); only when every open connection
has a request in progress is the newcomer refused (503, then closed). Idle connections therefore
never lock a well-behaved client out, and never count against request concurrency: requests in
progress are bounded by the app itself (see :mod:`mmnet.server.app`).

uvicorn accepts a protocol class as ``http=``; :func:`guarded_http_protocol` makes one per server,
bound to that server's :class:`ConnectionGuard`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from typing import Any

from mmnet.format.checks import check_int, check_number
from mmnet.server import serve_extra_missing

try:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise serve_extra_missing(_e) from _e

__all__ = ["ConnectionGuard", "guarded_http_protocol", "raise_open_file_limit"]

logger = logging.getLogger(__name__)

# File descriptors the process needs beside its connections (model files, logs, threads, listeners).
FD_HEADROOM = 256


def _raw_reply(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error reply that closes the connection, written outside h11's state
    machine (which cannot answer before a request head has arrived)."""
    body = json.dumps({"error": message}).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionGuard:
    """The limits of one server and the connections waiting for a request head, oldest first."""

    def __init__(self, *, header_timeout_s: float, max_connections: int) -> None:
        self.header_timeout_s = check_number("header_timeout_s", header_timeout_s, positive=True)
        self.max_connections = check_int("max_connections", max_connections, low=1)
        # dict keeps insertion order: the first key has waited longest.
        self.waiting: dict[GuardedH11Protocol, None] = {}
        self.evicted = 0
        self.refused = 0
        self.timed_out = 0

    def make_room(self, newcomer: GuardedH11Protocol, open_connections: int) -> bool:
        """Whether ``newcomer`` may stay: evicts the longest-waiting connection when the cap is
        exceeded; False when no connection is waiting (all have requests in progress)."""
        if open_connections <= self.max_connections:
            return True
        victim = next(iter(self.waiting), None)
        if victim is None:
            self.refused += 1
            return False
        self.evicted += 1
        victim.close_waiting("evicted: the connection cap is reached")
        return True


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and the connection cap of ``guard``."""

    guard: ConnectionGuard  # set on the per-server subclass made by guarded_http_protocol

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.make_room(self, len(self.connections)):
            message = f"the server holds its limit of {self.guard.max_connections} connections, all busy; retry later"
            logger.warning("refused a connection from %s: %s", self.client, message)
            self.transport.write(_raw_reply(503, "Service Unavailable", message))
            self.transport.close()
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_timer is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        self._follow_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already start a pipelined request
        self._follow_head()

    def _follow_head(self) -> None:
        """Arms the deadline once the last request is answered, disarms it when the next request
        head is complete. A client answered before it sent its whole body (a 413, 415, 401) has
        to finish the body and send the next head within the one deadline."""
        waiting = (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing()
        if waiting and self._head_timer is None:
            self._await_head()
        elif not waiting and self._head_timer is not None:
            self._stop_waiting()

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.guard.header_timeout_s, self._on_head_timeout)
        self.guard.waiting[self] = None

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.guard.waiting.pop(self, None)

    def _on_head_timeout(self) -> None:
        self._head_timer = None
        self.guard.timed_out += 1
        self.close_waiting(f"no complete request head within {self.guard.header_timeout_s:g} s")

    def close_waiting(self, why: str) -> None:
        """Closes this connection, which is waiting for a request head; a 408 if part of one came."""
        self._stop_waiting()
        if self.transport.is_closing():
            return
        if self._head_bytes:
            logger.info("closing a connection from %s after %d bytes: %s", self.client, self._head_bytes, why)
            self.transport.write(_raw_reply(408, "Request Timeout", f"{why}; the connection is closed"))
        try:
            self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:
            pass  # h11 is mid-message (a partial head); the transport closes regardless
        self.transport.close()


def guarded_http_protocol(*, header_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)``, with its own :class:`ConnectionGuard`."""
    guard = ConnectionGuard(header_timeout_s=header_timeout_s, max_connections=max_connections)
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": guard})


def raise_open_file_limit(max_connections: int) -> int:
    """Raises the soft RLIMIT_NOFILE toward what ``max_connections`` needs (at most the hard limit);
    returns how many connections the limit allows. An ``accept()`` failing for lack of descriptors
    would stall every new connection, so the cap must fit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + FD_HEADROOM
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            logger.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, e)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    allowed = max(1, soft - FD_HEADROOM)
    if allowed < max_connections:
        logger.warning(
            "the open-file limit (%d) allows about %d connections; serving at most %d instead of max_connections=%d "
            "(raise it with `ulimit -n`)",
            soft, allowed, allowed, max_connections,
        )
    return min(max_connections, allowed)
