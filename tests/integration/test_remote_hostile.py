"""The master client against a misbehaving master on loopback: a raw socket server in this file
that trickles bytes, lies about sizes, compresses unasked and sends numbers and nesting no master
would, so every phase of a request and every check of a reply is exercised over a real socket.

Each misbehaviour must end the call as a ``RemoteMasterError`` of the right kind, within the
time budget and the reply-size bound, never as another exception or a wrong row.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmnet.runtime.remote import FAILURE_KINDS, RemoteMaster, RemoteMasterError, png_bytes
from tests.support.fuzz import FUZZ
from tests.support.serving import FRAME

pytestmark = pytest.mark.server

Reply = Callable[[socket.socket, int], None]  # writes the reply to request number n (from 0)


def read_request(conn: socket.socket) -> bool:
    """Reads one request (headers and Content-Length body); False when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True


class HostileMaster:
    """A loopback HTTP server whose every reply is written by ``reply(conn, n)``; counts connections
    and requests. A reply that returns keeps the connection for the next request."""

    def __init__(self, reply: Reply, tls: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.tls = tls
        self.connections = 0
        self.requests = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.getsockname()[1]}"
        self._open: list[socket.socket] = []
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            while not self._stopping.is_set() and read_request(conn):
                n = self.requests
                self.requests += 1
                self.reply(conn, n)
        except OSError:
            pass  # the client gave up (the point of most tests here)
        finally:
            conn.close()

    def close(self) -> None:
        self._stopping.set()
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(), which close() alone does not
        self.server.close()
        for conn in self._open:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)


@contextmanager
def hostile(reply: Reply, tls: ssl.SSLContext | None = None) -> Iterator[HostileMaster]:
    master = HostileMaster(reply, tls)
    try:
        yield master
    finally:
        master.close()


def http_reply(body: bytes, *, status: str = "200 OK", headers: tuple[str, ...] = (), length: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def sends(data: bytes) -> Reply:
    return lambda conn, n: conn.sendall(data)


def predictions(row) -> bytes:
    return json.dumps({"predictions": [row]}).encode()


GOOD = http_reply(predictions([0.25, 0.5, 0.25]))


def call(master: HostileMaster, **options) -> tuple[RemoteMasterError | np.ndarray, float]:
    """predict() against ``master``: (the error or the probabilities, seconds taken)."""
    options = {"num_classes": 3, "timeout_s": 1.0, "retries": 0, "backoff_s": 0.0} | options
    start = time.monotonic()
    with RemoteMaster(master.url, "m", **options) as client:
        try:
            outcome = client.predict(FRAME).probabilities
        except RemoteMasterError as e:
            outcome = e
    return outcome, time.monotonic() - start


def refused(master: HostileMaster, kind: str, fragment: str = "", **options) -> tuple[RemoteMasterError, float]:
    outcome, elapsed = call(master, **options)
    assert isinstance(outcome, RemoteMasterError), f"accepted {outcome}"
    assert outcome.kind == kind, outcome
    assert fragment in str(outcome), outcome
    assert len(str(outcome)) < 500, str(outcome)[:600]
    return outcome, elapsed


# --- the deadline bounds the whole request ------------------------------------------------------


def trickle(prefix: bytes, rest: bytes, every_s: float = 0.2) -> Reply:
    """``prefix`` at once, then ``rest`` one byte every ``every_s`` seconds: each read succeeds long
    before a per-read timeout, the whole reply never does."""

    def reply(conn: socket.socket, n: int) -> None:
        conn.sendall(prefix)
        for i in range(len(rest)):
            time.sleep(every_s)
            conn.sendall(rest[i : i + 1])

    return reply


_HEAD, _, _BODY = GOOD.partition(b"\r\n\r\n")
TRICKLES = {
    "status line": (b"", GOOD),
    "headers": (_HEAD[:20], GOOD[20:]),
    "body": (_HEAD + b"\r\n\r\n", _BODY),
    "chunked body": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"".join(b"1\r\n" + _BODY[i : i + 1] + b"\r\n" for i in range(len(_BODY))) + b"0\r\n\r\n",
    ),
}


@pytest.mark.parametrize("phase", list(TRICKLES))
def test_a_trickling_master_fails_each_attempt_at_the_timeout(phase):
    """1 byte per 0.2 s, timeout 1 s, 2 attempts: the call ends after ~2 s as "timeout"."""
    with hostile(trickle(*TRICKLES[phase])) as master:
        error, elapsed = refused(master, "timeout", "no complete reply within 1 s", retries=1)
    assert error.attempts == 2 and master.requests == 2 and master.connections == 2  # dropped, reconnected
    assert 2.0 <= elapsed < 2 * 1.5, elapsed


