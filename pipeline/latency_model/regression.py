"""The regression: per (TFLite op, precision) a linear latency model, plus the per-invoke overhead.

:meth:`LatencyRegression.fit` fits each group by non-negative least squares (scipy) on relative
errors; prediction and the JSON form (:meth:`LatencyRegression.to_json`) need neither scipy nor
scikit-learn.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.checks import check_choice, check_int, check_number, fail
from mmnet.format.errors import ModelError
from mmnet.pipeline.latency_model.config import LATENCY_PRECISIONS
from mmnet.pipeline.latency_model.features import FEATURE_NAMES, INVOKE_OP, LayerFeatures, tflite_layer_features
from mmnet.pipeline.latency_model.timings import LayerTiming

__all__ = ["LatencyRegression"]

log = logging.getLogger(__name__)

_REGRESSION_FORMAT = "mmnet.latency_regression/1"
# The keys of one group in the JSON form.
_GROUP_KEYS = frozenset({"op", "precision", "intercept_ms", "coefficients_ms", "samples"})

# Relative errors are fitted (a model is a sum of many small layers); targets below this floor
# (noise around a sub-microsecond layer) are weighted as if they were this large.
_WEIGHT_FLOOR_MS = 2e-4
_ELEMENTWISE = "*ELEMENTWISE"  # pooled fallback group: every op without MACs of a precision


@dataclass(frozen=True)
class _Linear:
    """``max(0, intercept + sum(coefficient * feature))`` in milliseconds."""

    intercept_ms: float
    coefficients: tuple[float, ...]  # ms per unit of each FEATURE_NAMES entry
    samples: int

    def __post_init__(self) -> None:
        check_number("intercept_ms", self.intercept_ms, low=None, error=ModelError)
        if not isinstance(self.coefficients, tuple) or len(self.coefficients) != len(FEATURE_NAMES):
            raise fail("coefficients", self.coefficients, f"one number per feature of {list(FEATURE_NAMES)}", ModelError)
        for name, value in zip(FEATURE_NAMES, self.coefficients):
            check_number(f"coefficients_ms.{name}", value, low=None, error=ModelError)
        check_int("samples", self.samples, low=1, error=ModelError)

    def predict(self, vector: list[float]) -> float:
        return max(0.0, self.intercept_ms + sum(c * x for c, x in zip(self.coefficients, vector)))

    def to_json(self) -> dict[str, Any]:
        return {
            "intercept_ms": self.intercept_ms,
            "coefficients_ms": dict(zip(FEATURE_NAMES, self.coefficients)),
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> _Linear:
        """The regression of a group of :meth:`LatencyRegression.to_json` (its keys checked by the caller)."""
        coefficients = doc["coefficients_ms"]
        if not isinstance(coefficients, dict) or set(coefficients) != set(FEATURE_NAMES):
            raise fail("coefficients_ms", coefficients, f"an object with the keys {list(FEATURE_NAMES)}", ModelError)
        return cls(doc["intercept_ms"], tuple(coefficients[n] for n in FEATURE_NAMES), doc["samples"])


def _fit_linear(timings: list[LayerTiming]) -> _Linear:
    """Non-negative least squares on relative errors: every cost term is a cost, never a saving,
    so predictions stay positive and grow with size even outside the sampled grid."""
    from scipy.optimize import nnls  # the pipeline extra's scipy; prediction does not need it

    x = np.array([t.features.vector() for t in timings], dtype=np.float64)
    y = np.array([t.median_ms for t in timings], dtype=np.float64)
    # Columns scaled to [0, 1] for conditioning; all-zero columns (no MACs) stay zero.
    scale = np.where(x.max(axis=0) > 0, x.max(axis=0), 1.0)
    design = np.column_stack([np.ones(len(y)), x / scale])
    weight = 1.0 / np.maximum(y, _WEIGHT_FLOOR_MS)
    solution, _ = nnls(design * weight[:, None], y * weight)
    return _Linear(float(solution[0]), tuple(float(v) for v in solution[1:] / scale), len(y))


class LatencyRegression:
    """Per-(op, precision) linear latency regressions plus the per-invoke overhead, in ms.

    Prediction needs no sklearn or scipy: :meth:`to_json` stores intercepts and coefficients.
    """

    def __init__(self, groups: dict[tuple[str, str], _Linear], overhead_ms: dict[str, float]) -> None:
        if not groups:
            raise ModelError("latency regression has no fitted layer groups; expected at least one")
        missing = sorted({p for _, p in groups} - set(overhead_ms))
        if missing:
            raise ModelError(
                f"latency regression has no invoke overhead for {', '.join(missing)}; "
                "expected one per precision of its groups"
            )
        self._groups = dict(groups)
        self._overhead_ms = dict(overhead_ms)
        self._fallbacks_logged: set[tuple[str, str, str]] = set()

    @property
    def groups(self) -> tuple[tuple[str, str], ...]:
        """(op, precision) of every fitted regression, the pooled element-wise fallbacks included."""
        return tuple(sorted(self._groups))

    @property
    def overhead_ms(self) -> dict[str, float]:
        return dict(self._overhead_ms)

    @classmethod
    def fit(cls, timings: list[LayerTiming]) -> LatencyRegression:
        """One regression per (op, precision) of ``timings``, one pooled element-wise regression per
        precision (the fallback for ops never timed), and the per-invoke overhead per precision
        (median of its :data:`INVOKE_OP` timings; 0 with a warning when there are none)."""
        by_group: dict[tuple[str, str], list[LayerTiming]] = {}
        overheads: dict[str, list[float]] = {}
        for timing in timings:
            f = timing.features
            if f.op == INVOKE_OP:
                overheads.setdefault(f.precision, []).append(timing.median_ms)
                continue
            by_group.setdefault((f.op, f.precision), []).append(timing)
            if f.macs == 0:
                by_group.setdefault((_ELEMENTWISE, f.precision), []).append(timing)
        groups = {group: _fit_linear(members) for group, members in by_group.items()}
        overhead_ms = {p: max(0.0, statistics.median(v)) for p, v in overheads.items()}
        for precision in sorted({p for _, p in groups} - set(overhead_ms)):
            log.warning("no %s timings of the invoke overhead; predicting %s models without it", INVOKE_OP, precision)
            overhead_ms[precision] = 0.0
        return cls(groups, overhead_ms)

    def _regression_for(self, features: LayerFeatures) -> _Linear:
        """The op's own regression, else the op at another precision, else the pooled element-wise one."""
        others = [p for p in LATENCY_PRECISIONS if p != features.precision]
        candidates = [(features.op, features.precision), *((features.op, p) for p in others)]
        candidates += [(_ELEMENTWISE, features.precision), *((_ELEMENTWISE, p) for p in others)]
        for group in candidates:
            if group in self._groups:
                if group != candidates[0]:
                    self._log_fallback(features, group)
                return self._groups[group]
        raise ModelError(
            f"no latency regression for {features.op} ({features.precision}); fitted groups: "
            f"{', '.join(f'{op}/{p}' for op, p in self.groups)}"
        )

    def _log_fallback(self, features: LayerFeatures, group: tuple[str, str]) -> None:
        key = (features.op, features.precision, "/".join(group))
        if key not in self._fallbacks_logged:
            self._fallbacks_logged.add(key)
            log.info(
                "latency of %s (%s) predicted with the %s/%s regression (never timed)", features.op, features.precision, *group
            )

    def predict_layer(self, features: LayerFeatures) -> float:
        """Milliseconds one op adds to an invoke (>= 0); 0 for ops evaluated once at load."""
        if features.constant:
            return 0.0
        return self._regression_for(features).predict(features.vector())

    def predict_model(self, path: str | Path) -> float:
        """Milliseconds of one invoke of the .tflite model at ``path``: its ops plus the overhead of
        the precision most of its ops run in."""
        layers = tflite_layer_features(path)
        running = [f.precision for f in layers if not f.constant]
        if not running:
            raise ModelError(f"{path}: no ops that run per invoke; expected a model with at least one")
        precision = max(LATENCY_PRECISIONS, key=running.count)
        return self._overhead_for(precision) + sum(self.predict_layer(f) for f in layers)

    def _overhead_for(self, precision: str) -> float:
        if precision in self._overhead_ms:
            return self._overhead_ms[precision]
        # Only when no layer of this precision was timed: its layers fall back too (logged).
        other = max(self._overhead_ms, key=self._overhead_ms.__getitem__)
        if (INVOKE_OP, precision, other) not in self._fallbacks_logged:
            self._fallbacks_logged.add((INVOKE_OP, precision, other))
            log.info("invoke overhead of %s models taken from %s (never timed)", precision, other)
        return self._overhead_ms[other]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _REGRESSION_FORMAT,
            "features": list(FEATURE_NAMES),
            "overhead_ms": dict(sorted(self._overhead_ms.items())),
            "groups": [
                {"op": op, "precision": precision, **self._groups[(op, precision)].to_json()}
                for op, precision in self.groups
            ],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LatencyRegression:
        """The regression :meth:`to_json` wrote; :class:`ModelError` naming the first bad field."""
        where = "latency regression"
        if not isinstance(doc, dict):
            raise fail(where, doc, "an object", ModelError)
        if doc.get("format") != _REGRESSION_FORMAT:
            raise fail(f"{where}: format", doc.get("format"), repr(_REGRESSION_FORMAT), ModelError)
        if doc.get("features") != list(FEATURE_NAMES):
            raise fail(f"{where}: features", doc.get("features"), repr(list(FEATURE_NAMES)), ModelError)
        groups = {}
        for i, group in enumerate(doc.get("groups", [])):
            at = f"{where}: groups[{i}]"
            if not isinstance(group, dict) or not _GROUP_KEYS <= set(group):
                raise fail(at, group, f"an object with the keys {sorted(_GROUP_KEYS)}", ModelError)
            check_choice(f"{at}: precision", group["precision"], LATENCY_PRECISIONS, error=ModelError)
            try:
                groups[(group["op"], group["precision"])] = _Linear.from_json(group)
            except ModelError as e:
                raise ModelError(f"{at}: {e}") from e
        overhead = doc.get("overhead_ms")
        if not isinstance(overhead, dict):
            raise fail(f"{where}: overhead_ms", overhead, "an object {precision: ms >= 0}", ModelError)
        for precision, value in overhead.items():
            check_choice(f"{where}: overhead_ms key", precision, LATENCY_PRECISIONS, error=ModelError)
            check_number(f"{where}: overhead_ms.{precision}", value, error=ModelError)
        return cls(groups, {p: float(v) for p, v in overhead.items()})
