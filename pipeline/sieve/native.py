"""SIEVE's per-layer search over the formats LiteRT executes natively (§4.4.1's logic), TF-free.

The custom-float search (:mod:`mmnet.pipeline.sieve.search`) makes the speculative model smaller, but
a phone CPU runs its formats as float32 plus rounding ops, so it is slower than the master. This search
chooses, per weighted layer (a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED op of the float TFLite),
among formats LiteRT runs as they are stored (:data:`NATIVE_FORMATS`), so the model it picks is
measured, not assumed, faster:

1. **Costs**: every format applied to the whole model (the quantiser's whole-model recipe) is timed
   side by side with float32; a format's cost is its latency over float32's in the same pass (the
   median of the passes). Its val accuracy is measured too: the *uniform* models.
2. **Sweep**: per layer, with only that layer reduced, the formats in :data:`NATIVE_FORMATS` order (the
   mildest first); a format is skipped when the one it reduces further (:data:`REDUCES`) fell below
   ``stop_accuracy`` normalised val accuracy, as §4.4.1's mantissa sweep stops.
3. **Picks**: for each model (accurate: ``>= accurate_target`` of the baseline, approximate:
   ``>= approximate_target``) each layer takes, of float32 and its trials at the target, the fastest
   format, fewer weight bits deciding among formats within ``latency_tolerance`` of the fastest
   (:func:`pick_format`).
4. **Combination and repair**: the picks are evaluated together; when they miss the target, each
   reduced layer's gain when put back to float32 alone is measured and the layers that gain are put
   back in the order of their gains until the target holds; when none gains alone, or the budget
   (``repair_evaluations``) is spent, the model is rebuilt from float32 putting in the picks by weight
   count, each kept when the target holds, so the combination keeps its target (:func:`_repair`).
5. **Choice**: the combination, the uniform models at the target and float32 are timed side by side;
   the model is the fastest of them, fewer weight bits deciding within ``latency_tolerance``
   (:func:`choose_model`), so when a whole-model format is simply best the search says so.

The model is behind :class:`NativeEvaluator` (layers; val accuracy and side-by-side latency of
per-layer assignments); ``mmnet.pipeline.sieve.native_litert`` implements it with ai-edge-quantizer
and the LiteRT interpreter, the unit tests with fakes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mmnet.format.checks import check_int, check_number, fail
from mmnet.format.errors import ConfigError

__all__ = [
    "FLOAT32",
    "NATIVE_FORMATS",
    "REDUCES",
    "WEIGHT_BITS",
    "NATIVE_MODEL_NAMES",
    "NATIVE_SIEVE_MODELS",
    "WHOLE_MODEL",
    "NativeSearchConfig",
    "WeightedLayer",
    "NativeEvaluator",
    "NativeTrial",
    "LayerSweep",
    "NativeModel",
    "NativeSearchResult",
    "sweep_layer",
    "pick_format",
    "choose_model",
    "average_weight_bits",
    "run_native_search",
]

FLOAT32 = "float32"
# The mildest reduction first: the sweep's order.
NATIVE_FORMATS = ("float16", "int8_weight_only", "int8_dynamic", "int8_static", "int4_weight_only")
# The format each one reduces further: when that fell below the floor, this one is not tried.
REDUCES: dict[str, str | None] = {
    "float16": None,
    "int8_weight_only": "float16",
    "int8_dynamic": "int8_weight_only",  # its activations quantised per invoke as well
    "int8_static": "int8_dynamic",  # activations in fixed, calibrated ranges
    "int4_weight_only": "int8_weight_only",
}
WEIGHT_BITS = {FLOAT32: 32, "float16": 16, "int8_weight_only": 8, "int8_dynamic": 8, "int8_static": 8,
               "int4_weight_only": 4}
NATIVE_MODEL_NAMES = ("accurate", "approximate")
NATIVE_SIEVE_MODELS = tuple(f"{name}_native" for name in NATIVE_MODEL_NAMES)  # their names in sieve.models
WHOLE_MODEL = "*"  # an assignment's key for "every layer", so a uniform model is its whole-model recipe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NativeSearchConfig:
    """The native search's thresholds (§4.4.1's floor and targets) and its measurement's size."""

    formats: tuple[str, ...] = NATIVE_FORMATS
    stop_accuracy: float = 0.998  # normalised val accuracy below which a layer's sweep stops
    accurate_target: float = 1.0
    approximate_target: float = 0.999
    # Formats whose latency is within this share of the fastest count as equally fast (timing noise on
    # a shared host); fewer weight bits decide among them.
    latency_tolerance: float = 0.02
    repair_evaluations: int = 60
    latency_passes: int = 5  # side-by-side passes of every timed model
    latency_runs: int = 100  # invokes per model per pass (the pass's median)

    def __post_init__(self) -> None:
        if not isinstance(self.formats, tuple) or not self.formats:
            raise fail("sieve.native.formats", self.formats, f"a non-empty list of {list(NATIVE_FORMATS)}")
        unknown = [f for f in self.formats if f not in NATIVE_FORMATS]
        if unknown or len(set(self.formats)) != len(self.formats):
            raise fail("sieve.native.formats", list(self.formats), f"distinct names from {list(NATIVE_FORMATS)}")
        for name in ("stop_accuracy", "accurate_target", "approximate_target"):
            check_number(f"sieve.native.{name}", getattr(self, name), low=0.0, high=2.0, low_open=True)
        check_number("sieve.native.latency_tolerance", self.latency_tolerance, low=0.0, high=1.0)
        check_int("sieve.native.repair_evaluations", self.repair_evaluations, low=0)
        check_int("sieve.native.latency_passes", self.latency_passes, low=1)
        check_int("sieve.native.latency_runs", self.latency_runs, low=1)

    def target(self, model: str) -> float:
        return {"accurate": self.accurate_target, "approximate": self.approximate_target}[model]

    def to_json(self) -> dict[str, Any]:
        return {key: list(v) if isinstance(v := getattr(self, key), tuple) else v for key in self.__dataclass_fields__}