def test_a_master_that_never_reads_the_request_fails_the_send_at_the_timeout():
    """An 8 MB upload into a socket nobody reads: sending blocks once the buffers fill."""
    frame = np.random.default_rng(0).integers(0, 256, (1700, 1700, 3), dtype=np.uint8)  # incompressible PNG
    start = time.monotonic()
    upload = png_bytes(frame)
    encoding_s = time.monotonic() - start
    assert len(upload) > 6 << 20  # more than the send buffer (at most 4 MB here) and the window hold
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, inherited on accept
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        with RemoteMaster(url, "m", timeout_s=1.0, retries=0) as client:
            start = time.monotonic()
            with pytest.raises(RemoteMasterError) as info:
                client.predict(frame)
            elapsed = time.monotonic() - start
    assert info.value.kind == "timeout", info.value
    assert 1.0 <= elapsed < 1.5 + 2 * encoding_s, (elapsed, encoding_s)


def test_the_retry_budget_is_attempts_times_timeout_plus_backoff():
    with hostile(trickle(b"", GOOD)) as master:
        error, elapsed = refused(master, "timeout", timeout_s=0.5, retries=2, backoff_s=0.1)
    assert error.attempts == 3
    budget = 3 * 0.5 + 0.1 * (2**2 - 1)
    assert budget - 0.05 <= elapsed < budget + 0.5, elapsed


def test_a_slow_reply_that_completes_within_the_timeout_is_used():
    fast_enough = trickle(b"", GOOD, every_s=0.5 / len(GOOD))  # ~0.5 s for the whole reply
    with hostile(fast_enough) as master:
        probabilities, _ = call(master, timeout_s=3.0)
    np.testing.assert_array_equal(probabilities, np.float32([0.25, 0.5, 0.25]))


# --- wrong replies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ([0.1] * 9 + [0.1], "the row has 10 values; expected 3"),
        ([0.5, 0.5], "the row has 2 values; expected 3"),
        ([1e300, 0.0, 0.0], "value 0 of the row is 1e+300; expected probabilities in [0, 1]"),
        ([10**30, 0, 0], "is beyond the 64-bit range"),
        ([-3.0, 2.0, 2.0], "value 0 of the row is -3.0; expected probabilities in [0, 1]"),
        ([0.1, 0.1, 0.1], "the row sums to 0.3; expected probabilities summing to 1"),
    ],
)
def test_a_wrong_row_is_malformed(row, fragment):
    with hostile(sends(http_reply(predictions(row)))) as master:
        error, _ = refused(master, "malformed", fragment, retries=2)
    assert error.attempts == 1 and master.requests == 1  # a wrong answer is not retried


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"predictions": [[1' + b"0" * 400 + b", 0, 0]]}", "is beyond the 64-bit range"),
        (b'{"predictions": [[1' + b"0" * 5000 + b", 0, 0]]}", "is beyond the 64-bit range"),
        (b'{"predictions": [[1e400, 0, 0]]}', "is beyond the float range"),
        (b'{"predictions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"predictions": [[NaN, 0, 1]]}', "NaN is not a JSON number"),
    ],
)
def test_numbers_and_nesting_no_master_sends_are_malformed(body, fragment):
    with hostile(sends(http_reply(body))) as master:
        refused(master, "malformed", fragment, max_reply_bytes=1_000_000)


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"error": 1' + b"0" * 5000 + b"}", b'{"error": ' + b"[" * 5000 + b"]" * 5000 + b"}"],
)
def test_an_error_reply_no_master_sends_is_still_its_status(body):
    with hostile(sends(http_reply(body, status="503 Service Unavailable"))) as master:
        error, _ = refused(master, "http_5xx", "HTTP 503", max_reply_bytes=1_000_000)
    assert error.status == 503


def test_the_first_reply_does_not_set_the_class_count_when_it_is_given():
    """Given the bundle's class count, a master answering another one is refused on every call,
    the first one included (without a class count the first reply's is kept, then enforced)."""
    with hostile(sends(http_reply(predictions([0.5, 0.5])))) as master:
        with RemoteMaster(master.url, "m", num_classes=3, retries=0) as client:
            for _ in range(2):
                with pytest.raises(RemoteMasterError, match="expected 3 \\(one per class\\)"):
                    client.predict(FRAME)
        with RemoteMaster(master.url, "m", retries=0) as client:
            np.testing.assert_array_equal(client.predict(FRAME).probabilities, np.float32([0.5, 0.5]))
            assert client.num_classes == 2


