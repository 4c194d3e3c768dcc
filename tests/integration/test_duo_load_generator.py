"""The load benchmark's open-loop generator against a small HTTP/1.1 server on loopback: which kept-alive
connections it reuses."""

from __future__ import annotations

import asyncio

import numpy as np

from mmnet.benchmarks import duo_load
from mmnet.benchmarks.duo_load import run_load


def test_the_generator_does_not_reuse_a_connection_the_server_may_have_closed(monkeypatch):
    """A kept-alive connection idle longer than IDLE_REUSE_S is replaced by a new one; a fresher one is reused."""
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"

    async def scenario(gaps: list[float]) -> tuple[list[int], int]:
        connections = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length"))
                    await reader.readexactly(length)
                    writer.write(reply)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        body = b"{}"
        request = b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n" + body
        replies = await run_load("127.0.0.1", port, [request], np.cumsum([0.0, *gaps]))
        server.close()
        await server.wait_closed()
        return [r.status for r in replies], connections

    monkeypatch.setattr(duo_load, "IDLE_REUSE_S", 0.15)
    assert asyncio.run(scenario([0.02, 0.02])) == ([200] * 3, 1)  # reused while fresh
    assert asyncio.run(scenario([0.4, 0.4])) == ([200] * 3, 3)  # idle too long: a new connection each time
