"""Latency stage: host latency of every artifact, measured one after another on a quiet machine.

Training saturates every core while it runs, so latency is measured in this single serial stage
after all training and evaluation have finished: median (and p90, mean, min) of
``export.latency_runs`` invokes after ``export.latency_warmup`` warm-up invokes, 1 thread, XNNPACK
(builtin kernels, recorded as ``xnnpack: false``, for an artifact XNNPACK cannot run).
"""

from __future__ import annotations

import numpy as np

from mmnet.pipeline.config import ExportConfig
from mmnet.runtime.interpreter import TFLiteClassifier, measure_latency

__all__ = ["measure_host_latency"]


def measure_host_latency(evaluated: list[dict], export: ExportConfig) -> list[dict]:
    """Fills ``host_latency_ms`` of each ``{"record", "artifact_path"}`` element's record."""
    measured = []
    for item in sorted(evaluated, key=lambda e: e["record"]["id"]):
        xnnpack = item["record"]["metrics"].get("xnnpack", True)  # False: XNNPACK cannot run it
        classifier = TFLiteClassifier(item["artifact_path"], num_threads=1, use_xnnpack=xnnpack)
        # Latency does not depend on pixel values; a fixed-seed input keeps runs comparable.
        sample = np.random.default_rng(0).standard_normal((1, *classifier.input_shape)).astype(np.float32)
        stats = measure_latency(classifier, sample, warmup=export.latency_warmup, runs=export.latency_runs)
        measured.append({**item, "record": {**item["record"], "host_latency_ms": stats.to_json()}})
    return measured
