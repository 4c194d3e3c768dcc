"""The master server against idle, slow and hostile clients: real uvicorn on loopback sockets.

Connection limits (header timeout, connection cap, predicts in progress), bodies that are hostile
JSON, oversized echoes, Content-Type and Content-Encoding. Each test is bounded to a few seconds;
timing assertions are generous bounds on a deadline the server enforces, never latency targets.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import pytest
import requests

from mmnet.benchmarks.server_under_attack import attack
from mmnet.server.launch import running_server, running_server_process
from tests.support import tflite_fixtures as tfx
from tests.support.serving import FRAME

pytestmark = pytest.mark.server

HEADER_TIMEOUT_S = 1.0
PREDICT = "/v1/models/tiny:predict"
GOOD_BODY = json.dumps({"instances": [FRAME.tolist()]}).encode()


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return tfx.write_fixture_bundle(tmp_path_factory.mktemp("hostile") / "bundle")


@pytest.fixture(scope="module")
def url(bundle_dir):
    with running_server(bundle_dir, threads=1, header_timeout_s=HEADER_TIMEOUT_S) as base:
        yield base


def address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def connect(base: str) -> socket.socket:
    sock = socket.create_connection(address(base), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Reads until the server closes ``sock``; (seconds it took, bytes received). Fails after ``seconds``."""
    start = time.monotonic()
    received = b""
    sock.settimeout(0.05)
    while time.monotonic() - start < seconds:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - start, received
        if not chunk:
            return time.monotonic() - start, received
        received += chunk
    raise AssertionError(f"the server kept the connection open for {seconds:g} s (received {received[:80]!r})")


def trickle(sock: socket.socket, data: bytes, interval_s: float, give_up_s: float) -> tuple[float, bytes]:
    """Sends ``data`` a byte per ``interval_s`` until the server closes ``sock``; (seconds it took,
    bytes received). Gives up (and says so) after ``give_up_s``."""
    start = time.monotonic()
    received = b""
    sock.settimeout(interval_s)
    for byte in data:
        if time.monotonic() - start > give_up_s:
            break
        try:
            sock.sendall(bytes([byte]))
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start, received
        if not chunk:
            return time.monotonic() - start, received
        received += chunk
    raise AssertionError(f"the server kept a trickling connection open for {time.monotonic() - start:.1f} s "
                         f"(received {received[:80]!r})")


def assert_serves(base: str) -> None:
    health = requests.get(f"{base}/healthz", timeout=5)
    assert health.status_code == 200, health.text
    reply = requests.post(f"{base}{PREDICT}", data=GOOD_BODY, timeout=5)
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["predictions"]) == 1


# --- connection limits ---------------------------------------------------------------------------


def test_idle_connections_beyond_the_old_concurrency_limit_do_not_lock_clients_out(url):
    idle = [connect(url) for _ in range(300)]
    try:
        time.sleep(0.2)  # the server has accepted them all
        assert_serves(url)
    finally:
        for sock in idle:
            sock.close()


def test_at_the_connection_cap_the_longest_waiting_connection_makes_room(bundle_dir):
    with running_server(bundle_dir, threads=1, max_connections=20, header_timeout_s=30.0) as base:
        first = connect(base)
        time.sleep(0.1)
        others = [connect(base) for _ in range(30)]
        try:
            time.sleep(0.2)
            assert_serves(base)
            took, received = closed_within(first, 2.0)
            assert received == b""  # it had sent nothing: closed without a reply
        finally:
            for sock in [first, *others]:
                sock.close()


def test_an_idle_connection_is_closed_after_the_header_timeout(url):
    with connect(url) as sock:
        took, received = closed_within(sock, HEADER_TIMEOUT_S + 3)
    assert HEADER_TIMEOUT_S * 0.8 <= took
    assert received == b""


