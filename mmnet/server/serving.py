"""The master server: a bundle's master model behind the TF Serving REST predict API.

A Starlette app served by uvicorn. It speaks the subset of the TF Serving REST API
(https://www.tensorflow.org/tfx/serving/api_rest) that a device needs to offload a frame::

    GET  /v1/models/<name>[/versions/1]             model status
    GET  /v1/models/<name>[/versions/1]/metadata    signature (uint8 frames in, probabilities out)
    POST /v1/models/<name>[/versions/1]:predict     {"instances": [...]} -> {"predictions": [...]}
                                                    {"inputs": [...]}    -> {"outputs": [...]}
    GET  /healthz                                   200 once the interpreters are loaded

``<name>`` is the bundle's name or the master's model id; the only version is ``1``. An instance is
one raw frame in the bundle's frame shape ``(H, W, C)`` (``(H, W)`` too when C == 1): either nested
lists of integers 0..255, or ``{"b64": "<base64 PNG or JPEG>"}``. A reply row holds the master's
class probabilities (float). Frames are preprocessed exactly like on the device
(:func:`mmnet.runtime.preprocessing.preprocess` with the bundle's spec at the master's
resolution). As in TF Serving, the row format (``instances``) is answered with ``predictions`` and
the columnar format (``inputs``: a batch, or ``{"<input name>": batch}``) with ``outputs``.
Errors are ``{"error": "<message>"}`` with 400 (bad input: the message names the instance, what was
found and what was expected), 401 (bearer token missing or wrong; ``WWW-Authenticate: Bearer``),
404 (unknown model, version or path), 405, 408 (body not received within ``body_timeout_s``), 413
(body larger than ``max_body_bytes``), 503 (no interpreter free in time) and 504 (inference took
longer than ``inference_timeout_s``). A bad request never stops the server.

Concurrency model. ``TFLiteClassifier`` is not thread-safe, and LiteRT's ``invoke()`` releases the
GIL. The server keeps a pool of ``threads`` classifiers (one single-threaded interpreter each) in a
queue, and runs the whole CPU-bound part of a predict request (JSON parsing, PNG decoding,
validation, preprocessing, inference) in a worker thread via ``anyio.to_thread.run_sync`` with its
own ``CapacityLimiter`` of ``threads`` tokens. So the event loop never blocks (health checks and
status stay responsive under load), at most ``threads`` requests compute at once, each owning one
interpreter for its whole batch, and ``threads`` frames run in parallel on ``threads`` cores.
Chosen over one interpreter behind a lock, which serialises every inference on one core, and over
one interpreter per request, which would re-load the model each time. The cost is ``threads``
copies of the master's tensors in memory (a few MB each for the bundle's MobileNets). Requests
beyond the pool wait for a token (bounded by ``inference_timeout_s``); connections beyond
``max_concurrency`` are answered 503 by uvicorn.

Graceful shutdown: uvicorn handles SIGINT/SIGTERM, stops accepting, lets in-flight requests finish
(at most ``graceful_timeout_s``) and then exits.

Needs the ``serve`` extra (starlette, uvicorn, anyio) on top of the ``runtime`` extra.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import io
import json
import logging
import math
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import numpy as np

from mmnet.format.bundle import Bundle, ModelRecord, load_bundle
from mmnet.format.errors import BundleError, ConfigError, DataError, DependencyError, MmnetError
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess

try:
    import anyio
    import uvicorn
    from PIL import Image
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise DependencyError(
        f"the master server needs the 'serve' extra ({_e.name} is missing); install it with "
        "pip install 'mmnet[serve]'"
    ) from _e

__all__ = [
    "TOKEN_ENV",
    "MODEL_VERSION",
    "DEFAULT_PORT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_INSTANCES",
    "ServerConfig",
    "MasterPool",
    "select_master",
    "create_app",
    "serve",
    "running_app",
    "running_server",
    "running_server_process",
]

logger = logging.getLogger(__name__)

TOKEN_ENV = "MMNET_SERVE_TOKEN"
MODEL_VERSION = "1"
DEFAULT_PORT = 8501  # TF Serving's REST port
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_INSTANCES = 64
_IMAGE_FORMATS = ("PNG", "JPEG")
_MODES_BY_CHANNELS = {1: "L", 3: "RGB"}
_REQUEST_KEYS = ("instances", "inputs", "signature_name")
_SIGNATURES = ("", "serving_default", "predict")


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"ServerConfig.{name} is {value!r}; expected an int >= 1")


def _positive_float(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ConfigError(f"ServerConfig.{name} is {value!r}; expected a finite number > 0")


@dataclass(frozen=True)
class ServerConfig:
    """Limits and options of the master server (all validated on construction).

    ``model_id`` overrides the master (default: ``runtime_config.master.model``, else the bundle's
    only blessed master). ``token`` enables bearer-token auth for everything but ``/healthz``.
    """

    model_id: str | None = None
    token: str | None = field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_instances: int = DEFAULT_MAX_INSTANCES
    threads: int | None = None  # None: min(4, cpu count)
    inference_timeout_s: float = 30.0
    body_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.token is not None and (not isinstance(self.token, str) or not self.token.strip()):
            raise ConfigError(
                f"ServerConfig.token is {self.token!r}; expected a non-empty string or None"
            )
        if self.model_id is not None and not isinstance(self.model_id, str):
            raise ConfigError(f"ServerConfig.model_id is {self.model_id!r}; expected a string")
        _positive_int("max_body_bytes", self.max_body_bytes)
        _positive_int("max_instances", self.max_instances)
        if self.threads is not None:
            _positive_int("threads", self.threads)
        _positive_float("inference_timeout_s", self.inference_timeout_s)
        _positive_float("body_timeout_s", self.body_timeout_s)

    @property
    def pool_size(self) -> int:
        return self.threads if self.threads is not None else _default_threads()


def select_master(bundle: Bundle, model_id: str | None = None) -> ModelRecord:
    """The model the server runs: ``model_id``, else the runtime config's master, else the only
    blessed master of the bundle."""
    if model_id is not None:
        record = bundle.model(model_id)
    elif bundle.runtime_config is not None:
        record = bundle.model(bundle.runtime_config.master_model)
    else:
        masters = bundle.blessed("master")
        if len(masters) != 1:
            raise BundleError(
                f"bundle {bundle.path} has no runtime_config and {len(masters)} blessed masters "
                f"{[m.id for m in masters]}; expected exactly one, or pass the master's model id"
            )
        record = masters[0]
        logger.warning(
            "bundle %s has no runtime_config; serving its only blessed master %s",
            bundle.path,
            record.id,
        )
    if not record.shipped:
        raise BundleError(f"master {record.id!r} of bundle {bundle.path} is not shipped: {record.reason}")
    return record


class MasterPool:
    """``size`` independent classifiers of one model file; each call owns one for its duration."""

    def __init__(self, path: Path, size: int, *, acquire_timeout_s: float) -> None:
        _positive_int("threads", size)
        self.size = size
        self._acquire_timeout_s = acquire_timeout_s
        self._free: queue.Queue[TFLiteClassifier] = queue.Queue(maxsize=size)
        classifiers = [TFLiteClassifier(path, num_threads=1) for _ in range(size)]
        for classifier in classifiers:
            # One warm-up run each: a loaded pool is a pool that has produced a prediction.
            classifier.predict(np.zeros((1, *classifier.input_shape), dtype=np.float32))
            self._free.put_nowait(classifier)
        self.input_shape = classifiers[0].input_shape
        self.num_classes = classifiers[0].num_classes

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """``TFLiteClassifier.predict`` on a free classifier; a 503 error when none frees up."""
        try:
            classifier = self._free.get(timeout=self._acquire_timeout_s)
        except queue.Empty as e:
            raise _HTTPError(
                503, f"no interpreter became free within {self._acquire_timeout_s:g} s; retry later"
            ) from e
        try:
            return classifier.predict(batch)
        finally:
            self._free.put_nowait(classifier)


class _HTTPError(Exception):
    """An error reply: ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _bad_request(message: str) -> _HTTPError:
    return _HTTPError(400, message)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"the body contains {name}, which is not valid JSON; expected finite numbers")


