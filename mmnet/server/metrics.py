"""The Dynamic Duo server's metrics in the Prometheus text format (``GET /metrics``), via ``prometheus_client``
on a registry of the app's own (two apps in one process never mix their numbers).

Series (all prefixed ``mmnet_duo_``):

- ``requests_total{outcome}`` — predict requests by outcome: ``answered``, ``refused`` (429),
  ``draining`` (503), ``bad_request`` (4xx), ``error`` (5xx);
- ``refusals_total{reason}`` — admission refusals by reason code (:mod:`mmnet.server.duo`);
- ``frames_total{model}`` — frames answered, by the model whose answer was sent (``little``, ``big``);
- ``probe_decisions_total{reason}`` — the probe's decisions by reason code;
- ``recovery_rate`` — frames the probe sent to the big model / frames it judged, since start;
- ``request_latency_seconds`` — histogram of answered requests, from the request's arrival to its
  reply (p50/p95/p99 with ``histogram_quantile``);
- ``queue_depth{queue}`` — frames waiting: ``little``, ``recovery`` (the big model's), and
  ``in_system`` (admitted, not yet answered);
- ``batch_size{model}`` and ``service_seconds{model}`` — histograms of each worker pass: frames run
  and the pass's time (preprocessing, interpreter, probe);
- ``draining`` — 1 once SIGTERM started the drain.
"""

from __future__ import annotations

from mmnet.server import serve_extra_missing

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise serve_extra_missing(_e) from _e

__all__ = ["CONTENT_TYPE", "DuoMetrics", "LATENCY_BUCKETS_S", "BATCH_BUCKETS"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Fine at the low end (a little model answers in a few ms), up to the inference timeout.
LATENCY_BUCKETS_S = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2,
                     0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024)
OUTCOMES = ("answered", "refused", "draining", "bad_request", "error")


class DuoMetrics:
    """Counters, gauges and histograms of one Dynamic Duo app (module doc)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("mmnet_duo_requests", "Predict requests by outcome", ["outcome"], registry=r)
        for outcome in OUTCOMES:  # every outcome present from the start, at 0
            self.requests.labels(outcome)
        self.refusals = Counter("mmnet_duo_refusals", "Admission refusals by reason code", ["reason"], registry=r)
        self.frames = Counter("mmnet_duo_frames", "Frames answered, by the model whose answer was sent", ["model"],
                              registry=r)
        self.decisions = Counter("mmnet_duo_probe_decisions", "The probe's decisions by reason code", ["reason"],
                                 registry=r)
        self.recovery_rate = Gauge("mmnet_duo_recovery_rate", "Frames sent to the big model / frames the probe judged",
                                   registry=r)
        self.latency = Histogram("mmnet_duo_request_latency_seconds", "Answered predict requests, arrival to reply",
                                 buckets=LATENCY_BUCKETS_S, registry=r)
        self.queue_depth = Gauge("mmnet_duo_queue_depth", "Frames waiting (little, recovery) or admitted and not yet "
                                 "answered (in_system)", ["queue"], registry=r)
        self.batch_size = Histogram("mmnet_duo_batch_size", "Frames per worker pass", ["model"], buckets=BATCH_BUCKETS,
                                    registry=r)
        self.service = Histogram("mmnet_duo_service_seconds", "Time of one worker pass", ["model"],
                                 buckets=LATENCY_BUCKETS_S, registry=r)
        self.draining = Gauge("mmnet_duo_draining", "1 while draining for shutdown", registry=r)
        self._judged = 0
        self._recovered = 0
        self.queues(0, 0, 0)

    def judged(self, reasons: list[str], recovered: int) -> None:
        """The probe's decisions on one little batch, ``recovered`` of them sent to the big model."""
        for reason in reasons:
            self.decisions.labels(reason).inc()
        self._judged += len(reasons)
        self._recovered += recovered
        self.recovery_rate.set(self._recovered / self._judged if self._judged else 0.0)

    def queues(self, little: int, recovery: int, in_system: int) -> None:
        self.queue_depth.labels("little").set(little)
        self.queue_depth.labels("recovery").set(recovery)
        self.queue_depth.labels("in_system").set(in_system)

    def render(self) -> bytes:
        return generate_latest(self.registry)
