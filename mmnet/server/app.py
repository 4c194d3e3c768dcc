"""The master server's Starlette app: the subset of the TF Serving REST API
(https://www.tensorflow.org/tfx/serving/api_rest) that a device needs to offload a frame::

    GET  /v1/models/<name>[/versions/1]             model status
    GET  /v1/models/<name>[/versions/1]/metadata    signature (uint8 frames in, probabilities out)
    POST /v1/models/<name>[/versions/1]:predict     {"instances": [...]} -> {"predictions": [...]}
                                                    {"inputs": [...]}    -> {"outputs": [...]}
    GET  /healthz                                   200 once the interpreters are loaded

``<name>`` is the bundle's name or the master's model id; the only version is ``1``. Bodies are
decoded by :mod:`mmnet.server.decoding`; a reply row holds the master's class probabilities
(float). Frames are preprocessed exactly like on the device: a frame of another size than the
bundle's frame shape is conformed to it with the bundle's resize policy
(:func:`mmnet.runtime.preprocessing.conform_frame`), then
:func:`mmnet.runtime.preprocessing.preprocess` with the bundle's spec at the master's resolution.
Errors are ``{"error": "<message>"}`` with 400 (bad input: the message names the instance, what
was found and what was expected), 401 (bearer token missing or wrong;
``WWW-Authenticate: Bearer``), 404 (unknown model, version or path), 405, 408 (body not received
within ``body_timeout_s``), 413 (body larger than ``max_body_bytes``), 415 (a Content-Type other
than ``application/json``, or a Content-Encoding other than ``identity``), 503 (no interpreter free
in time, or ``max_active_predicts`` predicts already in progress; ``Retry-After``) and 504
(inference took longer than ``inference_timeout_s``). A message quotes at most a few dozen
characters of the client's input. A bad request never stops the server. The API is described by
the OpenAPI document ``openapi.json`` beside this module (also served at ``GET /openapi.json``).

A predict body may come without a Content-Type (TF Serving's own examples send none) or as
``application/json`` (charset UTF-8, if one is named); ``curl -d`` sends
``application/x-www-form-urlencoded`` and gets a 415 telling it to send JSON.

Concurrency: the whole CPU-bound part of a predict request (JSON parsing, PNG decoding,
validation, preprocessing, inference) runs in a worker thread via ``anyio.to_thread.run_sync``
with its own ``CapacityLimiter`` of ``threads`` tokens, one per interpreter of the pool
(:class:`mmnet.server.master.MasterPool`). So the event loop never blocks (health checks and
status stay responsive under load) and at most ``threads`` requests compute at once. Requests
beyond the pool wait for a token, bounded by ``inference_timeout_s``.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.bundle import Bundle, load_bundle
from mmnet.format.checks import check_int, check_number, check_text, fail
from mmnet.format.errors import BundleError, ConfigError, DataError
from mmnet.runtime.preprocessing import preprocess
from mmnet.server import serve_extra_missing
from mmnet.server.decoding import cut, parse_predict_body, shown
from mmnet.server.master import InterpretersBusy, MasterPool, select_master

try:
    import anyio
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise serve_extra_missing(_e) from _e

__all__ = [
    "MODEL_VERSION",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_INSTANCES",
    "OPENAPI_PATH",
    "ServerConfig",
    "create_app",
]

logger = logging.getLogger(__name__)

MODEL_VERSION = "1"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_INSTANCES = 64
OPENAPI_PATH = Path(__file__).with_name("openapi.json")
# The longest error message sent: every message is built to be short, this is the backstop.
_MAX_MESSAGE_CHARS = 1000
_JSON_TYPE = "application/json"


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ServerConfig:
    """Limits and options of the master server (all validated on construction).

    ``model_id`` overrides the master (default: ``runtime_config.master.model``, else the bundle's
    only blessed master). ``token`` enables bearer-token auth for everything but ``/healthz`` and
    ``/openapi.json``.

    Connection limits (enforced by the launcher, :mod:`mmnet.server.connections`): a request head
    must arrive within ``header_timeout_s`` of connecting or of the previous response; an idle
    kept-alive connection closes after ``keep_alive_s``; at most ``max_connections`` connections
    are open. ``max_active_predicts`` bounds the predicts in progress (reading the body, waiting for
    an interpreter, computing): beyond it a predict is answered 503 at once, so buffered bodies take
    at most ``max_active_predicts * max_body_bytes`` of memory.
    """

    model_id: str | None = None
    token: str | None = field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_instances: int = DEFAULT_MAX_INSTANCES
    threads: int | None = None  # None: min(4, cpu count)
    inference_timeout_s: float = 30.0
    body_timeout_s: float = 10.0
    header_timeout_s: float = 5.0
    keep_alive_s: float = 5.0
    max_connections: int = 2048
    max_active_predicts: int = 128

    def __post_init__(self) -> None:
        # A blank token could never match: the Authorization header's token is stripped.
        if self.token is not None and (not isinstance(self.token, str) or not self.token.strip()):
            raise fail("ServerConfig.token", self.token, "a non-empty string or None")
        check_text("ServerConfig.model_id", self.model_id, nullable=True)
        check_int("ServerConfig.max_body_bytes", self.max_body_bytes, low=1)
        check_int("ServerConfig.max_instances", self.max_instances, low=1)
        check_int("ServerConfig.threads", self.threads, low=1, nullable=True)
        check_number("ServerConfig.inference_timeout_s", self.inference_timeout_s, positive=True)
        check_number("ServerConfig.body_timeout_s", self.body_timeout_s, positive=True)
        check_number("ServerConfig.header_timeout_s", self.header_timeout_s, positive=True)
        check_number("ServerConfig.keep_alive_s", self.keep_alive_s, positive=True)
        check_int("ServerConfig.max_connections", self.max_connections, low=1)
        check_int("ServerConfig.max_active_predicts", self.max_active_predicts, low=1)

    @property
    def pool_size(self) -> int:
        return self.threads if self.threads is not None else _default_threads()


class _ErrorReply(Exception):
    """An error reply: ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class _ServedMaster:
    """What the handlers need: the bundle, the served model, its interpreters and the limits."""

    def __init__(self, bundle: Bundle, config: ServerConfig) -> None:
        self.bundle = bundle
        self.config = config
        self.record = select_master(bundle, config.model_id)
        self.spec = bundle.preprocessing
        self.frame_shape = self.spec.frame_shape
        self.names = frozenset({bundle.name, self.record.id})
        self.pool = MasterPool(
            bundle.model_path(self.record.id), config.pool_size, acquire_timeout_s=config.inference_timeout_s
        )
        if self.pool.num_classes != bundle.num_classes:
            raise BundleError(
                f"master {self.record.id!r} has {self.pool.num_classes} outputs; bundle "
                f"{bundle.path} has {bundle.num_classes} labels"
            )
        self.limiter: anyio.CapacityLimiter | None = None  # made per event loop (lifespan)
        self.active_predicts = 0  # touched by the event loop only

    def answer(self, body: bytes) -> dict[str, Any]:
        """The whole CPU-bound part of a predict request (runs in a worker thread)."""
        try:
            request = parse_predict_body(body, self.frame_shape, self.config.max_instances, self.spec.resize_policy)
            # The frames are validated by the parser; a preprocessing mismatch is still a 400, not a 500.
            batch = preprocess(request.frames, self.spec, self.record.resolution)
        except DataError as e:
            raise _ErrorReply(400, str(e)) from e
        except RecursionError as e:  # a nesting the decoder's own checks did not foresee: still the client's
            raise _ErrorReply(400, "the request body nests too deeply to decode") from e
        try:
            probabilities = self.pool.predict(batch)
        except InterpretersBusy as e:
            raise _ErrorReply(503, str(e)) from e
        if not np.isfinite(probabilities).all():
            raise _ErrorReply(500, f"master {self.record.id!r} produced non-finite outputs")
        return {request.reply_key: probabilities.astype(np.float64).tolist()}


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    if len(message) > _MAX_MESSAGE_CHARS:
        message = f"{message[:_MAX_MESSAGE_CHARS]}... (message cut at {_MAX_MESSAGE_CHARS} characters)"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _check_body_headers(request: Request) -> None:
    """415 unless the body is JSON (or untyped) and not content-encoded."""
    content_type = request.headers.get("content-type")
    if content_type is not None:
        media, _, parameters = content_type.partition(";")
        charset = next(
            (v.strip().strip('"').lower() for k, _, v in (p.partition("=") for p in parameters.split(";"))
             if k.strip().lower() == "charset"),
            "utf-8",
        )
        if media.strip().lower() != _JSON_TYPE or charset != "utf-8":
            raise _ErrorReply(
                415,
                f"Content-Type is {shown(content_type)}; expected {_JSON_TYPE} (UTF-8) or none "
                "(with curl: -H 'Content-Type: application/json')",
                {"Accept": _JSON_TYPE},
            )
    encoding = request.headers.get("content-encoding")
    if encoding is not None and encoding.strip().lower() != "identity":
        raise _ErrorReply(
            415,
            f"Content-Encoding is {shown(encoding)}; expected identity (no compression) or none",
            {"Accept-Encoding": "identity"},
        )


