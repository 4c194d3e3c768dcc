"""Client of the master server (:mod:`mmnet.server`, or any TF Serving REST endpoint).

``RemoteMaster.predict(frame)`` sends one uint8 ``(H, W, C)`` frame as a ``{"b64": PNG}`` instance
(``encoding="png"``, lossless and ~2-10x smaller than JSON numbers), a ``{"b64": JPEG}`` one at
``jpeg_quality`` (``encoding="jpeg"``, lossy and smaller on photos) or as nested lists
(``encoding="raw"``) and returns the master's probabilities. One HTTP/1.1 connection is kept alive
between calls; a failed attempt drops it and the next one reconnects.

Each attempt is bounded as a whole: ``timeout_s`` is a deadline for name resolution, connecting,
the TLS handshake, sending the request and reading the status line, the headers and the body,
checked before every socket operation, so a master trickling one byte a second fails the attempt
after ``timeout_s`` as kind ``"timeout"``. Failures are retried when they may be transient
(connection errors, timeouts, 5xx replies), never on 4xx replies (the request itself is wrong) or
malformed replies, with exponential backoff (``backoff_s``, then twice that, ...). A call therefore
takes at most ``(retries + 1) * timeout_s + backoff_s * (2**retries - 1)`` seconds, PNG encoding
aside. After the last attempt a :class:`RemoteMasterError` says which ``kind`` of failure it was, so
the runtime can fall back to the on-device master and count why.

A reply is used only when it is what the bundle's master would answer (:func:`parse_predictions`):
strict JSON (no NaN, no numbers beyond float range, no integers beyond 64 bits, no deep nesting),
one row of ``num_classes`` probabilities, each in ``[0, 1]`` and together summing to 1. Its size
is bounded (``max_reply_bytes``) before it is read, and replies in a Content-Encoding the client did
not ask for (it asks for ``identity``) are refused unread. Anything else is kind ``"malformed"``.
Give ``num_classes`` (the runtime passes ``bundle.num_classes``); without it the first valid reply's
length becomes the class count and is enforced from then on.

A ``RemoteMaster`` is not thread-safe (it owns one connection): use one per thread.
"""

from __future__ import annotations

import base64
import http.client
import io
import ipaddress
import json
import logging
import math
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import numpy as np

from mmnet.format.checks import check_choice, check_int, check_number, fail
from mmnet.format.documents import parse_json
from mmnet.format.errors import ConfigError, DataError, DependencyError, MmnetError

__all__ = [
    "TOKEN_ENV",
    "ENCODINGS",
    "FAILURE_KINDS",
    "DEFAULT_MAX_REPLY_BYTES",
    "VALUE_TOLERANCE",
    "RemoteMasterError",
    "RemoteResult",
    "RemoteMaster",
    "parse_predictions",
    "png_bytes",
    "jpeg_bytes",
    "request_body",
    "sum_tolerance",
]

logger = logging.getLogger(__name__)

# The environment variable holding the master's bearer token, read by both ends (`mmnet run`,
# `mmnet serve`): a team sets one secret for the device and the server.
TOKEN_ENV = "MMNET_TOKEN"
ENCODINGS = ("png", "jpeg", "raw")
FAILURE_KINDS = ("unreachable", "timeout", "http_5xx", "http_4xx", "malformed")
_RETRYABLE = frozenset({"unreachable", "timeout", "http_5xx"})
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")  # a bundle name (manifest schema)
_URL_TEXT = re.compile(r"[\x21-\x7e]+")  # what an HTTP request line or header may carry
# No message quotes more of a reply than this: a hostile master must not fill the logs.
_QUOTE_CHARS = 100
# The reply size bound when max_reply_bytes is not given: a fixed allowance for the envelope and an
# error text, plus room for one generously printed number per class ("-1.2345678e-05,\n" and
# indentation); a few MB while the class count is unknown.
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024
_REPLY_BASE_BYTES = 64 * 1024
_REPLY_BYTES_PER_CLASS = 64
# A probability may stray this far outside [0, 1] (float rounding); the row is then clipped.
VALUE_TOLERANCE = 1e-3


