"""Client of the master server (:mod:`mmnet.server`, or any TF Serving REST endpoint).

``RemoteMaster.predict(frame)`` sends one uint8 ``(H, W, C)`` frame as a ``{"b64": PNG}`` instance
(``encoding="png"``, lossless and ~2-10x smaller than JSON numbers) or as nested lists
(``encoding="raw"``) and returns the master's probabilities. One ``requests.Session`` keeps the
connection alive between calls. Failures are retried a bounded number of times with exponential
backoff when they may be transient (connection errors, timeouts, 5xx replies), never on 4xx replies
(the request itself is wrong) or malformed replies; after the last attempt a
:class:`RemoteMasterError` says which ``kind`` of failure it was, so the runtime can fall back to
the on-device master and count why.

A ``RemoteMaster`` is not thread-safe (``requests.Session`` is not): use one per thread.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import requests
from requests.adapters import HTTPAdapter

from mmnet.format.checks import check_choice, check_int, check_number, fail
from mmnet.format.errors import ConfigError, DataError, DependencyError, MmnetError

__all__ = [
    "TOKEN_ENV",
    "ENCODINGS",
    "FAILURE_KINDS",
    "RemoteMasterError",
    "RemoteResult",
    "RemoteMaster",
    "png_bytes",
]

logger = logging.getLogger(__name__)

# The environment variable holding the master's bearer token, read by both ends (`mmnet run`,
# `mmnet serve`): a team sets one secret for the device and the server.
TOKEN_ENV = "MMNET_TOKEN"
ENCODINGS = ("png", "raw")
FAILURE_KINDS = ("unreachable", "timeout", "http_5xx", "http_4xx", "malformed")
_RETRYABLE = frozenset({"unreachable", "timeout", "http_5xx"})
_MAX_ERROR_TEXT = 300


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

    ``rtt_ms`` is the round trip of the successful attempt (request sent to reply parsed);
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


class RemoteMaster:
    """A master model behind a TF Serving REST endpoint ``{base_url}/v1/models/{model_name}``."""

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
        num_classes: int | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise fail("RemoteMaster base_url", base_url, "an http(s):// URL")
        if not isinstance(model_name, str) or not model_name or "/" in model_name:
            raise fail("RemoteMaster model_name", model_name, "a model name without '/'")
        if token is not None and (not isinstance(token, str) or not token.strip()):
            # Not the house message with the value: the value is a secret.
            raise ConfigError("RemoteMaster token is empty; expected a non-empty string or None")
        check_number("RemoteMaster timeout_s", timeout_s, positive=True)
        check_number("RemoteMaster backoff_s", backoff_s)
        check_int("RemoteMaster retries", retries, low=0, high=10)
        check_choice("RemoteMaster encoding", encoding, ENCODINGS)
        check_int("RemoteMaster num_classes", num_classes, low=1, nullable=True)
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.encoding = encoding
        # Fixed by the first valid reply when not given, then enforced.
        self.num_classes = num_classes
        self._model_url = f"{self.base_url}/v1/models/{model_name}"
        self._session = requests.Session()
        # No urllib3-level retries: this class counts and bounds its own.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({"Accept": "application/json"})
        if token is not None:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        return f"RemoteMaster({self._model_url!r}, encoding={self.encoding!r})"

    def __enter__(self) -> RemoteMaster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connection."""
        self._session.close()

    # --- requests -----------------------------------------------------------------------------

    def _once(self, method: str, url: str, body: bytes | None) -> Any:
        """One request; the decoded JSON reply, or _Failure."""
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            response = self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=(self.timeout_s, self.timeout_s),
                allow_redirects=False,
            )
            content = response.content  # read fully here, so a cut-off body fails in this try
        except requests.exceptions.Timeout as e:
            raise _Failure("timeout", f"no reply within {self.timeout_s:g} s: {e}") from e
        except requests.exceptions.ContentDecodingError as e:
            raise _Failure("malformed", f"the reply cannot be decoded: {e}") from e
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            raise _Failure("unreachable", f"connection failed: {e}") from e
        except requests.exceptions.RequestException as e:
            raise _Failure("unreachable", f"request failed: {e}") from e
        status = response.status_code
        if status >= 400:
            kind = "http_5xx" if status >= 500 else "http_4xx"
            raise _Failure(kind, f"HTTP {status}: {_error_text(content)}", status)
        if status != 200:
            raise _Failure("malformed", f"HTTP {status}; expected 200", status)
        try:
            return json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise _Failure("malformed", f"the reply is not JSON ({e}): {content[:80]!r}", status) from e

    def _call(self, method: str, url: str, body: bytes | None, what: str) -> tuple[Any, float, int]:
        """(JSON reply, rtt ms of the successful attempt, attempts) with bounded retries."""
        attempts = 0
        max_attempts = self.retries + 1
        while True:
            attempts += 1
            start = time.perf_counter()
            try:
                doc = self._once(method, url, body)
                return doc, (time.perf_counter() - start) * 1000.0, attempts
            except _Failure as failure:
                retry = failure.kind in _RETRYABLE and attempts < max_attempts
                logger.info(
                    "%s %s attempt %d/%d failed (%s): %s%s",
                    what,
                    url,
                    attempts,
                    max_attempts,
                    failure.kind,
                    failure.message,
                    "; retrying" if retry else "",
                )
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
        doc, _, attempts = self._call("GET", self._model_url, None, "status")
        if not isinstance(doc, dict) or not isinstance(doc.get("model_version_status"), list):
            raise RemoteMasterError(
                f"status {self._model_url}: the reply has no 'model_version_status' list: {str(doc)[:80]}",
                kind="malformed",
                status=200,
                attempts=attempts,
            )
        return doc

    def _encode(self, frame: np.ndarray) -> dict[str, Any] | list:
        if self.encoding == "raw":
            return frame.tolist()
        return {"b64": base64.b64encode(png_bytes(frame)).decode("ascii")}

    def predict(self, frame: np.ndarray) -> RemoteResult:
        """The master's probabilities for one uint8 ``(H, W, C)`` frame."""
        start = time.perf_counter()
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3:
            raise DataError(f"frame is {frame.dtype} {frame.shape}; expected a uint8 (H, W, C) frame")
        body = json.dumps({"instances": [self._encode(frame)]}, separators=(",", ":")).encode("utf-8")
        url = f"{self._model_url}:predict"
        doc, rtt_ms, attempts = self._call("POST", url, body, "predict")
        probabilities = self._parse_predictions(doc, url, attempts)
        return RemoteResult(
            probabilities=probabilities,
            rtt_ms=rtt_ms,
            attempts=attempts,
            total_ms=(time.perf_counter() - start) * 1000.0,
        )

    def _parse_predictions(self, doc: Any, url: str, attempts: int) -> np.ndarray:
        def malformed(why: str) -> RemoteMasterError:
            return RemoteMasterError(f"predict {url}: malformed reply: {why}", kind="malformed", status=200, attempts=attempts)

        if not isinstance(doc, dict) or "predictions" not in doc:
            raise malformed(f"expected an object with 'predictions', got {str(doc)[:80]}")
        rows = doc["predictions"]
        if not isinstance(rows, list) or len(rows) != 1 or not isinstance(rows[0], list):
            raise malformed(f"'predictions' is {str(rows)[:80]}; expected one row [[p0, ..., pC-1]]")
        row = rows[0]
        if not row or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise malformed(f"the row is {str(row)[:80]}; expected a non-empty list of numbers")
        if not all(math.isfinite(v) for v in row):
            raise malformed(f"the row {str(row)[:80]} has non-finite values")
        if self.num_classes is not None and len(row) != self.num_classes:
            raise malformed(f"the row has {len(row)} values; expected {self.num_classes} (one per class)")
        self.num_classes = len(row)
        return np.asarray(row, dtype=np.float32)


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


def _error_text(content: bytes) -> str:
    """The ``error`` of a TF Serving error reply, else the start of the body."""
    try:
        doc = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return content[:_MAX_ERROR_TEXT].decode("utf-8", "replace") or "<empty body>"
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return doc["error"][:_MAX_ERROR_TEXT]
    return str(doc)[:_MAX_ERROR_TEXT]
