"""The parts of ``mmnet bench`` beside the systems: precisions, the runtime's overhead, Beam fan-out.

- :func:`compare_precisions`: every model variant at float32 / float16 / int8, timed side by side
  in one run (round robin, so drift of a shared host hits every precision alike); size and accuracy
  from the manifest, which records every exported artifact, rejected ones included (those have no
  file, so no latency).
- :func:`measure_overhead`: :func:`mmnet.benchmarks.runtime_overhead.measure_overhead`.
- :func:`measure_fanout`: the build pipeline on a tiny grid with 1 and with 2 Beam workers
  (DirectRunner: in-memory vs 2 worker processes).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from mmnet.format.bundle import PRECISIONS, Bundle
from mmnet.runtime.interpreter import TFLiteClassifier, measure_latency
from mmnet.runtime.preprocessing import preprocess

__all__ = ["FANOUT_CONFIG", "compare_precisions", "measure_overhead", "measure_fanout"]

# Small enough that both builds take about 1.5 min on 2 cores; 5 variants, 2 precisions each.
FANOUT_CONFIG = {
    "name": "fanout",
    "dataset": {"source": "builtin:digits"},
    "master": {"family": "resnet", "alpha": 0.25, "resolution": 8},
    "minions": {"families": ["mobilenet_v1", "mobilenet_v2"], "alphas": [0.25], "resolutions": [8, 12]},
    "training": {"epochs": 2, "master_epochs": 2},
    "export": {"precisions": ["float32", "int8"], "representative_samples": 50},
    "runtime": {"latency_model": False},
}


def compare_precisions(bundle: Bundle, *, rounds: int = 10, runs: int = 30) -> list[dict[str, Any]]:
    """One row per model: variant, role, precision, bytes, manifest accuracies, latency here (ms).

    Latency is the median over ``rounds`` of each round's median of ``runs`` invokes; a round times
    every shipped model once, in turn.
    """
    frames, _ = bundle.load_split("test")
    shipped = [m for m in bundle.models if m.shipped]
    classifiers = {m.id: TFLiteClassifier(bundle.model_path(m.id), num_threads=1, use_xnnpack=m.metrics.get("xnnpack", True))
                   for m in shipped}
    inputs = {m.id: preprocess(frames[:1], bundle.preprocessing, m.resolution) for m in shipped}
    medians: dict[str, list[float]] = {m.id: [] for m in shipped}
    for r in range(rounds):
        for m in shipped:
            stats = measure_latency(classifiers[m.id], inputs[m.id], warmup=5 if r == 0 else 1, runs=runs)
            medians[m.id].append(stats.median_ms)
    order = {p: i for i, p in enumerate(PRECISIONS)}
    rows = []
    for m in sorted(bundle.models, key=lambda m: (m.role != "master", m.variant, order[m.precision])):
        rows.append({
            "variant": m.variant, "role": m.role, "precision": m.precision, "id": m.id,
            "shipped": m.shipped, "blessed": m.blessed, "bytes": m.bytes,
            "test_accuracy": m.test_accuracy, "val_accuracy": m.val_accuracy,
            "latency_ms": statistics.median(medians[m.id]) if m.shipped else None,
            "note": None if m.shipped else f"not shipped: {m.reason}",
        })
    return rows


def measure_overhead(bundle: Bundle, *, repeats: int = 3) -> dict[str, Any]:
    """The runtime's per-frame decision overhead (benchmarks/runtime_overhead.py), ``repeats`` passes over test."""
    from mmnet.benchmarks.runtime_overhead import measure_overhead as overhead

    return overhead(bundle.path, repeats=repeats)


def measure_fanout(workers: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """``run_build`` of :data:`FANOUT_CONFIG` once per worker count, in a temporary directory."""
    from mmnet.pipeline.build import run_build
    from mmnet.pipeline.config import config_from_mapping

    builds = []
    with tempfile.TemporaryDirectory(prefix="mmnet-bench-fanout-") as tmp:
        for count in workers:
            config = config_from_mapping({**FANOUT_CONFIG, "beam": {"num_workers": count}})
            result = run_build(config, Path(tmp) / f"workers-{count}", progress=False)
            builds.append({
                "workers": count,
                "wall_s": result.duration_s,
                "stage_seconds": {k: round(v, 2) for k, v in sorted(result.stage_seconds.items())},
                "counters": dict(sorted(result.counters.items())),
                "failures": len(result.failures),
            })
    base = builds[0]["wall_s"]
    for build in builds:
        build["speedup"] = base / build["wall_s"] if build["wall_s"] > 0 else None
    return {"config": FANOUT_CONFIG, "builds": builds}