def test_a_header_trickler_is_cut_off_at_the_header_timeout_with_a_408(url):
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: a\r\n" * 100
    with connect(url) as sock:  # 5 bytes a second: far slower than a client, far faster than the timeout
        took, received = trickle(sock, head, 0.2, HEADER_TIMEOUT_S + 3)
    assert took < HEADER_TIMEOUT_S + 1
    assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert b"no complete request head within 1 s" in received


def test_the_next_request_head_on_a_kept_alive_connection_is_timed_too(url):
    with connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        took, _ = trickle(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" * 10, 0.3, HEADER_TIMEOUT_S + 3)
    assert took < HEADER_TIMEOUT_S + 1, f"still connected {took:.1f} s after its previous response"


def test_a_body_trickled_after_an_early_reply_is_cut_off_too(url):
    with connect(url) as sock:
        sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                     "Content-Length: 1000\r\n\r\n".encode())
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 415 ")  # answered before its body
        took, _ = trickle(sock, b"x" * 1000, 0.2, HEADER_TIMEOUT_S + 3)
    assert took < HEADER_TIMEOUT_S + 1, f"still connected {took:.1f} s after its reply"


def test_a_slow_but_timely_head_and_a_busy_keep_alive_connection_are_served(url):
    with connect(url) as sock:
        sock.settimeout(5)
        for part in (b"GET /healthz HT", b"TP/1.1\r\nHost", b": x\r\n\r\n"):  # within the timeout
            sock.sendall(part)
            time.sleep(HEADER_TIMEOUT_S / 5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
    with requests.Session() as session:  # one connection, requests spread over 3 header timeouts
        start = time.monotonic()
        while time.monotonic() - start < 3 * HEADER_TIMEOUT_S:
            assert session.post(f"{url}{PREDICT}", data=GOOD_BODY, timeout=5).status_code == 200
            time.sleep(HEADER_TIMEOUT_S / 2)


def test_predicts_in_progress_are_bounded_and_health_still_answers(bundle_dir):
    with running_server(bundle_dir, threads=1, max_active_predicts=1) as base, connect(base) as slow:
        slow.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(GOOD_BODY)}\r\n\r\n".encode()
                     + GOOD_BODY[:10])
        time.sleep(0.3)  # its predict is reading its body
        busy = requests.post(f"{base}{PREDICT}", data=GOOD_BODY, timeout=5)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.json() == {"error": "the server has its limit of 1 predicts in progress; retry later"}
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        slow.sendall(GOOD_BODY[10:])
        slow.settimeout(5)
        assert slow.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert requests.post(f"{base}{PREDICT}", data=GOOD_BODY, timeout=5).status_code == 200


def test_a_server_process_under_idle_and_slowloris_connections_keeps_answering(bundle_dir):
    with running_server_process(bundle_dir, threads=1, header_timeout_s=HEADER_TIMEOUT_S) as base, \
            attack(base, idle=150, slowloris=10, trickle_s=0.3) as running:
        with requests.Session() as session:
            start = time.monotonic()
            answered = 0
            while time.monotonic() - start < 2.5 * HEADER_TIMEOUT_S:  # across the server's closing waves
                assert session.post(f"{base}{PREDICT}", data=GOOD_BODY, timeout=5).status_code == 200
                assert session.get(f"{base}/healthz", timeout=5).status_code == 200
                answered += 1
        assert answered >= 5
        # The attack was real: all 160 were open, and the server closed and the attacker reopened some.
        assert running.stats["opened"] > 160 and running.stats["closed_by_server"] > 0
        assert running.stats["whole_head_sent"] == 0


# --- hostile bodies ------------------------------------------------------------------------------


@pytest.fixture
def server_log(caplog):
    caplog.set_level(logging.INFO, logger="mmnet.server")
    return caplog


