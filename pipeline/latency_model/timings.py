"""Measuring: single-layer models timed, the invoke overhead subtracted, the rest attributed to the layer.

:func:`measure_layer_timings` returns :class:`LayerTiming` records, the regression's training
data, and caches them in ``work_dir/timings.json`` (reused only for the same config, interpreter
backend and host).
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.checks import check_number
from mmnet.format.errors import ModelError
from mmnet.pipeline.latency_model.config import LatencyModelConfig
from mmnet.pipeline.latency_model.features import LayerFeatures, invoke_features, tflite_layer_features
from mmnet.pipeline.latency_model.probes import OVERHEAD_CHAINS, build_chain, build_layer, convert, layer_specs
from mmnet.pipeline.latency_model.timer import Timer
from mmnet.runtime.interpreter import interpreter_backend

__all__ = ["LayerTiming", "measure_layer_timings"]

log = logging.getLogger(__name__)

_TIMINGS_FORMAT = "mmnet.layer_timings/2"


@dataclass(frozen=True)
class LayerTiming:
    """Time attributed to one layer: its single-layer model's median invoke minus the overhead.

    For ``features.op == INVOKE_OP`` it is the per-invoke overhead of ``features.precision``.
    ``median_ms`` may be slightly negative: a layer that costs less than the noise of the overhead.
    """

    features: LayerFeatures
    median_ms: float

    def __post_init__(self) -> None:
        check_number(f"layer timing of {self.features.op} ({self.features.precision})", self.median_ms, low=None,
                     error=ModelError)

    def to_json(self) -> dict[str, Any]:
        return {"features": asdict(self.features), "median_ms": self.median_ms}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LayerTiming:
        return cls(LayerFeatures(**doc["features"]), float(doc["median_ms"]))


class _OverheadProbe:
    """The overhead chains of one precision, timed in rounds interleaved with the layer timings, so
    the overhead subtracted is measured under the same (drifting) load as the layers."""

    def __init__(self, precision: str, layers_dir: Path, rng: np.random.Generator) -> None:
        self.precision = precision
        self._timers = [
            Timer(convert(build_chain(n, rng), precision, rng, layers_dir / f"overhead-{n}-{precision}.tflite"), rng)
            for n in OVERHEAD_CHAINS
        ]
        self._rounds: list[list[float]] = []

    def time_round(self, config: LatencyModelConfig) -> None:
        self._rounds.append([timer.median_ms(config.warmup, config.runs) for timer in self._timers])

    def overhead_ms(self) -> float:
        """The intercept of the line through the chains' (length, median over rounds)."""
        per_op, overhead = np.polyfit(OVERHEAD_CHAINS, np.median(self._rounds, axis=0), 1)
        log.info("%s invoke overhead %.5f ms (one tiny op %.5f ms)", self.precision, overhead, per_op)
        return max(0.0, float(overhead))


def _cache_key(config: LatencyModelConfig) -> dict[str, Any]:
    fields = asdict(config)
    fields.pop("enabled")
    # Timings belong to one machine and interpreter: a work dir copied elsewhere is re-measured.
    return {
        "format": _TIMINGS_FORMAT,
        "config": {**fields, "precisions": list(config.precisions)},
        "backend": interpreter_backend(),
        "host": platform.node(),
    }


def _cached_timings(cache: Path, key: dict[str, Any]) -> list[LayerTiming] | None:
    """The timings cached in ``cache`` under ``key``; None when there are none to reuse."""
    if not cache.is_file():
        return None
    try:
        doc = json.loads(cache.read_text(encoding="utf-8"))
        if doc["key"] != key:
            log.info("%s was measured with another config or on another host; re-measuring", cache)
            return None
        timings = [LayerTiming.from_json(t) for t in doc["timings"]]
    except (ValueError, KeyError, TypeError) as e:
        log.warning("%s is not a layer timings cache (%s: %s); re-measuring", cache, type(e).__name__, e)
        return None
    log.info("reusing %d layer timings from %s", len(timings), cache)
    return timings


def measure_layer_timings(
    config: LatencyModelConfig, work_dir: Path, *, progress: Callable[[int, int], None] | None = None
) -> list[LayerTiming]:
    """Times single-layer models and attributes each time, minus the invoke overhead, to its layer.

    Returns one :data:`~.features.INVOKE_OP` timing per precision (the overhead) and one timing per
    single-layer model and precision. A converted model whose op list is not exactly one
    non-constant op is left out with a warning (its time could not be attributed). ``progress``
    is called with (models timed, models to time). Timings are cached in ``work_dir/timings.json``.
    """
    work_dir = Path(work_dir)
    cache = work_dir / "timings.json"
    key = _cache_key(config)
    cached = _cached_timings(cache, key)
    if cached is not None:
        return cached

    layers_dir = work_dir / "layers"
    layers_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    specs = layer_specs(config.samples_per_type, rng)
    total = len(specs) * len(config.precisions)
    probes = [_OverheadProbe(p, layers_dir, rng) for p in config.precisions]
    measured: list[tuple[LayerFeatures, str, float]] = []
    done = skipped = 0
    counters: dict[str, int] = {}
    for spec in specs:
        index = counters[spec.kind] = counters.get(spec.kind, -1) + 1
        model = build_layer(spec, rng)
        for precision in config.precisions:
            path = convert(model, precision, rng, layers_dir / f"{spec.kind}-{index}-{precision}.tflite")
            layers = [f for f in tflite_layer_features(path) if not f.constant]
            median = Timer(path, rng).median_ms(config.warmup, config.runs)
            done += 1
            if progress is not None:
                progress(done, total)
            if len(layers) == 1:
                measured.append((layers[0], precision, median))
            else:
                skipped += 1
                log.warning("%s: %d ops (%s), expected one; not used", path.name, len(layers), ", ".join(f.op for f in layers))
        for probe in probes:
            probe.time_round(config)
    overhead = {probe.precision: probe.overhead_ms() for probe in probes}
    timings = [LayerTiming(invoke_features(p), overhead[p]) for p in config.precisions]
    timings += [LayerTiming(features, median - overhead[precision]) for features, precision, median in measured]
    if skipped:
        log.warning("%d of %d single-layer models were not used", skipped, total)
    tmp = cache.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"key": key, "timings": [t.to_json() for t in timings]}, indent=1), encoding="utf-8")
    tmp.replace(cache)  # atomic: a crash never leaves a half cache that looks complete
    return timings