def sum_tolerance(num_classes: int) -> float:
    """How far a row of ``num_classes`` probabilities may sum from 1: 0.01 plus half a uint8 step
    (1/512) per class, so the dequantised output of an int8 or uint8 softmax (scale 1/256, each
    value rounded) passes."""
    return 0.01 + num_classes / 512.0


class RemoteMasterError(MmnetError, RuntimeError):
    """The remote master gave no usable answer.

    ``kind`` is one of ``FAILURE_KINDS``; ``status`` is the HTTP status when there was a reply;
    ``attempts`` is how many requests were made.
    """

    def __init__(self, message: str, *, kind: str, status: int | None = None, attempts: int = 1) -> None:
        check_choice("RemoteMasterError.kind", kind, FAILURE_KINDS)
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.attempts = attempts


@dataclass(frozen=True)
class RemoteResult:
    """The master's class probabilities float32 ``(C,)`` for one frame.

    ``rtt_ms`` is the round trip of the successful attempt (request sent to reply checked);
    ``attempts`` counts every request made; ``total_ms`` is the whole call, PNG encoding, failed
    attempts and backoff included.
    """

    probabilities: np.ndarray
    rtt_ms: float
    attempts: int
    total_ms: float | None = None


class _Failure(Exception):
    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


class _ReplyError(MmnetError, ValueError):
    """A reply that is not strict JSON (the error type handed to ``parse_json``)."""


# --- replies -----------------------------------------------------------------------------------