class _Master:
    """What the handlers need: the bundle, the served model, the pool and the limits."""

    def __init__(self, bundle: Bundle, config: ServerConfig) -> None:
        self.bundle = bundle
        self.config = config
        self.record = select_master(bundle, config.model_id)
        self.spec = bundle.preprocessing
        self.frame_shape = self.spec.frame_shape
        self.names = frozenset({bundle.name, self.record.id})
        self.pool = MasterPool(
            bundle.model_path(self.record.id),
            config.pool_size,
            acquire_timeout_s=config.inference_timeout_s,
        )
        if self.pool.num_classes != bundle.num_classes:
            raise BundleError(
                f"master {self.record.id!r} has {self.pool.num_classes} outputs; bundle "
                f"{bundle.path} has {bundle.num_classes} labels"
            )
        self.limiter: anyio.CapacityLimiter | None = None  # made per event loop (lifespan)

    # --- request decoding (runs in a worker thread) -----------------------------------------

    def _expected(self) -> str:
        h, w, c = self.frame_shape
        return f"a uint8 frame of shape ({h}, {w}, {c})" + (f" or ({h}, {w})" if c == 1 else "")

    def _decode_image(self, where: str, data: Any) -> np.ndarray:
        if not isinstance(data, str):
            raise _bad_request(f"{where}.b64 is {_json_type(data)}; expected a base64 string")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as e:
            raise _bad_request(f"{where}.b64 is not valid base64: {e}") from e
        h, w, c = self.frame_shape
        try:
            with Image.open(io.BytesIO(raw), formats=list(_IMAGE_FORMATS)) as image:
                # Check the header before decoding any pixels (no decompression bombs).
                if image.size != (w, h):
                    raise _bad_request(
                        f"{where}.b64 is a {image.width}x{image.height} (WxH) image; expected "
                        f"{w}x{h}, the bundle's frame shape ({h}, {w}, {c})"
                    )
                expected_mode = _MODES_BY_CHANNELS.get(c)
                if image.mode != expected_mode:
                    raise _bad_request(
                        f"{where}.b64 is a {image.format} image in mode {image.mode!r} "
                        f"({len(image.getbands())} bands); expected mode {expected_mode!r} "
                        f"({c} channel{'s' if c != 1 else ''}, 8 bits)"
                    )
                pixels = np.asarray(image, dtype=np.uint8)
        except _HTTPError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
            raise _bad_request(
                f"{where}.b64 cannot be decoded as a {' or '.join(_IMAGE_FORMATS)} image: {e}"
            ) from e
        return pixels.reshape(h, w, c)

    def _decode_raw(self, where: str, value: list) -> np.ndarray:
        try:
            arr = np.asarray(value)
        except (ValueError, OverflowError) as e:
            raise _bad_request(
                f"{where} is not a rectangular array of integers ({e}); expected {self._expected()}"
            ) from e
        h, w, c = self.frame_shape
        if arr.shape != self.frame_shape and not (c == 1 and arr.shape == (h, w)):
            raise _bad_request(f"{where} has shape {arr.shape}; expected {self._expected()}")
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            kind = {"f": "non-integer numbers", "b": "booleans", "U": "strings"}.get(
                arr.dtype.kind, f"values of dtype {arr.dtype}"
            )
            raise _bad_request(
                f"{where} holds {kind}; expected integers 0..255 ({self._expected()})"
            )
        low, high = int(arr.min()), int(arr.max())
        if low < 0 or high > 255:
            raise _bad_request(
                f"{where} has values {low}..{high}; expected 0..255 ({self._expected()})"
            )
        return arr.astype(np.uint8).reshape(self.frame_shape)

    def _decode_instance(self, where: str, instance: Any) -> np.ndarray:
        if isinstance(instance, dict):
            if set(instance) == {"b64"}:
                return self._decode_image(where, instance["b64"])
            if len(instance) == 1:  # a named input: {"<input name>": frame}
                (key, value), = instance.items()
                return self._decode_instance(f"{where}.{key}", value)
            raise _bad_request(
                f"{where} is an object with keys {sorted(instance)}; expected nested lists or "
                '{"b64": "<base64 PNG/JPEG>"}'
            )
        if isinstance(instance, list):
            return self._decode_raw(where, instance)
        raise _bad_request(
            f"{where} is {_json_type(instance)}; expected nested lists ({self._expected()}) or "
            '{"b64": "<base64 PNG/JPEG>"}'
        )

    def parse(self, body: bytes) -> tuple[str, np.ndarray]:
        """(reply key, uint8 frames N,H,W,C) of a predict body; _HTTPError 400 when it is bad."""
        try:
            doc = json.loads(body, parse_constant=_reject_constant)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise _bad_request(f"the request body is not valid JSON: {e}") from e
        except ValueError as e:
            raise _bad_request(str(e)) from e
        if not isinstance(doc, dict):
            raise _bad_request(
                f'the request body is {_json_type(doc)}; expected an object '
                '{"instances": [...]} or {"inputs": [...]}'
            )
        unknown = sorted(set(doc) - set(_REQUEST_KEYS))
        if unknown:
            raise _bad_request(f"unknown request keys {unknown}; expected only {list(_REQUEST_KEYS)}")
        signature = doc.get("signature_name", "")
        if signature not in _SIGNATURES:
            raise _bad_request(
                f"signature_name is {signature!r}; this model has one signature, 'serving_default'"
            )
        if ("instances" in doc) == ("inputs" in doc):
            raise _bad_request(
                'the request body needs exactly one of "instances" (row format) and "inputs" '
                "(columnar format)"
            )
        if "instances" in doc:
            key, reply, items = "instances", "predictions", doc["instances"]
        else:
            key, reply, items = "inputs", "outputs", doc["inputs"]
            if isinstance(items, dict) and len(items) == 1 and "b64" not in items:
                (name, items), = items.items()
                key = f"inputs.{name}"
        if not isinstance(items, list):
            raise _bad_request(f"{key} is {_json_type(items)}; expected a list of frames")
        if not items:
            raise _bad_request(f"{key} is empty; expected 1..{self.config.max_instances} frames")
        if len(items) > self.config.max_instances:
            raise _bad_request(
                f"{key} holds {len(items)} frames; expected at most {self.config.max_instances} "
                "per request"
            )
        frames = [self._decode_instance(f"{key}[{i}]", item) for i, item in enumerate(items)]
        return reply, np.stack(frames)

    def predict_body(self, body: bytes) -> dict[str, Any]:
        """The whole CPU-bound part of a predict request (runs in a worker thread)."""
        reply, frames = self.parse(body)
        try:
            batch = preprocess(frames, self.spec, self.record.resolution)
        except DataError as e:  # validated above; kept so a mismatch is a 400, not a 500
            raise _bad_request(str(e)) from e
        probabilities = self.pool.predict(batch)
        if not np.isfinite(probabilities).all():
            raise _HTTPError(500, f"master {self.record.id!r} produced non-finite outputs")
        return {reply: probabilities.astype(np.float64).tolist()}