@dataclass(frozen=True)
class WeightedLayer:
    """A weighted op of the float model: ``name`` (its layer), the TFLite ``op`` and its weight count."""

    name: str
    op: str
    weights: int

    def __post_init__(self) -> None:
        check_int(f"layer {self.name!r} weights", self.weights, low=1)


class NativeEvaluator(Protocol):
    """A float model on its validation set, whose weighted layers can be put in native formats.

    An assignment maps layer names (or :data:`WHOLE_MODEL`) to a format; unnamed layers stay float32.
    """

    layers: tuple[WeightedLayer, ...]

    def accuracy(self, assignment: Mapping[str, str]) -> float:
        """Val accuracy of the model with ``assignment``."""
        ...

    def latency_ratios(self, assignments: Mapping[str, Mapping[str, str]]) -> dict[str, list[float]]:
        """Per named assignment, its invoke latency over float32's, one ratio per side-by-side pass."""
        ...


@dataclass(frozen=True)
class NativeTrial:
    format: str
    accuracy: float
    normalized: float

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "accuracy": self.accuracy, "normalized": self.normalized}


@dataclass(frozen=True)
class LayerSweep:
    layer: WeightedLayer
    trials: tuple[NativeTrial, ...]
    skipped: tuple[str, ...]  # why formats were not tried

    def to_json(self) -> dict[str, Any]:
        return {"name": self.layer.name, "op": self.layer.op, "weights": self.layer.weights,
                "trials": [t.to_json() for t in self.trials], "skipped": list(self.skipped)}