def assert_no_traceback(log) -> None:
    crashes = [r for r in log.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[" * (8 * 1024 * 1024), "nests too deeply to parse"),
        (b'{"instances": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nests too deeply to parse"),
        (b'{"instances": [' + b"[" * 200 + b"]" * 200 + b"]}", "instances[0] is not a rectangular array"),
        (b'{"instances": [[[' + b"9" * 5000 + b"]]]}", "an integer of more than 4300 digits"),
        (json.dumps({"instances": [[[2**70] * 8] * 8]}).encode(), "instances[0] holds values of dtype object"),
        (GOOD_BODY.replace(b"63", b"1e400"), "instances[0] holds non-integer numbers"),
        (json.dumps({"instances": [{"a": {"b": FRAME.tolist()}}]}).encode(), "instances[0].a is an object"),
    ],
    ids=["8MB-of-brackets", "1000-deep", "200-deep-frame", "5000-digits", "int-beyond-64-bits", "1e400",
         "nested-named-inputs"],
)
def test_hostile_json_is_a_400_without_a_traceback(url, server_log, body, fragment):
    reply = requests.post(f"{url}{PREDICT}", data=body, timeout=30)
    assert reply.status_code == 400, reply.text[:300]
    assert fragment in reply.json()["error"]
    assert_no_traceback(server_log)
    assert_serves(url)


@pytest.mark.parametrize(
    ("request_kw", "fragment"),
    [
        ({"data": json.dumps({"instances": [FRAME.tolist()], "signature_name": "s" * 4_000_000})},
         "signature_name is 'sss"),
        ({"data": json.dumps({"k" * 1_000_000: 1, "instances": []})}, "unknown request keys ['kkk"),
        ({"data": json.dumps({"instances": [{"x" * 1_000_000: FRAME.tolist(), "y": 1}]})}, "instances[0] is an object"),
    ],
    ids=["4MB-signature-name", "1MB-key", "1MB-instance-key"],
)
def test_error_messages_never_echo_more_than_a_few_dozen_characters(url, request_kw, fragment):
    reply = requests.post(f"{url}{PREDICT}", timeout=30, **request_kw)
    assert reply.status_code == 400
    message = reply.json()["error"]
    assert fragment in message and len(message) < 400, message[:500]
    assert "characters)" in message  # says how long the cut value was


def test_long_model_names_and_paths_are_cut_in_messages(url):
    for path, status in ((f"/v1/models/{'m' * 8000}:predict", 404), (f"/v1/models/{'m' * 8000}", 404),
                         (f"/{'p' * 8000}", 404)):
        reply = requests.request("POST" if path.endswith("predict") else "GET", url + path, data=GOOD_BODY, timeout=5)
        assert reply.status_code == status
        assert len(reply.json()["error"]) < 400 and "(8" in reply.json()["error"]


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        ({"Content-Type": "application/json"}, 200, None),
        ({"Content-Type": "application/json; charset=UTF-8"}, 200, None),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415,
         "Content-Type is 'application/x-www-form-urlencoded'; expected application/json (UTF-8) or none"),
        ({"Content-Type": "text/plain"}, 415, "Content-Type is 'text/plain'"),
        ({"Content-Type": "application/json; charset=latin-1"}, 415, "charset=latin-1"),
        ({"Content-Encoding": "gzip"}, 415, "Content-Encoding is 'gzip'; expected identity (no compression) or none"),
        ({"Content-Encoding": "identity"}, 200, None),
    ],
)
def test_content_type_and_encoding(url, headers, status, fragment):
    reply = requests.post(f"{url}{PREDICT}", data=GOOD_BODY, headers=headers, timeout=5)
    assert reply.status_code == status, reply.text
    if fragment is not None:
        assert fragment in reply.json()["error"]
    else:
        assert len(reply.json()["predictions"]) == 1


def test_a_body_without_content_type_is_accepted(url):
    request = requests.Request("POST", f"{url}{PREDICT}", data=GOOD_BODY).prepare()
    assert "Content-Type" not in request.headers
    with requests.Session() as session:
        assert session.send(request, timeout=5).status_code == 200
