"""The SIEVE stage's natively executed models: ``accurate_native`` / ``approximate_native`` in
``sieve.models`` (:mod:`mmnet.pipeline.sieve.native`).

The native search runs on the master's float32 TFLite (converted as the export stage converts it) with
the val split. Each requested model becomes a minion of family ``sieve`` whose Keras model is the
master's own (the float model the parity gate compares it with) and whose ``sieve`` record holds its
per-layer assignment (``formats``: layer → native format, or ``"*"`` for the whole-model recipe); the
export stage converts the master again and quantises it with that assignment
(:func:`~mmnet.pipeline.sieve.native_litert.native_model`), so the gated file is what the search measured.

Artifacts on disk (``<work>/sieve/``): ``native_search.json`` and per model ``<variant>/trained.json``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmnet.pipeline.config import SieveConfig
from mmnet.pipeline.sieve.native import NATIVE_SIEVE_MODELS, WEIGHT_BITS, WHOLE_MODEL, run_native_search
from mmnet.pipeline.train import TrainedModel

__all__ = ["build_native_models", "native_activation_bits"]

log = logging.getLogger(__name__)


def native_activation_bits(assignment: dict[str, str]) -> float:
    """Stored bits per activation between ops: 8 when the whole model runs static int8, else 32
    (dynamic and per-layer int8 quantise a layer's input inside the op or beside it, from float32)."""
    return 8.0 if assignment.get(WHOLE_MODEL) == "int8_static" else 32.0


def build_native_models(master: TrainedModel, keras_model, x_val: np.ndarray, y_val: np.ndarray, config: SieveConfig,
                        out_dir: Path, family: str, search_val_frames: np.ndarray | None) -> list[TrainedModel]:
    """Runs the native search on ``master`` when ``config.models`` names native models; one minion per model.
    ``x_val``/``y_val`` are the val frames the search uses: ``search_val_frames`` of the whole split (None: all)."""
    from mmnet.pipeline.export import convert_keras_model
    from mmnet.pipeline.sieve.native_litert import LiteRTNativeEvaluator

    names = [name for name in config.models if name in NATIVE_SIEVE_MODELS]
    if not names:
        return []
    started = time.monotonic()
    evaluator = LiteRTNativeEvaluator(convert_keras_model(keras_model, "float32"), x_val, y_val,
                                      workdir=out_dir / "native-search", passes=config.native.latency_passes,
                                      runs=config.native.latency_runs)
    result = run_native_search(evaluator, config.native)
    document = {**result.to_json(), "master": master.variant, "setup_seconds": round(time.monotonic() - started
                                                                                      - result.search_seconds, 3)}
    (out_dir / "native_search.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    log.info("SIEVE native search on %s: %d evaluations in %.1f s", master.variant, result.evaluations,
             result.search_seconds)
    made = []
    for name in names:
        model = result.models[name.removesuffix("_native")]
        variant = f"{master.variant}-sieve-{name}"
        ratios = model.latency_ratios[model.chosen]
        sieve = {
            "model": name, "master_variant": master.variant, "formats": dict(model.assignment),
            "avg_bits_per_weight": round(model.weight_bits, 4),
            "avg_bits_per_activation": native_activation_bits(model.assignment),
            "search_val_accuracy": model.accuracy, "baseline_val_accuracy": result.baseline_accuracy,
            "normalized_val_accuracy": model.normalized, "target": model.target, "repair_stop": model.repair_stop,
            "native": {"chosen": model.chosen, "latency_ratio": float(np.median(ratios)),
                       "latency_ratio_range": [min(ratios), max(ratios)], "reason": model.choice_reason,
                       "weight_bits": {fmt: WEIGHT_BITS[fmt] for fmt in sorted(set(model.assignment.values()))}},
        }
        if search_val_frames is not None:
            sieve["search_val_frames"] = [int(i) for i in search_val_frames]
        # the master's own Keras model: the parity gate compares the quantised file with the float model
        trained = replace(master, variant=variant, role="minion", family=family, epochs_run=0,
                          duration_s=round(time.monotonic() - started, 1), distilled=False, compression=None, sieve=sieve)
        directory = out_dir / variant
        directory.mkdir(parents=True, exist_ok=True)
        trained.write(directory)
        made.append(trained)
    return made