def sweep_layer(layer: WeightedLayer, accuracy_with: Any, baseline: float, config: NativeSearchConfig) -> LayerSweep:
    """One layer's sweep; ``accuracy_with(fmt)`` is val accuracy with only this layer in ``fmt``."""
    trials: list[NativeTrial] = []
    below: set[str] = set()
    skipped: list[str] = []
    for fmt in config.formats:
        reduced = REDUCES[fmt]
        if reduced in below:
            skipped.append(f"{fmt}: {reduced} fell below {config.stop_accuracy}")
            below.add(fmt)
            continue
        accuracy = accuracy_with(fmt)
        trials.append(NativeTrial(fmt, accuracy, accuracy / baseline))
        if accuracy / baseline < config.stop_accuracy:
            below.add(fmt)
    return LayerSweep(layer, tuple(trials), tuple(skipped))


def _fastest(candidates: Mapping[str, float], tolerance: float) -> str:
    """Of ``{name: latency ratio}``, the fastest, the fewest weight bits of those within ``tolerance``."""
    fastest = min(candidates.values())
    close = [k for k, v in candidates.items() if v <= fastest * (1 + tolerance)]
    return min(close, key=lambda k: (_bits_of(k), candidates[k], k))


def _bits_of(name: str) -> float:
    return WEIGHT_BITS.get(name, 0.0)


def pick_format(sweep: LayerSweep, target: float, costs: Mapping[str, float], tolerance: float) -> tuple[str, str]:
    """The format a layer takes in the model with ``target``, and why: of float32 and the trials at the
    target, the fastest by ``costs`` (latency over float32's), fewer weight bits deciding within ``tolerance``."""
    meeting = {t.format: costs[t.format] for t in sweep.trials if t.normalized >= target and t.format in costs}
    if not meeting:
        return FLOAT32, f"no format kept {target} alone"
    chosen = _fastest({FLOAT32: 1.0, **meeting}, tolerance)
    if chosen == FLOAT32:
        return FLOAT32, f"no format at >= {target} is faster than float32 ({', '.join(sorted(meeting))} kept it)"
    return chosen, f"fastest at >= {target} (cost {costs[chosen]:.2f}, {_bits_of(chosen):g} bits)"


def average_weight_bits(layers: tuple[WeightedLayer, ...], assignment: Mapping[str, str]) -> float:
    """Stored bits per weight of the weighted layers (float32 where unassigned)."""
    if WHOLE_MODEL in assignment:
        return float(WEIGHT_BITS[assignment[WHOLE_MODEL]])
    total = sum(layer.weights for layer in layers)
    return sum(layer.weights * WEIGHT_BITS[assignment.get(layer.name, FLOAT32)] for layer in layers) / total


def choose_model(candidates: Mapping[str, tuple[float, float]], tolerance: float) -> str:
    """Of ``{name: (latency over float32, bits per weight)}`` (models at the target), the fastest,
    fewer bits deciding within ``tolerance``."""
    fastest = min(ratio for ratio, _ in candidates.values())
    close = [k for k, (ratio, _) in candidates.items() if ratio <= fastest * (1 + tolerance)]
    return min(close, key=lambda k: (candidates[k][1], candidates[k][0], k))


@dataclass(frozen=True)
class NativeModel:
    """One target's model: the per-layer combination (repaired), the uniform models at the target,
    the latencies measured side by side, and which the search chose."""

    name: str
    target: float
    picked: dict[str, str]  # each layer's pick alone
    pick_reasons: dict[str, str]
    picked_accuracy: float
    combination: dict[str, str]  # after repair
    combination_accuracy: float
    repairs: tuple[str, ...]
    repair_stop: str
    chosen: str  # "per-layer" or "uniform <format>" or "float32"
    assignment: dict[str, str]  # the chosen model's
    accuracy: float
    normalized: float
    weight_bits: float
    latency_ratios: dict[str, list[float]]  # per timed model, per pass
    choice_reason: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "picked": self.picked, "pick_reasons": self.pick_reasons,
                "picked_accuracy": self.picked_accuracy, "combination": self.combination,
                "combination_accuracy": self.combination_accuracy, "repairs": list(self.repairs),
                "repair_stop": self.repair_stop, "chosen": self.chosen, "assignment": self.assignment,
                "accuracy": self.accuracy, "normalized": self.normalized,
                "avg_bits_per_weight": round(self.weight_bits, 4),
                "latency_ratios": {k: [round(r, 4) for r in v] for k, v in self.latency_ratios.items()},
                "choice_reason": self.choice_reason}