# --- reply size ----------------------------------------------------------------------------------


def gzip_bomb(decoded_mb: int) -> bytes:
    """A gzip member of ``decoded_mb`` MB of JSON whitespace, compressed without holding it."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    parts = [packer.compress(b'{"predictions": [[1, 0, 0]]}')]
    parts += [packer.compress(block) for _ in range(decoded_mb)]
    return b"".join(parts) + packer.flush()


@contextmanager
def traced_peak() -> Iterator[list[int]]:
    """The peak bytes Python allocated inside the block (all threads), in peak[0]."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def test_a_gzip_bomb_is_refused_unread():
    bomb = gzip_bomb(200)
    assert len(bomb) < 300_000
    with hostile(sends(http_reply(bomb, headers=("Content-Encoding: gzip",)))) as master:
        with traced_peak() as peak:
            error, elapsed = refused(master, "malformed", "the reply is Content-Encoding 'gzip'")
    assert elapsed < 1.0, elapsed
    assert peak[0] < 4 * 1024 * 1024, peak[0]  # nowhere near the 200 MB it inflates to


def test_a_small_gzip_reply_is_refused_too():
    """The client asks for identity: any encoding is the master's mistake, however small."""
    with hostile(sends(http_reply(gzip.compress(predictions([0.25, 0.5, 0.25])), headers=("Content-Encoding: gzip",)))) as master:
        refused(master, "malformed", "expected an unencoded reply")


def test_a_declared_size_beyond_the_bound_is_refused_before_reading():
    huge = http_reply(b"", headers=("Content-Length: 1000000000",), length=False)
    with hostile(sends(huge)) as master:
        _, elapsed = refused(master, "malformed", "the reply has 1000000000 bytes; the limit is 65728 (max_reply_bytes)")
    assert elapsed < 1.0


@pytest.mark.parametrize("framing", ["until close", "chunked"])
def test_an_undeclared_size_beyond_the_bound_is_refused_at_the_bound(framing):
    """200 MB of whitespace with no Content-Length: reading stops after the bound."""
    block = b" " * (1 << 20)
    sent = [0]

    def flood(conn: socket.socket, n: int) -> None:
        if framing == "chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % len(block) + block + b"\r\n"
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            chunk = block
        for _ in range(200):
            conn.sendall(chunk)
            sent[0] += len(block)

    with hostile(flood) as master, traced_peak() as peak:
        _, elapsed = refused(master, "malformed", "the reply has more than 65728 bytes; the limit is 65728", timeout_s=10.0)
    assert elapsed < 2.0, elapsed
    assert peak[0] < 4 * 1024 * 1024, peak[0]
    assert sent[0] < 200 << 20  # the client hung up before the flood ended


def test_an_oversized_error_reply_keeps_its_status():
    body = b'{"error": "' + b"x" * 200_000 + b'"}'
    with hostile(sends(http_reply(body, status="500 Internal Server Error"))) as master:
        error, _ = refused(master, "http_5xx", "HTTP 500: the reply has 200013 bytes; the limit is 65728")
    assert error.status == 500


# --- keep-alive ----------------------------------------------------------------------------------


def test_calls_share_one_kept_alive_connection():
    with hostile(sends(GOOD)) as master, RemoteMaster(master.url, "m", num_classes=3, retries=0) as client:
        for _ in range(5):
            client.predict(FRAME)
    assert master.requests == 5 and master.connections == 1


def test_a_connection_the_master_closed_while_idle_is_replaced_without_a_failed_attempt():
    def reply_then_close(conn: socket.socket, n: int) -> None:
        conn.sendall(GOOD)
        conn.shutdown(socket.SHUT_WR)  # as a server's keep-alive timeout does, after the reply

    with hostile(reply_then_close) as master, RemoteMaster(master.url, "m", num_classes=3, retries=0) as client:
        first = client.predict(FRAME)
        time.sleep(0.1)
        second = client.predict(FRAME)
    assert first.attempts == second.attempts == 1
    assert master.requests == 2 and master.connections == 2


