"""The Dynamic Duo server's Starlette app: a little/big model pair behind the master server's TF Serving
REST API (same routes, decoding, limits and errors as :mod:`mmnet.server.app`), plus ``GET /metrics``.

The model name in the path is the system's name (``<little>+<big>``, or the big model's id for a
single system) or ``duo``. Per predict request:

1. auth, model, headers; :func:`~mmnet.server.duo.admit` against the queues — 429 with
   ``Retry-After`` when they are full, 503 while draining (the body is read and dropped first, so
   the client gets the reply rather than a reset connection); the body is decoded (in a worker
   thread) only for an admitted request, which counts as one admitted frame while it is read and
   decoded (so the requests waiting for decoding are bounded with the queued frames);
2. each frame joins the little model's :class:`~mmnet.server.duo.BatchQueue`; the little worker
   runs a batch when ``max_batch`` frames wait or the oldest has waited ``max_wait_ms`` (models
   whose graph fixes batch 1, such as Coral's, run the batch back to back in one pass of the worker);
3. the probe (:func:`~mmnet.server.duo.route_frame`) accepts each answer or moves the frame to the
   recovery queue, which the big model's worker drains (up to ``max_batch`` per pass, no waiting);
4. the reply holds each frame's final class probabilities, and the header ``X-Mmnet-Answered-By``
   names the model that answered each instance (``little`` or ``big``, comma-separated).

``GET /timings?since=SEQ`` (:class:`TimingLog`) returns the server's own timings of the most recent
worker passes (model, frames, start, end) and requests (when it was read, submitted to the queues,
answered, its ``X-Request-Id``), on the host's monotonic clock: the service-time distributions *under
the load of the moment*, which the load benchmark's queueing simulation is fed with.

Each model has one worker thread with one single-threaded interpreter (LiteRT's invoke releases the
GIL, so the two workers use two cores). An admitted frame is never dropped: it stays counted in
``in_system`` until it is answered, and a failing worker pass answers its frames 500.

Graceful drain (:func:`mmnet.server.launch.serve_duo`): on SIGTERM predicts get 503 at once, the
admitted ones finish (at most ``drain_timeout_s``), then uvicorn shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmnet.format.errors import ConfigError, DataError, ModelError
from mmnet.runtime.interpreter import TFLiteClassifier, load_interpreter
from mmnet.runtime.preprocessing import preprocess
from mmnet.server import serve_extra_missing
from mmnet.server.app import (
    MODEL_VERSION,
    OPENAPI_PATH,
    ServerConfig,
    _check_auth,
    _check_body_headers,
    _check_model,
    _ErrorReply,
    _exception_handlers,
    _read_body,
)
from mmnet.server.decoding import PredictRequest, parse_predict_body
from mmnet.server.duo import (
    BIG,
    LITTLE,
    Admission,
    BatchQueue,
    DuoConfig,
    DuoSystem,
    Load,
    Route,
    admit,
    route_frame,
)
from mmnet.server.metrics import CONTENT_TYPE, DuoMetrics

try:
    import anyio
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route as HttpRoute
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise serve_extra_missing(_e) from _e

__all__ = ["ANSWERED_BY_HEADER", "DUO_NAME", "REQUEST_ID_HEADER", "BatchedInvoker", "DuoModels", "DuoScheduler", "TimingLog",
           "create_duo_app", "duo_openapi"]

logger = logging.getLogger(__name__)

ANSWERED_BY_HEADER = "X-Mmnet-Answered-By"
REQUEST_ID_HEADER = "X-Request-Id"  # a client's id for a request, kept in the timing log
DUO_NAME = "duo"
# Frames from which a little batch runs as one invoke: at 2 frames one invoke lost 5-15% to two on the digits
# bundle's minions, from 4 on it won 5-60% (mmnet.benchmarks.duo_batching; benchmarks/README.md).
BATCHED_FROM = 4
_DECODE_THREADS = 2  # request bodies decoded at once (JSON, base64, PNG): as many as the host's cores here


class BatchedInvoker:
    """A batch of N frames as one ``invoke()`` of an interpreter whose input is resized to N
    (``resize_tensor_input`` + ``allocate_tensors`` once per batch size, the interpreters cached).

    Built only for a graph that takes a resized batch (:meth:`for_classifier` tries batch 2 and
    compares it with two batch-1 invokes); a graph that fixes its batch (Coral's end in a RESHAPE to
    ``[1, 1001]``) gets None and the frames run one invoke each."""

    def __init__(self, classifier: TFLiteClassifier) -> None:
        self.classifier = classifier
        self._interpreters: dict[int, Any] = {}

    @classmethod
    def for_classifier(cls, classifier: TFLiteClassifier) -> tuple[BatchedInvoker | None, str]:
        """The invoker and ``"batched"``, or None and why the model's batch cannot be resized."""
        invoker = cls(classifier)
        probe = np.linspace(-1.0, 1.0, num=2 * int(np.prod(classifier.input_shape)), dtype=np.float32)
        probe = probe.reshape((2, *classifier.input_shape))
        try:
            batched = invoker.predict(probe)
        except (ValueError, RuntimeError, ModelError) as e:
            return None, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        looped = classifier.predict(probe)
        if batched.shape != looped.shape or not np.allclose(batched, looped, atol=1e-3):
            return None, "a resized batch gives other scores than one frame at a time"
        return invoker, "batched"

    def _interpreter(self, batch: int) -> Any:
        interpreter = self._interpreters.get(batch)
        if interpreter is None:
            c = self.classifier
            interpreter = load_interpreter(c.path, num_threads=c.num_threads, use_xnnpack=c.use_xnnpack)
            detail = interpreter.get_input_details()[0]
            interpreter.resize_tensor_input(detail["index"], [batch, *c.input_shape], strict=False)
            interpreter.allocate_tensors()
            out_shape = tuple(int(v) for v in interpreter.get_output_details()[0]["shape"])
            if out_shape != (batch, c.num_classes):
                raise ModelError(f"{c.path.name} resized to batch {batch} gives output {list(out_shape)}; "
                                 f"expected {[batch, c.num_classes]}")
            self._interpreters[batch] = interpreter
        return interpreter

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Class scores float32 ``(N, K)`` of a normalised float32 batch, in one invoke."""
        prepared = self.classifier.prepare_input(batch)
        interpreter = self._interpreter(prepared.shape[0])
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.ascontiguousarray(prepared))
        interpreter.invoke()
        return self.classifier.dequantize_output(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))


class DuoModels:
    """The pair's interpreters and the work of one worker pass (called from that model's worker thread only).

    ``batched_little``: run a little batch of ``BATCHED_FROM`` frames or more as one invoke
    (:class:`BatchedInvoker`) when its graph allows it; ``little_batching`` says whether it does
    (``batched``) or why not."""

    def __init__(self, system: DuoSystem, *, batched_little: bool = True) -> None:
        self.system = system
        self.big = self._load(system.big.path, system.big.resolution, system.big.xnnpack, "big")
        little = system.little
        self.little: TFLiteClassifier | None = None
        self.little_invoker: BatchedInvoker | None = None
        self.little_batching = "off"
        if little is not None:
            self.little = self._load(little.path, little.resolution, little.xnnpack, "little")
            if batched_little:
                self.little_invoker, self.little_batching = BatchedInvoker.for_classifier(self.little)
                if self.little_invoker is None:
                    logger.info("little model %s: one invoke per frame (%s)", little.id, self.little_batching)

    def _load(self, path: Any, resolution: int, xnnpack: bool, role: str) -> TFLiteClassifier:
        classifier = TFLiteClassifier(path, num_threads=1, use_xnnpack=xnnpack)
        channels = self.system.preprocessing.channels
        if classifier.input_shape != (resolution, resolution, channels):
            raise ModelError(f"{role} model {path}: input {list(classifier.input_shape)}; the serving block says "
                             f"{[resolution, resolution, channels]}")
        if classifier.num_classes != self.system.num_classes:
            raise ModelError(f"{role} model {path}: {classifier.num_classes} outputs; expected {self.system.num_classes}")
        classifier.predict(np.zeros((1, *classifier.input_shape), dtype=np.float32))  # warm-up
        return classifier

    def run_little(self, frames: np.ndarray) -> tuple[np.ndarray, list[Route]]:
        """The little model's scores on ``frames`` (uint8 ``(N, H, W, C)``) and the probe's route for each."""
        assert self.little is not None and self.system.little is not None
        inputs = preprocess(frames, self.system.preprocessing, self.system.little.resolution)
        if self.little_invoker is not None and len(inputs) >= BATCHED_FROM:
            scores = self.little_invoker.predict(inputs)
        else:
            scores = self.little.predict(inputs)
        return scores, [route_frame(self.system.probe, row) for row in scores]

    def run_big(self, frames: np.ndarray) -> np.ndarray:
        return self.big.predict(preprocess(frames, self.system.preprocessing, self.system.big.resolution))


class TimingLog:
    """The most recent worker passes and predict requests, timed on the host's monotonic clock
    (``time.monotonic``: CLOCK_MONOTONIC, the same clock in every process of the host, so a client
    can line its own timestamps up with these). Bounded: the oldest records go first.

    A pass: ``[seq, model, frames, start, end, queued]``, ``queued`` the frames waiting in that model's
    queue when it ended (more than 0: the worker's next pass waited only for the event loop).

    A request: ``[seq, request_id, status, frames, read, submitted, answered, replied]`` — ``read``
    when the handler had the body, ``submitted`` when its frames joined the queues (after decoding),
    ``answered`` when its last frame's pass finished, ``replied`` when the reply was built (None for
    the stages a refused request never reached)."""

    PASS_FIELDS = ("seq", "model", "frames", "start", "end", "queued")
    REQUEST_FIELDS = ("seq", "request_id", "status", "frames", "read", "submitted", "answered", "replied")

    def __init__(self, capacity: int = 50_000) -> None:
        self._passes: deque[list[Any]] = deque(maxlen=capacity)
        self._requests: deque[list[Any]] = deque(maxlen=capacity)
        self._seq = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def add_pass(self, model: str, frames: int, start: float, end: float, queued: int) -> None:
        self._passes.append([self._next(), model, frames, start, end, queued])

    def add_request(self, request_id: str | None, status: int, frames: int, read: float | None,
                    submitted: float | None, answered: float | None, replied: float | None) -> None:
        self._requests.append([self._next(), request_id, status, frames, read, submitted, answered, replied])

    def since(self, seq: int) -> dict[str, Any]:
        """The records after ``seq`` (0: all kept) and ``next``, the ``since`` of the following call."""
        return {"clock": "monotonic", "next": self._seq,
                "pass_fields": list(self.PASS_FIELDS), "passes": [p for p in self._passes if p[0] > seq],
                "request_fields": list(self.REQUEST_FIELDS), "requests": [r for r in self._requests if r[0] > seq]}


@dataclass
class _Frame:
    pixels: np.ndarray
    future: asyncio.Future


@dataclass
class _Answer:
    scores: np.ndarray = field(repr=False)
    model: str
    at: float  # monotonic time its pass finished


class DuoScheduler:
    """The queues and the two workers (module doc). Event-loop side only, except the model calls."""

    def __init__(self, models: DuoModels, config: DuoConfig, metrics: DuoMetrics, timings: TimingLog | None = None) -> None:
        self.models = models
        self.config = config
        self.metrics = metrics
        self.timings = timings or TimingLog()
        self.single = models.little is None
        self.little_queue: BatchQueue[_Frame] = BatchQueue(config.max_batch, config.max_wait_s)
        # A single system batches the big model like the little one; a duo's recovery queue does not wait.
        self.big_queue: BatchQueue[_Frame] = BatchQueue(config.max_batch, config.max_wait_s if self.single else 0.0)
        self.in_system = 0  # admitted frames not yet answered
        self.active_requests = 0  # predicts past their first admission check, not yet replied
        # Predicts past their first check whose frames are not queued yet (body read, decoding): admission
        # counts each as one frame, so the requests waiting to be decoded are bounded with the rest.
        self.decoding = 0
        self.draining = False
        self.big_seconds_per_frame = 0.0  # moving average of the big model's passes (Retry-After)
        self._wake_little = asyncio.Event()
        self._wake_big = asyncio.Event()
        self._executors = {LITTLE: ThreadPoolExecutor(1, thread_name_prefix="mmnet-duo-little"),
                           BIG: ThreadPoolExecutor(1, thread_name_prefix="mmnet-duo-big")}
        self._tasks: list[asyncio.Task] = []

    @property
    def busy(self) -> bool:
        """Anything admitted still unanswered (the drain waits for False)."""
        return self.in_system > 0 or self.active_requests > 0

    @property
    def load(self) -> Load:
        return Load(self.in_system + self.decoding, len(self.big_queue), self.draining)

    def start(self) -> None:
        self._wake_little = asyncio.Event()  # bound to the running loop
        self._wake_big = asyncio.Event()
        if not self.single:
            self._tasks.append(asyncio.create_task(self._little_loop(), name="mmnet-duo-little"))
        self._tasks.append(asyncio.create_task(self._big_loop(), name="mmnet-duo-big"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for executor in self._executors.values():
            executor.shutdown(wait=True)

    def admission(self, frames: int, *, admitted_before: bool = False) -> Admission:
        """:func:`admit` on the current queues; a request already past its first check (``admitted_before``)
        is not refused for draining: the drain waits for it."""
        load = self.load
        if admitted_before:
            load = Load(load.in_system, load.recovery_queued, False)
        return admit(load, frames, self.config, big_seconds_per_frame=self.big_seconds_per_frame,
                     recovery_possible=not self.single)

    def submit(self, frames: np.ndarray) -> list[asyncio.Future]:
        """Queue an admitted request's frames; one future per frame resolves to an :class:`_Answer`."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        items = [_Frame(frame, loop.create_future()) for frame in frames]
        self.in_system += len(items)
        queue, wake = (self.big_queue, self._wake_big) if self.single else (self.little_queue, self._wake_little)
        for item in items:
            queue.put(item, now)
        wake.set()
        self._publish()
        return [item.future for item in items]

    def _publish(self) -> None:
        self.metrics.queues(len(self.little_queue), len(self.big_queue), self.in_system)

    def _finish(self, item: _Frame, answer: _Answer | BaseException) -> None:
        self.in_system -= 1
        if item.future.done():  # the request was cancelled (client gone): its frame still counted until now
            return
        if isinstance(answer, BaseException):
            item.future.set_exception(answer)
        else:
            item.future.set_result(answer)
            self.metrics.frames.labels(answer.model).inc()

    async def _next_batch(self, queue: BatchQueue[_Frame], wake: asyncio.Event) -> list[_Frame]:
        loop = asyncio.get_running_loop()
        while True:
            batch, wait_s = queue.next_batch(loop.time())
            if batch:
                return batch
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=wait_s)

    async def _run(self, model: str, function: Any, frames: list[_Frame]) -> tuple[Any, float, float]:
        """``function`` on the frames in the model's worker thread: its result, seconds and end time."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        pixels = np.stack([f.pixels for f in frames])
        result = await loop.run_in_executor(self._executors[model], function, pixels)
        ended = time.monotonic()
        elapsed = ended - started
        self.metrics.batch_size.labels(model).observe(len(frames))
        self.metrics.service.labels(model).observe(elapsed)
        queued = len(self.little_queue if model == LITTLE else self.big_queue)
        self.timings.add_pass(model, len(frames), started, ended, queued)
        return result, elapsed, ended

    async def _little_loop(self) -> None:
        while True:
            batch = await self._next_batch(self.little_queue, self._wake_little)
            self._publish()
            try:
                (scores, routes), _, ended = await self._run(LITTLE, self.models.run_little, batch)
            except Exception as e:  # a model failure answers its frames 500; the worker goes on
                logger.error("little model pass of %d frames failed: %r", len(batch), e, exc_info=e)
                for item in batch:
                    self._finish(item, e)
                continue
            now = asyncio.get_running_loop().time()
            recovered = 0
            for item, row, route in zip(batch, scores, routes):
                if route.model == LITTLE:
                    self._finish(item, _Answer(row, LITTLE, ended))
                else:
                    self.big_queue.put(item, now)
                    recovered += 1
            self.metrics.judged([r.reason for r in routes], recovered)
            if recovered:
                self._wake_big.set()
            self._publish()

    async def _big_loop(self) -> None:
        while True:
            batch = await self._next_batch(self.big_queue, self._wake_big)
            self._publish()
            try:
                scores, elapsed, ended = await self._run(BIG, self.models.run_big, batch)
            except Exception as e:
                logger.error("big model pass of %d frames failed: %r", len(batch), e, exc_info=e)
                for item in batch:
                    self._finish(item, e)
                continue
            per_frame = elapsed / len(batch)
            self.big_seconds_per_frame = per_frame if not self.big_seconds_per_frame else (
                0.9 * self.big_seconds_per_frame + 0.1 * per_frame)
            for item, row in zip(batch, scores):
                self._finish(item, _Answer(row, BIG, ended))
            self._publish()


def create_duo_app(system: DuoSystem, *, config: ServerConfig | None = None, duo: DuoConfig | None = None) -> Starlette:
    """The Dynamic Duo app for ``system`` (:func:`mmnet.server.duo.load_duo`). The interpreters are
    loaded and warmed up here, so a bad system fails before any port is bound."""
    config = config or ServerConfig()
    duo = duo or DuoConfig()
    if config.max_instances > duo.max_queued:
        raise ConfigError(f"ServerConfig.max_instances is {config.max_instances}; expected at most DuoConfig.max_queued "
                          f"({duo.max_queued}), or a request of that many frames could never be admitted")
    models = DuoModels(system)
    metrics = DuoMetrics()
    scheduler = DuoScheduler(models, duo, metrics)
    names = frozenset({system.name, DUO_NAME})
    spec = system.preprocessing
    frame_shape = spec.frame_shape
    token = config.token.encode("utf-8") if config.token is not None else None
    openapi_text = json.dumps(duo_openapi(json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))))
    decode_limiter: list[anyio.CapacityLimiter] = []  # made per event loop (lifespan)

    def check(request: Request) -> str:
        _check_auth(request, token)
        return _check_model(request, names)

    def decode(body: bytes) -> PredictRequest:
        try:
            return parse_predict_body(body, frame_shape, config.max_instances, spec.resize_policy)
        except DataError as e:
            raise _ErrorReply(400, str(e)) from e
        except RecursionError as e:
            raise _ErrorReply(400, "the request body nests too deeply to decode") from e

    async def predict(request: Request) -> Response:
        arrived = time.perf_counter()
        request_id = request.headers.get(REQUEST_ID_HEADER)
        stamps: dict[str, float] = {}  # monotonic times of the stages this request reached (the timing log)
        frames = 1
        try:
            check(request)
            _check_body_headers(request)
            # Admission before reading the body: a refused request costs no decoding. One frame is
            # the least a request brings; the decoded count is checked again below.
            admission = scheduler.admission(1)
            if not admission.admitted:
                # Read (and drop) the body first: a reply sent while the client is still sending would
                # close the connection under it, and the client could see a reset instead of the 429.
                with contextlib.suppress(_ErrorReply):
                    await _read_body(request, config)
                raise _Refused(admission)
            scheduler.active_requests += 1
            scheduler.decoding += 1
            try:
                try:
                    body = await _read_body(request, config)
                    stamps["read"] = time.monotonic()
                    limiter = decode_limiter[0] if decode_limiter else None
                    decoded = await anyio.to_thread.run_sync(decode, body, limiter=limiter)
                finally:
                    scheduler.decoding -= 1  # counted again below, with its decoded frames
                frames = len(decoded.frames)
                admission = scheduler.admission(frames, admitted_before=True)
                if not admission.admitted:
                    raise _Refused(admission)
                futures = scheduler.submit(decoded.frames)
                stamps["submitted"] = time.monotonic()
                try:
                    with anyio.fail_after(config.inference_timeout_s):
                        answers: list[_Answer] = list(await asyncio.gather(*futures))
                except TimeoutError as e:
                    raise _ErrorReply(504, f"inference did not finish within {config.inference_timeout_s:g} s") from e
                stamps["answered"] = max(a.at for a in answers)
            finally:
                scheduler.active_requests -= 1
        except _Refused as refused:
            a = refused.admission
            metrics.requests.labels("draining" if a.status == 503 else "refused").inc()
            metrics.refusals.labels(a.reason).inc()
            _log_request(request_id, a.status, frames, stamps)
            message = ("the server is shutting down; retry on another replica" if a.status == 503 else
                       f"the server's queues are full ({a.reason}); retry after {a.retry_after_s} s")
            raise _ErrorReply(a.status, message, {"Retry-After": str(a.retry_after_s)}) from None
        except _ErrorReply as e:
            metrics.requests.labels("bad_request" if e.status < 500 else "error").inc()
            _log_request(request_id, e.status, frames, stamps)
            raise
        except Exception:
            metrics.requests.labels("error").inc()
            _log_request(request_id, 500, frames, stamps)
            raise
        scores = np.stack([a.scores for a in answers]).astype(np.float64)
        if not np.isfinite(scores).all():
            metrics.requests.labels("error").inc()
            raise _ErrorReply(500, f"{system.name} produced non-finite outputs")
        reply = JSONResponse({decoded.reply_key: scores.tolist()},
                             headers={ANSWERED_BY_HEADER: ",".join(a.model for a in answers)})
        metrics.requests.labels("answered").inc()
        metrics.latency.observe(time.perf_counter() - arrived)
        stamps["replied"] = time.monotonic()
        _log_request(request_id, 200, frames, stamps)
        return reply

    def _log_request(request_id: str | None, status: int, frames: int, stamps: dict[str, float]) -> None:
        scheduler.timings.add_request(request_id, status, frames, stamps.get("read"), stamps.get("submitted"),
                                      stamps.get("answered"), stamps.get("replied"))

    async def status(request: Request) -> JSONResponse:
        check(request)
        return JSONResponse({"model_version_status": [
            {"version": MODEL_VERSION, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})

    async def metadata(request: Request) -> JSONResponse:
        name = check(request)
        h, w, c = frame_shape

        def dims(*sizes: int) -> dict[str, Any]:
            return {"dim": [{"size": str(s)} for s in sizes]}

        signature = {
            "inputs": {"frames": {"dtype": "DT_UINT8", "tensor_shape": dims(-1, h, w, c), "name": "frames"}},
            "outputs": {"probabilities": {"dtype": "DT_FLOAT", "tensor_shape": dims(-1, system.num_classes),
                                          "name": "probabilities"}},
            "method_name": "tensorflow/serving/predict",
        }
        return JSONResponse({
            "model_spec": {"name": name, "signature_name": "", "version": MODEL_VERSION},
            "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}},
            "mmnet": {
                "system": system.name,
                "little": system.little.id if system.little else None,
                "big": system.big.id,
                "probe": system.probe.rule if system.probe else None,
                "target": system.target,
                "preprocessing": spec.to_json(),
                "max_instances": config.max_instances,
                "max_body_bytes": config.max_body_bytes,
                "max_batch": duo.max_batch,
                "max_wait_ms": duo.max_wait_ms,
                "max_queued": duo.max_queued,
                "max_recovery_queued": duo.max_recovery_queued,
                "little_batching": models.little_batching,
            },
        })

    async def metrics_text(request: Request) -> Response:
        _check_auth(request, token)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def timings(request: Request) -> JSONResponse:
        _check_auth(request, token)
        raw = request.query_params.get("since", "0")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 20):
            raise _ErrorReply(400, f"since={raw[:40]!r}: expected a whole number of at most 20 digits (the 'next' of an "
                              "earlier reply, or 0)")
        return JSONResponse(scheduler.timings.since(int(raw)))

    async def openapi(request: Request) -> Response:
        return Response(openapi_text, media_type="application/json")

    async def health(request: Request) -> JSONResponse:
        if scheduler.draining:
            return JSONResponse({"status": "draining", "system": system.name}, status_code=503,
                                headers={"Retry-After": "1"})
        return JSONResponse({"status": "ok", "system": system.name, "little": system.little.id if system.little else None,
                             "big": system.big.id, "version": MODEL_VERSION})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        decode_limiter[:] = [anyio.CapacityLimiter(_DECODE_THREADS)]
        scheduler.start()
        logger.info("serving %s (%s) as %s", system.name, system.target, sorted(names))
        try:
            yield
        finally:
            await scheduler.stop()
            decode_limiter.clear()

    base = "/v1/models/{name}"
    versioned = "/v1/models/{name}/versions/{version}"
    routes = [
        HttpRoute("/healthz", health, methods=["GET"]),
        HttpRoute("/metrics", metrics_text, methods=["GET"]),
        HttpRoute("/timings", timings, methods=["GET"]),
        HttpRoute("/openapi.json", openapi, methods=["GET"]),
        HttpRoute(f"{base}/metadata", metadata, methods=["GET"]),
        HttpRoute(f"{versioned}/metadata", metadata, methods=["GET"]),
        HttpRoute(f"{base}:predict", predict, methods=["POST"]),
        HttpRoute(f"{versioned}:predict", predict, methods=["POST"]),
        HttpRoute(base, status, methods=["GET"]),
        HttpRoute(versioned, status, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers=_exception_handlers(), lifespan=lifespan)
    app.state.config = config
    app.state.duo = duo
    app.state.scheduler = scheduler
    app.state.metrics = metrics
    app.state.model_names = tuple(sorted(names))
    return app


def duo_openapi(master: dict[str, Any]) -> dict[str, Any]:
    """The master server's OpenAPI document extended to the Dynamic Duo server: ``/metrics``, 429 with
    ``Retry-After`` on predicts, ``X-Mmnet-Answered-By`` on their replies, 503 on ``/healthz`` while draining,
    and the system (pair, probe, batching and queue limits) in the metadata's ``mmnet`` object."""
    doc = copy.deepcopy(master)
    doc["info"]["title"] = "mmnet Dynamic Duo server"
    doc["info"]["description"] = (
        "The master server's API served by a little/big model pair (mmnet serve --duo): the little model answers "
        "every frame, a probe sends the frames it is not confident about to the big model. Model name: the system's "
        "name (<little>+<big>, or the big model's id alone) or 'duo'. Bounded queues: a predict beyond them gets 429 "
        "with Retry-After; during a graceful drain predicts and /healthz get 503. " + master["info"]["description"])
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    retry = {"Retry-After": {"schema": {"type": "string"}, "description": "whole seconds"}}
    for path, item in doc["paths"].items():
        if path.endswith(":predict"):
            responses = item["post"]["responses"]
            responses["200"]["headers"] = {ANSWERED_BY_HEADER: {
                "schema": {"type": "string"},
                "description": "per instance, the model whose answer was sent: little or big, comma-separated"}}
            responses["429"] = {"description": "The queues are full (the message names which); retry after "
                                "Retry-After seconds.", "content": error, "headers": retry}
            responses["503"]["description"] = "Draining for shutdown: retry on another replica."
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "name":
                    parameter["description"] = "The system's name or 'duo'."
    doc["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "type": "object", "required": ["status", "system", "little", "big", "version"],
        "properties": {"status": {"const": "ok"}, "system": {"type": "string"},
                       "little": {"type": ["string", "null"]}, "big": {"type": "string"}, "version": {"type": "string"}}}
    doc["paths"]["/healthz"]["get"]["responses"]["503"] = {"description": "Draining for shutdown.", "headers": retry,
                                                            "content": {"application/json": {"schema": {"type": "object"}}}}
    positive = {"type": "integer", "minimum": 1}
    doc["components"]["schemas"]["Metadata"]["properties"]["mmnet"] = {
        "type": "object",
        "required": ["system", "little", "big", "probe", "target", "preprocessing", "max_instances", "max_body_bytes",
                     "max_batch", "max_wait_ms", "max_queued", "max_recovery_queued"],
        "properties": {"system": {"type": "string"}, "little": {"type": ["string", "null"]}, "big": {"type": "string"},
                       "probe": {"type": ["string", "null"]}, "target": {"type": "string"},
                       "preprocessing": {"type": "object"}, "max_instances": positive, "max_body_bytes": positive,
                       "max_batch": positive, "max_wait_ms": {"type": "number", "minimum": 0},
                       "max_queued": positive, "max_recovery_queued": positive,
                       "little_batching": {"type": "string", "description": "'batched': a little batch of 4 frames or "
                                           "more runs as one invoke; else why not (the model fixes its batch), or 'off'"}}}
    doc["paths"]["/metrics"] = {"get": {
        "summary": "Prometheus text-format metrics: requests by outcome, recovery rate, latency histogram, queue "
                   "depths, batch sizes, worker pass times.",
        "security": [{"bearer": []}, {}],
        "responses": {
            "200": {"description": "Prometheus exposition format 0.0.4.",
                    "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": {"description": "Bearer token missing or wrong (only when the server has a token).",
                    "content": error},
        },
    }}
    doc["paths"]["/timings"] = {"get": {
        "summary": "The server's timings of its most recent worker passes and predict requests (monotonic clock): "
                   "the service times under the load of the moment, for a queueing simulation.",
        "security": [{"bearer": []}, {}],
        "parameters": [{"name": "since", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0},
                        "description": "Only records after this sequence number (the 'next' of an earlier reply)."}],
        "responses": {
            "200": {"description": "passes [seq, model, frames, start, end, queued] and requests [seq, request_id, status, "
                    "frames, read, submitted, answered, replied], field names included.",
                    "content": {"application/json": {"schema": {"type": "object",
                                                                "required": ["clock", "next", "passes", "requests"]}}}},
            "400": {"description": "since is not a whole number.", "content": error},
            "401": {"description": "Bearer token missing or wrong (only when the server has a token).",
                    "content": error},
        },
    }}
    return doc


class _Refused(Exception):
    def __init__(self, admission: Any) -> None:
        super().__init__(admission.reason)
        self.admission = admission