@dataclass(frozen=True)
class NativeSearchResult:
    config: NativeSearchConfig
    baseline_accuracy: float
    costs: dict[str, float]  # per format, whole-model latency over float32's (median of passes)
    cost_passes: dict[str, list[float]]
    uniform: dict[str, NativeTrial]  # per format, the whole model in it
    sweeps: tuple[LayerSweep, ...]
    models: dict[str, NativeModel]
    evaluations: int
    search_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"schema": "mmnet.sieve-native-search/1", "config": self.config.to_json(),
                "baseline_val_accuracy": self.baseline_accuracy,
                "costs": {k: round(v, 4) for k, v in self.costs.items()},
                "cost_passes": {k: [round(r, 4) for r in v] for k, v in self.cost_passes.items()},
                "uniform": {k: v.to_json() for k, v in self.uniform.items()},
                "layers": [s.to_json() for s in self.sweeps],
                "models": {k: v.to_json() for k, v in self.models.items()},
                "evaluations": self.evaluations, "search_seconds": round(self.search_seconds, 3)}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _repair(name: str, picked: dict[str, str], accuracy: float, evaluate: Any, baseline: float, target: float,
            budget: int, weights: Mapping[str, int]) -> tuple[dict[str, str], float, tuple[str, ...], str]:
    """The picks made to keep ``target`` together, within ``budget`` evaluations:
    ``(assignment, accuracy, steps, how the repair ended)``.

    Rounds: every reduced layer's gain when put back to float32 alone is measured, and the layers that
    gain are put back, largest gain first, until the target holds. When no layer gains alone (the
    loss is the picks' together) or the budget cannot pay for another round, the model is rebuilt
    from float32, putting in the picks by weight count (the largest layers save most), each kept when
    the target still holds; a rebuild keeps the target by construction, whatever budget is left."""
    assignment, spent, steps = dict(picked), 0, []
    stop = ""
    while accuracy / baseline < target:
        if spent + len(assignment) + 1 > budget:
            stop = f"evaluation budget ({budget}) too small for another round"
            break
        gains = {}
        for layer in sorted(assignment):
            gains[layer] = evaluate({k: v for k, v in assignment.items() if k != layer}) - accuracy
        spent += len(gains)
        helping = sorted((k for k in gains if gains[k] > 0), key=lambda k: (-gains[k], k))
        if not helping:
            stop = "no layer alone gains accuracy when put back"
            break
        for layer in helping:
            if accuracy / baseline >= target or spent >= budget:
                break
            steps.append(f"{layer}: {assignment[layer]} -> float32 ({gains[layer]:+.4f} accuracy alone)")
            del assignment[layer]
            accuracy = evaluate(assignment)
            spent += 1
            log.info("native %s model, repair: %s; now %.4f of baseline", name, steps[-1], accuracy / baseline)
    if accuracy / baseline >= target:
        return assignment, accuracy, tuple(steps), stop
    log.warning("native %s model: repair stopped (%s) at %.4f of baseline; rebuilding", name, stop, accuracy / baseline)
    assignment, accuracy = {}, baseline
    for layer in sorted(picked, key=lambda k: (-weights[k], k)):
        if spent >= budget:
            break
        trial = {**assignment, layer: picked[layer]}
        value = evaluate(trial)
        spent += 1
        if value / baseline >= target:
            assignment, accuracy = trial, value
    stop += f"; rebuilt from float32 putting in the picks by weight count: kept {len(assignment)} of {len(picked)}"
    return assignment, accuracy, tuple(steps), stop


