"""The regression judged on whole models: predicted against measured latency (:func:`evaluate_on_models`)."""

from __future__ import annotations

import statistics
from typing import Any, Protocol

from mmnet.format.checks import check_number
from mmnet.format.errors import ModelError

__all__ = ["evaluate_on_models"]


class _Predictor(Protocol):
    def predict_model(self, path: str) -> float: ...


def evaluate_on_models(regression: _Predictor, models: list[tuple[str, str, float]]) -> dict[str, Any]:
    """Predicted against measured latency of whole models (never used in fitting).

    ``models`` holds (model id, .tflite path, measured median ms). ``error_pct`` is signed
    (positive: predicted too slow); the summary statistics are over its absolute value and are
    None when ``models`` is empty.
    """
    rows = []
    for model_id, path, measured in models:
        measured_ms = check_number(f"{model_id}: measured latency (ms)", measured, positive=True, error=ModelError)
        predicted = regression.predict_model(path)
        rows.append(
            {
                "model": model_id,
                "measured_ms": measured_ms,
                "predicted_ms": predicted,
                "error_pct": 100.0 * (predicted - measured_ms) / measured_ms,
            }
        )
    errors = [abs(r["error_pct"]) for r in rows]
    return {
        "models": rows,
        "mape_pct": statistics.fmean(errors) if errors else None,
        "median_ape_pct": statistics.median(errors) if errors else None,
        "max_ape_pct": max(errors) if errors else None,
        "count": len(rows),
    }