def _json_type(value: Any) -> str:
    """``value``'s JSON type with its article: "an object", "a number", ..."""
    for kind, name in ((bool, "a boolean"), (str, "a string"), (dict, "an object"), (list, "an array")):
        if isinstance(value, kind):
            return name
    if value is None:
        return "null"
    return "a number" if isinstance(value, (int, float)) else f"a {type(value).__name__}"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(bundle: Bundle | str | Path, *, config: ServerConfig | None = None, **options: Any) -> Starlette:
    """The server's Starlette app for ``bundle`` (a loaded Bundle or a bundle directory).

    Options are :class:`ServerConfig` fields (or pass ``config``). The interpreters are loaded and
    warmed up here, so a bad bundle fails before any port is bound.
    """
    if config is None:
        config = ServerConfig(**options)
    elif options:
        raise ConfigError(f"create_app got both config and options {sorted(options)}; expected one")
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    master = _Master(bundle, config)
    token = config.token.encode("utf-8") if config.token is not None else None

    def check_auth(request: Request) -> None:
        if token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise _HTTPError(
                401,
                "missing bearer token; expected the header 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": 'Bearer realm="mmnet"'},
            )
        if not hmac.compare_digest(given.strip().encode("utf-8"), token):
            raise _HTTPError(
                401,
                "the bearer token is not valid",
                {"WWW-Authenticate": 'Bearer realm="mmnet", error="invalid_token"'},
            )

    def check_model(request: Request) -> str:
        name = request.path_params["name"]
        if request.method == "GET" and name.partition(":")[0] in master.names and ":" in name:
            raise _HTTPError(
                405, f"GET {request.url.path}: {name.partition(':')[2]!r} needs POST", {"Allow": "POST"}
            )
        if name not in master.names:
            raise _HTTPError(
                404,
                f"model {name!r} is not served here; expected one of {sorted(master.names)}",
            )
        version = request.path_params.get("version", MODEL_VERSION)
        if version != MODEL_VERSION:
            raise _HTTPError(
                404,
                f"model {name!r} has no version {version!r}; the only version is {MODEL_VERSION!r}",
            )
        return name

    async def read_body(request: Request) -> bytes:
        limit = config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise _bad_request(f"Content-Length is {declared!r}; expected a byte count")
            if int(declared) > limit:
                raise _HTTPError(
                    413, f"the request body has {int(declared)} bytes; the limit is {limit}"
                )
        chunks: list[bytes] = []
        received = 0
        try:
            with anyio.fail_after(config.body_timeout_s):
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > limit:
                        raise _HTTPError(
                            413, f"the request body has more than {limit} bytes; the limit is {limit}"
                        )
                    chunks.append(chunk)
        except ClientDisconnect as e:
            raise _HTTPError(400, "the client disconnected before sending the whole body") from e
        except TimeoutError as e:
            raise _HTTPError(
                408, f"the request body did not arrive within {config.body_timeout_s:g} s"
            ) from e
        return b"".join(chunks)

    async def status(request: Request) -> JSONResponse:
        check_auth(request)
        check_model(request)
        return JSONResponse(
            {
                "model_version_status": [
                    {
                        "version": MODEL_VERSION,
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            }
        )

    async def metadata(request: Request) -> JSONResponse:
        check_auth(request)
        name = check_model(request)
        h, w, c = master.frame_shape

        def dims(*sizes: int) -> dict[str, Any]:
            return {"dim": [{"size": str(s)} for s in sizes]}

        signature = {
            "inputs": {"frames": {"dtype": "DT_UINT8", "tensor_shape": dims(-1, h, w, c), "name": "frames"}},
            "outputs": {
                "probabilities": {
                    "dtype": "DT_FLOAT",
                    "tensor_shape": dims(-1, bundle.num_classes),
                    "name": "probabilities",
                }
            },
            "method_name": "tensorflow/serving/predict",
        }
        return JSONResponse(
            {
                "model_spec": {"name": name, "signature_name": "", "version": MODEL_VERSION},
                "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}},
                "mmnet": {
                    "bundle": bundle.name,
                    "model_id": master.record.id,
                    "resolution": master.record.resolution,
                    "labels": list(bundle.labels),
                    "preprocessing": master.spec.to_json(),
                    "max_instances": config.max_instances,
                    "max_body_bytes": config.max_body_bytes,
                },
            }
        )

    async def predict(request: Request) -> JSONResponse:
        check_auth(request)
        check_model(request)
        body = await read_body(request)
        limiter = master.limiter
        if limiter is None:  # the app runs without its lifespan (e.g. mounted elsewhere)
            limiter = master.limiter = anyio.CapacityLimiter(master.pool.size)
        try:
            with anyio.fail_after(config.inference_timeout_s):
                result = await anyio.to_thread.run_sync(
                    master.predict_body, body, limiter=limiter, abandon_on_cancel=True
                )
        except TimeoutError as e:
            raise _HTTPError(
                504, f"inference did not finish within {config.inference_timeout_s:g} s"
            ) from e
        return JSONResponse(result)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "bundle": bundle.name,
                "model": master.record.id,
                "version": MODEL_VERSION,
                "interpreters": master.pool.size,
            }
        )

    async def on_http_error(request: Request, exc: _HTTPError) -> JSONResponse:  # type: ignore[override]
        if exc.status >= 500:
            logger.warning("%s %s -> %d: %s", request.method, request.url.path, exc.status, exc.message)
        else:
            logger.info("%s %s -> %d: %s", request.method, request.url.path, exc.status, exc.message)
        return _error(exc.status, exc.message, exc.headers)

    async def on_starlette_error(request: Request, exc: HTTPException) -> JSONResponse:  # type: ignore[override]
        return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", exc.headers)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s crashed: %r", request.method, request.url.path, exc, exc_info=exc)
        return _error(500, f"internal server error: {type(exc).__name__}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        master.limiter = anyio.CapacityLimiter(master.pool.size)
        logger.info(
            "serving %s (master %s, %d interpreters) as %s",
            bundle.path,
            master.record.id,
            master.pool.size,
            sorted(master.names),
        )
        yield
        master.limiter = None

    base = "/v1/models/{name}"
    versioned = "/v1/models/{name}/versions/{version}"
    routes = [
        Route("/healthz", health, methods=["GET"]),
        Route(f"{base}/metadata", metadata, methods=["GET"]),
        Route(f"{versioned}/metadata", metadata, methods=["GET"]),
        Route(f"{base}:predict", predict, methods=["POST"]),
        Route(f"{versioned}:predict", predict, methods=["POST"]),
        Route(base, status, methods=["GET"]),
        Route(versioned, status, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            _HTTPError: on_http_error,
            HTTPException: on_starlette_error,
            Exception: on_crash,
        },
        lifespan=lifespan,
    )
    app.state.master_model = master.record.id
    app.state.model_names = tuple(sorted(master.names))
    app.state.config = config
    return app


def _uvicorn_config(app: Any, *, host: str, port: int, graceful_timeout_s: float, max_concurrency: int, quiet: bool) -> uvicorn.Config:
    kwargs: dict[str, Any] = {}
    if quiet:
        kwargs = {"log_config": None, "access_log": False}
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        timeout_graceful_shutdown=max(1, math.ceil(graceful_timeout_s)),
        timeout_keep_alive=5,
        limit_concurrency=max_concurrency,
        server_header=False,
        **kwargs,
    )