def run_native_search(evaluator: NativeEvaluator, config: NativeSearchConfig | None = None) -> NativeSearchResult:
    """The whole search (module docstring) on ``evaluator``."""
    config = config or NativeSearchConfig()
    started = time.monotonic()
    evaluations = 0

    def evaluate(assignment: Mapping[str, str]) -> float:
        nonlocal evaluations
        evaluations += 1
        return evaluator.accuracy(assignment)

    baseline = evaluate({})
    if baseline <= 0:
        raise ConfigError("the model's baseline val accuracy is 0; there is no accuracy to normalise against")
    cost_passes = evaluator.latency_ratios({fmt: {WHOLE_MODEL: fmt} for fmt in config.formats})
    costs = {fmt: _median(cost_passes[fmt]) for fmt in config.formats}
    uniform = {}
    for fmt in config.formats:
        accuracy = evaluate({WHOLE_MODEL: fmt})
        uniform[fmt] = NativeTrial(fmt, accuracy, accuracy / baseline)
    log.info("native formats, latency over float32 on the whole model: %s", costs)
    sweeps = tuple(sweep_layer(layer, lambda fmt, name=layer.name: evaluate({name: fmt}), baseline, config)
                   for layer in evaluator.layers)
    models = {}
    for name in NATIVE_MODEL_NAMES:
        target = config.target(name)
        picks = {s.layer.name: pick_format(s, target, costs, config.latency_tolerance) for s in sweeps}
        picked = {k: fmt for k, (fmt, _) in picks.items() if fmt != FLOAT32}
        picked_accuracy = evaluate(picked) if picked else baseline
        combination, accuracy, repairs, stop = _repair(
            name, picked, picked_accuracy, evaluate, baseline, target, config.repair_evaluations,
            {layer.name: layer.weights for layer in evaluator.layers})
        timed: dict[str, Mapping[str, str]] = {f"uniform {fmt}": {WHOLE_MODEL: fmt} for fmt, trial in uniform.items()
                                               if trial.normalized >= target}
        if combination:  # the repair keeps the target, so the combination is a candidate
            timed["per-layer"] = combination
        ratios = evaluator.latency_ratios(timed) if timed else {}
        ratios[FLOAT32] = [1.0] * config.latency_passes
        candidates = {k: (_median(v), average_weight_bits(evaluator.layers, timed.get(k, {}))) for k, v in ratios.items()}
        chosen = choose_model(candidates, config.latency_tolerance)
        assignment = dict(timed.get(chosen, {}))
        chosen_accuracy = (accuracy if chosen == "per-layer" else
                           uniform[chosen.split(" ", 1)[1]].accuracy if chosen.startswith("uniform ") else baseline)
        reason = (f"{chosen}: {candidates[chosen][0]:.2f}x float32 latency, {candidates[chosen][1]:g} bits per weight; "
                  "the fastest at the target (fewer bits within "
                  f"{100 * config.latency_tolerance:g}% of it)")
        if chosen == FLOAT32:
            log.warning("native %s model: no native model at the target is faster than float32; it is the float model", name)
        models[name] = NativeModel(
            name=name, target=target, picked=picked, pick_reasons={k: r for k, (_, r) in picks.items()},
            picked_accuracy=picked_accuracy, combination=combination, combination_accuracy=accuracy,
            repairs=repairs, repair_stop=stop, chosen=chosen, assignment=assignment, accuracy=chosen_accuracy,
            normalized=chosen_accuracy / baseline, weight_bits=candidates[chosen][1], latency_ratios=ratios,
            choice_reason=reason)
        log.info("native %s model: %s", name, reason)
    return NativeSearchResult(config=config, baseline_accuracy=baseline, costs=costs, cost_passes=cost_passes,
                              uniform=uniform, sweeps=sweeps, models=models, evaluations=evaluations,
                              search_seconds=time.monotonic() - started)