def test_a_failed_call_drops_the_connection():
    def wrong_then_good(conn: socket.socket, n: int) -> None:
        conn.sendall(http_reply(predictions([0.5, 0.5])) if n == 0 else GOOD)

    with hostile(wrong_then_good) as master, RemoteMaster(master.url, "m", num_classes=3, retries=0) as client:
        with pytest.raises(RemoteMasterError):
            client.predict(FRAME)
        client.predict(FRAME)
    assert master.requests == 2 and master.connections == 2


# --- TLS and host names --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> tuple[ssl.SSLContext, Path]:
    """A server context with a self-signed certificate for 127.0.0.1, and that certificate's file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def test_tls_replies_are_read_and_tls_trickles_bounded(tls_server, monkeypatch):
    context, cert_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the client trusts the default CA paths
    with hostile(sends(GOOD), context) as master, RemoteMaster(master.url, "m", num_classes=3, retries=0) as client:
        for _ in range(3):
            np.testing.assert_array_equal(client.predict(FRAME).probabilities, np.float32([0.25, 0.5, 0.25]))
    assert master.connections == 1
    with hostile(trickle(_HEAD + b"\r\n\r\n", _BODY), context) as master:
        _, elapsed = refused(master, "timeout", "no complete reply within 1 s")
    assert 1.0 <= elapsed < 1.5, elapsed


def test_an_untrusted_certificate_is_unreachable(tls_server, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with hostile(sends(GOOD), tls_server[0]) as master:
        error, _ = refused(master, "unreachable", "CERTIFICATE_VERIFY_FAILED")
    assert master.requests == 0


def test_a_host_name_is_resolved_and_each_address_tried():
    """'localhost' may resolve to ::1 first; the server listens on 127.0.0.1 only."""
    with hostile(sends(GOOD)) as master:
        port = master.url.rsplit(":", 1)[1]
        with RemoteMaster(f"http://localhost:{port}", "m", num_classes=3, retries=0) as client:
            np.testing.assert_array_equal(client.predict(FRAME).probabilities, np.float32([0.25, 0.5, 0.25]))
    with RemoteMaster("http://no-such-host.invalid:8501", "m", retries=0, timeout_s=5.0) as client:
        with pytest.raises(RemoteMasterError) as info:
            client.predict(FRAME)
    assert info.value.kind == "unreachable"


# --- fuzz: whatever bytes come back ---------------------------------------------------------------

header_lines = st.sampled_from([
    "Content-Length: 0", "Content-Length: 5", "Content-Length: 100000000", "Content-Length: -1",
    "Content-Length: " + "9" * 5000, "Content-Length: x", "Transfer-Encoding: chunked", "Content-Encoding: gzip",
    "Content-Encoding: identity", "Connection: close", "Content-Type: text/html", "X-" + "a" * 70_000 + ": 1",
])
bodies = st.one_of(
    st.sampled_from([predictions([0.25, 0.5, 0.25]), predictions([1e300, 0, 0]), b"ffffffffffff\r\nab\r\n",
                     b"5\r\n" + predictions([0, 1, 0])[:5] + b"\r\n0\r\n\r\n", b'{"error": "no"}']),
    st.binary(max_size=300),
)
raw_replies = st.one_of(
    st.builds(
        lambda status, headers, body: (status + "\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode() + body,
        st.just("HTTP/1.1 200 OK")  # half the replies: the body and headers get read
        | st.sampled_from(["HTTP/1.0 200 OK", "HTTP/1.1 503 Busy", "HTTP/1.1 404 Nope", "HTTP/1.1 302 Found",
                           "HTTP/1.1 99999 X", "HTTP/9 200 OK", "ICY 200 OK", "HTTP/1.1 200"]),
        st.lists(header_lines, max_size=4),
        bodies,
    ),
    st.binary(max_size=400),
)


@pytest.mark.fuzz
@FUZZ
@given(raw=raw_replies)
def test_fuzz_any_reply_bytes_give_a_row_or_a_remote_master_error(raw):
    """The master sends ``raw`` and closes: the call returns a row of 3 probabilities or fails with
    a RemoteMasterError of a known kind, within the timeout, never anything else."""

    def send_and_close(conn: socket.socket, n: int) -> None:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)

    with hostile(send_and_close) as master:
        outcome, elapsed = call(master, timeout_s=2.0)
    assert elapsed < 2.5, elapsed
    if isinstance(outcome, RemoteMasterError):
        assert outcome.kind in FAILURE_KINDS and len(str(outcome)) < 500, str(outcome)[:600]
    else:
        assert outcome.dtype == np.float32 and outcome.shape == (3,) and np.all((outcome >= 0) & (outcome <= 1))