def _clip(text: str) -> str:
    """``text`` cut to about _QUOTE_CHARS, keeping its end (where a parser's message says what was expected)."""
    if len(text) <= _QUOTE_CHARS:
        return text
    return text[: _QUOTE_CHARS // 2 - 10] + "..." + text[-(_QUOTE_CHARS // 2 + 10):]


def _quote(content: bytes, size: int = _QUOTE_CHARS) -> str:
    """The start of a raw reply, for a message."""
    return repr(content[:size]) + ("..." if len(content) > size else "")


def _describe(node: Any) -> str:
    """What a JSON node is, without printing a large or deep one in full."""
    if isinstance(node, list):
        return f"a list of {len(node)} item{'' if len(node) == 1 else 's'}"
    if isinstance(node, dict):
        keys = ", ".join(_clip(repr(k))[:24] for k in list(node)[:5])
        return f"an object with keys {keys}{', ...' if len(node) > 5 else ''}"
    return _clip(repr(node))


def _parse_document(content: bytes) -> Any:
    """The strict JSON document of a reply (parse_json: no NaN, no 1e400, no integers beyond 64 bits,
    no deep nesting), else malformed."""
    try:
        return parse_json(content, "the reply", _ReplyError)
    except _ReplyError as e:
        raise RemoteMasterError(f"malformed reply: {_clip(str(e))}; it starts {_quote(content, 40)}",
                                kind="malformed", status=200) from None


def parse_predictions(content: bytes, num_classes: int | None) -> np.ndarray:
    """The float32 probabilities ``(num_classes,)`` in a predict reply body ``content``
    (``{"predictions": [[p0, ..., pC-1]]}``), else ``RemoteMasterError(kind="malformed")``.

    Checked: strict JSON; exactly one row of ``num_classes`` numbers (any length when None); each
    in ``[0, 1]`` within ``VALUE_TOLERANCE`` (then clipped to ``[0, 1]``); the row summing to 1
    within :func:`sum_tolerance`.
    """

    def malformed(why: str) -> RemoteMasterError:
        return RemoteMasterError(f"malformed reply: {why}", kind="malformed", status=200)

    doc = _parse_document(content)
    if not isinstance(doc, dict) or "predictions" not in doc:
        raise malformed(f"expected an object with 'predictions', got {_describe(doc)}")
    rows = doc["predictions"]
    if not isinstance(rows, list) or len(rows) != 1 or not isinstance(rows[0], list):
        raise malformed(f"'predictions' is {_describe(rows)}; expected one row [[p0, ..., pC-1]]")
    row = rows[0]
    if num_classes is not None and len(row) != num_classes:
        raise malformed(f"the row has {len(row)} values; expected {num_classes} (one per class)")
    if not row:
        raise malformed("the row is empty; expected one probability per class")
    for i, value in enumerate(row):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise malformed(f"value {i} of the row is {_describe(value)}; expected a non-empty list of numbers")
        if not -VALUE_TOLERANCE <= value <= 1.0 + VALUE_TOLERANCE:
            raise malformed(f"value {i} of the row is {_describe(value)}; expected probabilities in [0, 1]")
    total = math.fsum(row)
    if abs(total - 1.0) > sum_tolerance(len(row)):
        raise malformed(f"the row sums to {total:.6g}; expected probabilities summing to 1 "
                        f"(within {sum_tolerance(len(row)):.3g})")
    return np.clip(np.asarray(row, dtype=np.float32), 0.0, 1.0)


def _error_text(content: bytes) -> str:
    """The ``error`` of a TF Serving error reply, else the start of the body."""
    try:
        doc = parse_json(content, "the reply", _ReplyError)
    except _ReplyError:
        return _quote(content) if content else "<empty body>"
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return _clip(doc["error"])
    return _describe(doc)


# --- transport ---------------------------------------------------------------------------------


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0.0:
        raise TimeoutError("the request's deadline passed")
    return left


# The mixin below calls socket methods through super(); type checkers see it as the socket it
# extends at run time (a plain or a TLS socket).
if TYPE_CHECKING:
    _SocketBase = socket.socket
else:
    _SocketBase = object


class _DeadlineIO(_SocketBase):
    """Every send and receive waits at most until ``deadline`` (``time.monotonic``): the socket
    timeout is set to the time left before each one, so no trickle of bytes extends a request."""

    deadline = math.inf

    def recv_into(self, buffer: Any, *args: Any) -> int:
        self.settimeout(_time_left(self.deadline))
        return super().recv_into(buffer, *args)

    def send(self, data: Any, *args: Any) -> int:  # TLS sendall loops over send
        self.settimeout(_time_left(self.deadline))
        return super().send(data, *args)

    def sendall(self, data: Any, *args: Any) -> None:
        self.settimeout(_time_left(self.deadline))
        super().sendall(data, *args)


class _DeadlineSocket(_DeadlineIO, socket.socket):
    pass


class _DeadlineTLSSocket(_DeadlineIO, ssl.SSLSocket):
    pass


def _resolve(host: str, port: int, deadline: float) -> list:
    """getaddrinfo within the deadline: a host name is looked up on a helper thread, which is left
    behind if the system resolver takes longer."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    answer: list = []
    done = threading.Event()

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as e:
            answer.append(e)
        finally:
            done.set()

    threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    if not done.wait(_time_left(deadline)):
        raise TimeoutError(f"resolving {host} took longer than the request's deadline")
    if isinstance(answer[0], OSError):
        raise answer[0]
    return answer[0]


class _Connection(http.client.HTTPConnection):
    """An HTTP/1.1 connection (TLS when ``tls`` is given) whose socket obeys ``deadline``."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self._tls = tls
        self.deadline = math.inf

    def start(self, deadline: float) -> None:
        """Bound the next request by ``deadline``; a kept-alive socket the server closed meanwhile
        (it is readable while no request is out: EOF or stray bytes) is dropped first."""
        self.deadline = deadline
        if self.sock is not None:
            if _readable(self.sock):
                self.close()
            else:
                cast(_DeadlineIO, self.sock).deadline = deadline

    def connect(self) -> None:
        error: OSError | None = None
        for family, kind, proto, _, address in _resolve(self.host, self.port, self.deadline):
            sock: _DeadlineIO = _DeadlineSocket(family, kind, proto)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(_time_left(self.deadline))
                sock.connect(address)
                if self._tls is not None:  # the handshake as a whole is bounded by the timeout (ssl)
                    sock.settimeout(_time_left(self.deadline))
                    sock = cast(_DeadlineTLSSocket, self._tls.wrap_socket(sock, server_hostname=self.host))
            except TimeoutError:
                sock.close()
                raise
            except OSError as e:
                sock.close()
                error = e
                continue
            sock.deadline = self.deadline
            self.sock = sock
            return
        raise error if error is not None else OSError(f"{self.host} has no address")


def _failure_of(error: Exception, timeout_s: float) -> _Failure:
    """The failure kind of what an attempt raised."""
    if isinstance(error, RemoteMasterError):  # the reply was read and refused
        return _Failure(error.kind, str(error), error.status)
    if isinstance(error, TimeoutError):
        return _Failure("timeout", f"no complete reply within {timeout_s:g} s")
    if isinstance(error, (http.client.IncompleteRead, ConnectionError)):  # RemoteDisconnected included
        return _Failure("unreachable", f"connection failed: {_clip(repr(error))}")
    if isinstance(error, http.client.HTTPException):  # a status line or headers that are not HTTP
        return _Failure("malformed", f"the reply is not HTTP: {_clip(repr(error))}")
    return _Failure("unreachable", f"connection failed: {_clip(str(error))}")


def _readable(sock: socket.socket) -> bool:
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([sock], [], [], 0)[0])
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _read_body(response: http.client.HTTPResponse, limit: int) -> bytes:
    """The reply's body, read only while it stays within ``limit`` bytes and is not encoded."""
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise _Failure("malformed", f"the reply is Content-Encoding {_clip(encoding)!r}; expected an unencoded "
                                    "reply (the request asked for identity)")
    if response.length is not None:
        if response.length > limit:
            raise _Failure("malformed", f"the reply has {response.length} bytes; the limit is {limit} (max_reply_bytes)")
        return response.read()
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(limit + 1 - size):  # chunked or until close: checked as it comes
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _Failure("malformed", f"the reply has more than {limit} bytes; the limit is {limit} (max_reply_bytes)")
    return b"".join(chunks)