def serve(
    bundle_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_instances: int = DEFAULT_MAX_INSTANCES,
    threads: int | None = None,
    model_id: str | None = None,
    max_concurrency: int = 128,
    graceful_timeout_s: float = 10.0,
) -> None:
    """Serve ``bundle_dir``'s master on ``host:port`` until SIGINT/SIGTERM (blocks).

    Both signals start uvicorn's graceful shutdown (no new connections, in-flight requests finish
    within ``graceful_timeout_s``). After SIGINT this returns; after SIGTERM uvicorn re-raises the
    signal once shut down, so the process ends by SIGTERM as a supervisor expects.

    ``token`` defaults to the environment variable ``MMNET_SERVE_TOKEN`` (auth is off when neither
    is set). Bind to a non-loopback ``host`` only behind TLS (e.g. a reverse proxy).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port is {port!r}; expected an int 0..65535")
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s without a bearer token: anyone who can reach it may use it", host)
    app = create_app(
        bundle_dir,
        model_id=model_id,
        token=token,
        max_body_bytes=max_body_bytes,
        max_instances=max_instances,
        threads=threads,
    )
    logger.info(
        "listening on http://%s:%d (auth %s)", host, port, "on" if token is not None else "off"
    )
    server = uvicorn.Server(
        _uvicorn_config(
            app,
            host=host,
            port=port,
            graceful_timeout_s=graceful_timeout_s,
            max_concurrency=max_concurrency,
            quiet=False,
        )
    )
    try:
        server.run()
    except SystemExit as e:  # uvicorn exits when it cannot bind or its lifespan fails
        raise MmnetError(
            f"the master server could not start on {host}:{port} (uvicorn exit code {e.code}; "
            "see its log above)"
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
    max_concurrency: int = 128,
) -> Iterator[str]:
    """Serve any ASGI ``app`` with uvicorn in a background thread on a free port of ``host``.

    Yields the base URL (``http://127.0.0.1:PORT``); on exit stops the server, letting in-flight
    requests finish for at most ``graceful_timeout_s``.
    """
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every kept-alive reply waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            _uvicorn_config(
                app,
                host=host,
                port=port,
                graceful_timeout_s=graceful_timeout_s,
                max_concurrency=max_concurrency,
                quiet=True,
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"mmnet-serve-{port}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive():
                raise MmnetError(f"the server on {host}:{port} exited during startup")
            if time.monotonic() > deadline:
                server.should_exit = True
                thread.join(timeout=graceful_timeout_s + 5)
                raise MmnetError(f"the server on {host}:{port} did not start within {startup_timeout_s:g} s")
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
    """``create_app(bundle_dir, **options)`` served on a free loopback port; yields the base URL."""
    runner = {k: options.pop(k) for k in ("startup_timeout_s", "graceful_timeout_s", "max_concurrency") if k in options}
    app = create_app(bundle_dir, **options)
    with running_app(app, host=host, **runner) as url:
        yield url


_SERVE_SCRIPT = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from mmnet.server.serving import serve
serve(sys.argv[1], **json.loads(sys.argv[2]))
"""


def _free_loopback_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server_process(
    bundle_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    startup_timeout_s: float = 60.0,
    stop_timeout_s: float = 15.0,
    **options: Any,
) -> Iterator[str]:
    """:func:`serve` in a child Python process on a free port; yields the base URL.

    Unlike :func:`running_server` the server does not share the caller's GIL (benchmarks). On exit
    the child gets SIGTERM (uvicorn's graceful shutdown), then SIGKILL after ``stop_timeout_s``.
    ``options`` are :func:`serve` keywords (JSON-serialisable); the token travels in the
    environment, never on the command line.
    """
    port = _free_loopback_port(host)
    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    if token is not None:
        env[TOKEN_ENV] = token
    kwargs = json.dumps({"host": host, "port": port, **options})
    with tempfile.TemporaryFile(mode="w+b") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", _SERVE_SCRIPT, str(bundle_dir), kwargs],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )

        def log_tail() -> str:
            log.seek(0)
            return log.read()[-2000:].decode("utf-8", "replace")

        url = f"http://{host}:{port}"
        try:
            deadline = time.monotonic() + startup_timeout_s
            while True:
                if child.poll() is not None:
                    raise MmnetError(
                        f"the server process exited with code {child.returncode} during startup:\n"
                        f"{log_tail()}"
                    )
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=1.0) as reply:
                        if reply.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise MmnetError(
                        f"the server process did not become healthy within {startup_timeout_s:g} s:\n"
                        f"{log_tail()}"
                    )
                time.sleep(0.05)
            yield url
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=stop_timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning("server process %d ignored SIGTERM; killing it", child.pid)
                    child.kill()
                    child.wait(timeout=5)
