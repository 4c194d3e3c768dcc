"""Confidence calibration of the deployed minions: temperature scaling (Guo et al., ICML 2017).

The detector compares confidences with thresholds, so the confidences should mean what they say.
One temperature per minion artifact is fitted on val by minimising the negative log-likelihood of
the reference answers (the labels, or the master's answers in unlabeled mode); the expected
calibration error (ECE, equal-width bins) is recorded before and after, on val and on test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from mmnet.format.errors import DataError
from mmnet.runtime.detector import apply_temperature

__all__ = [
    "TEMPERATURE_RANGE",
    "Reliability",
    "MinionCalibration",
    "fit_temperature",
    "negative_log_likelihood",
    "expected_calibration_error",
    "reliability",
    "calibrate_minion",
]

TEMPERATURE_RANGE = (0.05, 20.0)


def _check(probabilities: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(reference)
    if p.ndim != 2 or y.shape != (p.shape[0],) or p.shape[0] == 0:
        raise DataError(f"calibration needs probabilities (N, classes) and N reference answers; got {p.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise DataError(f"reference answers range {y.min()}..{y.max()}; expected 0..{p.shape[1] - 1}")
    return p, y.astype(np.int64)


def negative_log_likelihood(probabilities: np.ndarray, reference: np.ndarray, temperature: float = 1.0) -> float:
    p, y = _check(probabilities, reference)
    scaled = apply_temperature(p, temperature)
    return float(-np.mean(np.log(np.clip(scaled[np.arange(len(y)), y], 1e-12, 1.0))))


def fit_temperature(probabilities: np.ndarray, reference: np.ndarray) -> float:
    """The temperature in :data:`TEMPERATURE_RANGE` with the lowest NLL (searched over log T)."""
    p, y = _check(probabilities, reference)
    low, high = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    result = minimize_scalar(lambda log_t: negative_log_likelihood(p, y, float(np.exp(log_t))),
                             bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    best = float(np.exp(result.x))
    # The optimiser can stop at a bound's neighbourhood; never return something worse than T = 1.
    return best if negative_log_likelihood(p, y, best) <= negative_log_likelihood(p, y, 1.0) else 1.0


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram: per equal-width confidence bin, accuracy, mean confidence and count."""

    bin_edges: tuple[float, ...]
    accuracy: tuple[float | None, ...]
    confidence: tuple[float | None, ...]
    count: tuple[int, ...]

    @property
    def ece(self) -> float:
        total = sum(self.count)
        return float(sum(n * abs(a - c) for a, c, n in zip(self.accuracy, self.confidence, self.count) if n) / total)

    def to_json(self) -> dict:
        return {"bin_edges": list(self.bin_edges), "accuracy": list(self.accuracy),
                "confidence": list(self.confidence), "count": list(self.count)}


def reliability(probabilities: np.ndarray, reference: np.ndarray, bins: int = 10) -> Reliability:
    p, y = _check(probabilities, reference)
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds confidences in (edges[i], edges[i+1]]; a confidence of exactly 0 joins the first.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    accuracy, mean_confidence, count = [], [], []
    for i in range(bins):
        members = index == i
        n = int(members.sum())
        count.append(n)
        accuracy.append(float(correct[members].mean()) if n else None)
        mean_confidence.append(float(confidence[members].mean()) if n else None)
    return Reliability(tuple(float(e) for e in edges), tuple(accuracy), tuple(mean_confidence), tuple(count))


def expected_calibration_error(probabilities: np.ndarray, reference: np.ndarray, bins: int = 10) -> float:
    return reliability(probabilities, reference, bins).ece


@dataclass(frozen=True)
class MinionCalibration:
    model_id: str
    temperature: float
    ece_before: float  # val
    ece_after: float
    test_ece_before: float
    test_ece_after: float
    reliability_before: Reliability  # val
    reliability_after: Reliability

    def summary(self) -> dict:
        return {"temperature": self.temperature, "ece_before": self.ece_before, "ece_after": self.ece_after,
                "test_ece_before": self.test_ece_before, "test_ece_after": self.test_ece_after}


def calibrate_minion(model_id: str, val_probabilities: np.ndarray, val_reference: np.ndarray,
                     test_probabilities: np.ndarray, test_reference: np.ndarray, bins: int = 10) -> MinionCalibration:
    """Fits the temperature on val and measures ECE before/after on val and test."""
    # Rounded before use, so the numbers recorded are those of the temperature the runtime applies.
    temperature = round(fit_temperature(val_probabilities, val_reference), 6)
    val_after = apply_temperature(val_probabilities, temperature)
    test_after = apply_temperature(test_probabilities, temperature)
    before = reliability(val_probabilities, val_reference, bins)
    after = reliability(val_after, val_reference, bins)
    return MinionCalibration(
        model_id=model_id,
        temperature=temperature,
        ece_before=before.ece,
        ece_after=after.ece,
        test_ece_before=expected_calibration_error(test_probabilities, test_reference, bins),
        test_ece_after=expected_calibration_error(test_after, test_reference, bins),
        reliability_before=before,
        reliability_after=after,
    )
