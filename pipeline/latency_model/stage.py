"""The build's latency-model stage: measure, fit, evaluate (:func:`build_latency_model`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mmnet.format.checks import fail
from mmnet.pipeline.latency_model.config import LatencyModelConfig
from mmnet.pipeline.latency_model.evaluation import evaluate_on_models
from mmnet.pipeline.latency_model.features import INVOKE_OP
from mmnet.pipeline.latency_model.regression import LatencyRegression
from mmnet.pipeline.latency_model.timings import measure_layer_timings

__all__ = ["build_latency_model"]

log = logging.getLogger(__name__)


def build_latency_model(
    config: LatencyModelConfig,
    work_dir: Path,
    held_out: list[tuple[str, str, float]],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Measures single-layer timings, fits the regression and evaluates it on ``held_out`` models.

    Returns ``{"regression", "evaluation", "layer_samples", "seconds", "config"}``;
    ``layer_samples`` counts the single-layer timings fitted (the overhead probes excluded).
    """
    if not config.enabled:
        raise fail("latency_model.enabled", config.enabled, "true to build the latency model")
    start = time.perf_counter()
    timings = measure_layer_timings(config, Path(work_dir), progress=progress)
    regression = LatencyRegression.fit(timings)
    evaluation = evaluate_on_models(regression, held_out)
    seconds = time.perf_counter() - start
    layer_samples = sum(t.features.op != INVOKE_OP for t in timings)
    log.info(
        "latency model: %d layer timings, held-out median APE %s%% over %d models, %.1f s",
        layer_samples, evaluation["median_ape_pct"], evaluation["count"], seconds,
    )
    return {
        "regression": regression.to_json(),
        "evaluation": evaluation,
        "layer_samples": layer_samples,
        "seconds": seconds,
        "config": {**asdict(config), "precisions": list(config.precisions)},
    }