def _check_auth(request: Request, token: bytes | None) -> None:
    """401 unless the request carries the bearer ``token`` (None: auth is off)."""
    if token is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise _ErrorReply(
            401,
            "missing bearer token; expected the header 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": 'Bearer realm="mmnet"'},
        )
    if not hmac.compare_digest(given.strip().encode("utf-8"), token):
        raise _ErrorReply(
            401,
            "the bearer token is not valid",
            {"WWW-Authenticate": 'Bearer realm="mmnet", error="invalid_token"'},
        )


async def _read_body(request: Request, config: ServerConfig) -> bytes:
    """The whole body, within ``max_body_bytes`` (413) and ``body_timeout_s`` (408)."""
    limit = config.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise _ErrorReply(400, f"Content-Length is {shown(declared)}; expected a byte count")
        if int(declared) > limit:
            raise _ErrorReply(413, f"the request body has {int(declared)} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    received = 0
    try:
        with anyio.fail_after(config.body_timeout_s):
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise _ErrorReply(413, f"the request body has more than {limit} bytes; the limit is {limit}")
                chunks.append(chunk)
    except ClientDisconnect as e:
        raise _ErrorReply(400, "the client disconnected before sending the whole body") from e
    except TimeoutError as e:
        raise _ErrorReply(408, f"the request body did not arrive within {config.body_timeout_s:g} s") from e
    return b"".join(chunks)


def _check_model(request: Request, names: frozenset[str]) -> str:
    """The served model's name from the path; 404 (unknown model or version) or 405 (GET of a :verb)."""
    name = request.path_params["name"]
    if request.method == "GET" and name.partition(":")[0] in names and ":" in name:
        raise _ErrorReply(
            405, f"GET {cut(request.url.path)}: {shown(name.partition(':')[2])} needs POST", {"Allow": "POST"}
        )
    if name not in names:
        raise _ErrorReply(404, f"model {shown(name)} is not served here; expected one of {sorted(names)}")
    version = request.path_params.get("version", MODEL_VERSION)
    if version != MODEL_VERSION:
        raise _ErrorReply(
            404, f"model {shown(name)} has no version {shown(version)}; the only version is {MODEL_VERSION!r}"
        )
    return name


async def _on_error_reply(request: Request, exc: _ErrorReply) -> JSONResponse:
    log = logger.warning if exc.status >= 500 else logger.info
    log("%s %s -> %d: %s", request.method, cut(request.url.path), exc.status, exc.message)
    return _error(exc.status, exc.message, exc.headers)


async def _on_starlette_error(request: Request, exc: HTTPException) -> JSONResponse:
    return _error(exc.status_code, f"{request.method} {cut(request.url.path)}: {exc.detail}", exc.headers)


async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s crashed: %r", request.method, request.url.path, exc, exc_info=exc)
    return _error(500, f"internal server error: {type(exc).__name__}")


def _exception_handlers() -> dict[Any, Any]:
    # Starlette types every handler as taking an Exception; each of these gets its own class.
    return {_ErrorReply: _on_error_reply, HTTPException: _on_starlette_error, Exception: _on_crash}


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
    master = _ServedMaster(bundle, config)
    openapi_text = OPENAPI_PATH.read_text(encoding="utf-8")
    token = config.token.encode("utf-8") if config.token is not None else None

    def check_auth(request: Request) -> None:
        _check_auth(request, token)

    def check_model(request: Request) -> str:
        return _check_model(request, master.names)

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
        _check_body_headers(request)
        if master.active_predicts >= config.max_active_predicts:
            raise _ErrorReply(
                503,
                f"the server has its limit of {config.max_active_predicts} predicts in progress; retry later",
                {"Retry-After": "1"},
            )
        master.active_predicts += 1
        try:
            body = await _read_body(request, config)
            limiter = master.limiter
            if limiter is None:  # the app runs without its lifespan (e.g. mounted elsewhere)
                limiter = master.limiter = anyio.CapacityLimiter(master.pool.size)
            try:
                with anyio.fail_after(config.inference_timeout_s):
                    result = await anyio.to_thread.run_sync(
                        master.answer, body, limiter=limiter, abandon_on_cancel=True
                    )
            except TimeoutError as e:
                raise _ErrorReply(504, f"inference did not finish within {config.inference_timeout_s:g} s") from e
        finally:
            master.active_predicts -= 1
        return JSONResponse(result)

    async def openapi(request: Request) -> Response:
        return Response(openapi_text, media_type=_JSON_TYPE)

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
        Route("/openapi.json", openapi, methods=["GET"]),
        Route(f"{base}/metadata", metadata, methods=["GET"]),
        Route(f"{versioned}/metadata", metadata, methods=["GET"]),
        Route(f"{base}:predict", predict, methods=["POST"]),
        Route(f"{versioned}:predict", predict, methods=["POST"]),
        Route(base, status, methods=["GET"]),
        Route(versioned, status, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers=_exception_handlers(),
        lifespan=lifespan,
    )
    app.state.master_model = master.record.id
    app.state.model_names = tuple(sorted(master.names))
    app.state.config = config
    return app