# --- the client --------------------------------------------------------------------------------


class RemoteMaster:
    """A master model behind a TF Serving REST endpoint ``{base_url}/v1/models/{model_name}``.

    ``num_classes``: the bundle's class count, which every reply must match (give it; None adopts
    the first valid reply's). ``max_reply_bytes``: the largest reply read; by default 64 KiB plus
    64 bytes per class (4 MiB while the class count is unknown).
    """

    def __init__(
        self,
        base_url: str,
        model_name: str,
        *,
        token: str | None = None,
        timeout_s: float = 2.0,
        retries: int = 2,
        backoff_s: float = 0.05,
        encoding: str = "png",
        jpeg_quality: int = 90,
        num_classes: int | None = None,
        max_reply_bytes: int | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")) \
                or not _URL_TEXT.fullmatch(base_url):
            raise fail("RemoteMaster base_url", base_url, "an http(s):// URL of visible ASCII characters")
        try:
            parts = urlsplit(base_url)
            port = parts.port
        except ValueError as e:
            raise fail("RemoteMaster base_url", base_url, f"an http(s)://host[:port] URL ({e})") from e
        if not parts.hostname or parts.username is not None or parts.query or parts.fragment:
            raise fail("RemoteMaster base_url", base_url,
                       "an http(s)://host[:port][/path] URL without user, query or fragment (a token goes in token=)")
        if not isinstance(model_name, str) or not _MODEL_NAME.fullmatch(model_name):
            raise fail("RemoteMaster model_name", model_name, "a bundle name (letters, digits, '.', '_', '-')")
        if token is not None and (not isinstance(token, str) or not _URL_TEXT.fullmatch(token)):
            # Not the house message with the value: the value is a secret.
            raise ConfigError("RemoteMaster token is empty or has spaces or control characters; "
                              "expected a non-empty string of visible ASCII characters, or None")
        check_number("RemoteMaster timeout_s", timeout_s, positive=True, high=3600.0)
        check_number("RemoteMaster backoff_s", backoff_s, high=60.0)
        check_int("RemoteMaster retries", retries, low=0, high=10)
        check_choice("RemoteMaster encoding", encoding, ENCODINGS)
        check_int("RemoteMaster jpeg_quality", jpeg_quality, low=1, high=95)
        check_int("RemoteMaster num_classes", num_classes, low=1, nullable=True)
        check_int("RemoteMaster max_reply_bytes", max_reply_bytes, low=1024, nullable=True)
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.encoding = encoding
        self.jpeg_quality = jpeg_quality
        self.num_classes = num_classes
        self.max_reply_bytes = max_reply_bytes
        self._model_url = f"{self.base_url}/v1/models/{model_name}"
        self._model_path = f"{parts.path.rstrip('/')}/v1/models/{model_name}"
        self._host = parts.hostname
        self._tls = parts.scheme == "https"
        self._port = port if port is not None else (443 if self._tls else 80)
        self._headers = {"Accept": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._connection: _Connection | None = None

    def __repr__(self) -> str:
        return f"RemoteMaster({self._model_url!r}, encoding={self.encoding!r})"

    def __enter__(self) -> RemoteMaster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def reply_limit(self) -> int:
        """The largest reply body read, in bytes (``max_reply_bytes``, or its default)."""
        if self.max_reply_bytes is not None:
            return self.max_reply_bytes
        if self.num_classes is None:
            return DEFAULT_MAX_REPLY_BYTES
        return _REPLY_BASE_BYTES + _REPLY_BYTES_PER_CLASS * self.num_classes

    # --- requests -----------------------------------------------------------------------------

    def _connect(self) -> _Connection:
        if self._connection is None:
            context = None
            if self._tls:
                context = ssl.create_default_context()
                context.sslsocket_class = _DeadlineTLSSocket
            self._connection = _Connection(self._host, self._port, context)
        return self._connection

    def _once(self, method: str, path: str, body: bytes | None, parse: Callable[[bytes], Any]) -> Any:
        """One request within ``timeout_s``: ``parse(body)`` of its 200 reply, or _Failure."""
        deadline = time.monotonic() + self.timeout_s
        headers = dict(self._headers, **({"Content-Type": "application/json"} if body is not None else {}))
        connection = self._connect()
        try:
            connection.start(deadline)
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            status = response.status
            if status >= 400:
                kind = "http_5xx" if status >= 500 else "http_4xx"
                try:
                    text = _error_text(_read_body(response, self.reply_limit()))
                except _Failure as unread:
                    text = unread.message
                raise _Failure(kind, f"HTTP {status}: {text}", status)
            content = _read_body(response, self.reply_limit())
            if status != 200:
                raise _Failure("malformed", f"HTTP {status}; expected 200", status)
            return parse(content)
        except BaseException as e:
            self.close()  # a failed attempt leaves the connection in an unknown state
            if isinstance(e, (RemoteMasterError, OSError, http.client.HTTPException)):
                raise _failure_of(e, self.timeout_s) from e
            raise

    def _call(self, method: str, suffix: str, body: bytes | None, what: str,
              parse: Callable[[bytes], Any]) -> tuple[Any, float, int]:
        """(parsed reply, rtt ms of the successful attempt, attempts) of the model URL + ``suffix``,
        with bounded retries."""
        path, url = self._model_path + suffix, self._model_url + suffix
        attempts = 0
        max_attempts = self.retries + 1
        while True:
            attempts += 1
            start = time.perf_counter()
            try:
                value = self._once(method, path, body, parse)
                return value, (time.perf_counter() - start) * 1000.0, attempts
            except _Failure as failure:
                retry = failure.kind in _RETRYABLE and attempts < max_attempts
                logger.info("%s %s attempt %d/%d failed (%s): %s%s", what, url, attempts, max_attempts,
                            failure.kind, failure.message, "; retrying" if retry else "")
                if not retry:
                    raise RemoteMasterError(
                        f"{what} {url} failed after {attempts} attempt{'s' if attempts > 1 else ''}: "
                        f"{failure.message}",
                        kind=failure.kind,
                        status=failure.status,
                        attempts=attempts,
                    ) from failure
            time.sleep(self.backoff_s * (2 ** (attempts - 1)))

    def status(self) -> dict:
        """The model status document (``GET /v1/models/<name>``)."""

        def parse(content: bytes) -> dict:
            doc = _parse_document(content)
            if not isinstance(doc, dict) or not isinstance(doc.get("model_version_status"), list):
                raise RemoteMasterError(f"malformed reply: no 'model_version_status' list in {_describe(doc)}",
                                        kind="malformed", status=200)
            return doc

        doc, _, _ = self._call("GET", "", None, "status", parse)
        return doc

    def predict(self, frame: np.ndarray) -> RemoteResult:
        """The master's probabilities for one uint8 ``(H, W, C)`` frame."""
        start = time.perf_counter()
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3:
            raise DataError(f"frame is {frame.dtype} {frame.shape}; expected a uint8 (H, W, C) frame")
        body = request_body(frame, self.encoding, self.jpeg_quality)
        probabilities, rtt_ms, attempts = self._call(
            "POST", ":predict", body, "predict", lambda content: parse_predictions(content, self.num_classes))
        if self.num_classes is None:
            self.num_classes = len(probabilities)  # no class count given: the first valid reply's is kept
        return RemoteResult(
            probabilities=probabilities,
            rtt_ms=rtt_ms,
            attempts=attempts,
            total_ms=(time.perf_counter() - start) * 1000.0,
        )


def request_body(frame: np.ndarray, encoding: str, jpeg_quality: int = 90) -> bytes:
    """The predict request's JSON body for one uint8 ``(H, W, C)`` frame, exactly as the client sends it
    (what :func:`mmnet.runtime.network.upload_bytes` costs)."""
    if encoding == "raw":
        instance: Any = frame.tolist()
    else:
        image = jpeg_bytes(frame, jpeg_quality) if encoding == "jpeg" else png_bytes(frame)
        instance = {"b64": base64.b64encode(image).decode("ascii")}
    return json.dumps({"instances": [instance]}, separators=(",", ":")).encode("utf-8")


def png_bytes(frame: np.ndarray) -> bytes:
    """A uint8 ``(H, W, 1)`` or ``(H, W, 3)`` frame as PNG (mode L or RGB, fast compression)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (1, 3):
        raise DataError(
            f"frame is {frame.dtype} {frame.shape}; PNG encoding takes uint8 (H, W, 1) or (H, W, 3) "
            "(use encoding='raw' for other channel counts)"
        )
    try:  # Pillow only when PNG is asked for: "raw" uploads and the rest of the runtime work without it
        from PIL import Image
    except ImportError as e:
        raise DependencyError(f"PNG encoding needs Pillow (pip install 'mmnet[runtime]') or encoding='raw': {e}") from e
    pixels = frame[:, :, 0] if frame.shape[2] == 1 else frame
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def jpeg_bytes(frame: np.ndarray, quality: int) -> bytes:
    """A uint8 ``(H, W, 1)`` or ``(H, W, 3)`` frame as JPEG at ``quality`` (1-95, Pillow's scale)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (1, 3):
        raise DataError(
            f"frame is {frame.dtype} {frame.shape}; JPEG encoding takes uint8 (H, W, 1) or (H, W, 3) "
            "(use encoding='raw' for other channel counts)"
        )
    check_int("jpeg quality", quality, low=1, high=95)
    try:
        from PIL import Image
    except ImportError as e:
        raise DependencyError(f"JPEG encoding needs Pillow (pip install 'mmnet[runtime]') or encoding='raw': {e}") from e
    pixels = frame[:, :, 0] if frame.shape[2] == 1 else frame
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
