"""SIEVE's per-tensor number-format search (dissertation §4.4.1), TF-free.

Every weight and activation tensor of a float model gets its own small floating-point format
(:class:`~mmnet.format.custom_float.FloatFormat`), chosen on the validation set with no retraining:

1. The exponent histogram of each tensor (weights: the kernel; activations: every value on val)
   gives the width ``e_max`` and bias covering ``coverage`` (99.5%) of its nonzero values.
2. The exponent width is swept from ``e_max`` down to 2, each width with the bias covering the most
   values, until that coverage falls below ``min_coverage`` (50%); for each width the mantissa is
   swept from ``max_mantissa_bits`` (6) down to 0 with only this tensor reduced (every other tensor
   float32), stopping at the first result below ``stop_accuracy`` (99.8%) normalised accuracy.
3. The trials are combined into three models: **exact** (each tensor's most accurate trial),
   **accurate** (each tensor's narrowest trial at >= ``accurate_target``, 100% of the baseline) and
   **approximate** (the same at ``approximate_target``, 99.9%); a tensor with no trial at the target
   keeps its most accurate one (§4.4.1).

Tensors that each keep the target alone need not keep it together (§4.4.1: "because of the
aggregation of precision losses"). Each combined model is evaluated; when it misses its target the
search records why — every reduced tensor's gain when it alone steps back to its next wider trial
(from its widest, to float32) — and, with ``repair``, steps tensors back in the order of their
gains until the target holds, within ``repair_rounds`` rounds and ``repair_evaluations``
evaluations; a model still short of its target is rebuilt from the exact model's picks (or float32
when those miss it too), putting in its own picks in the order of bits saved and keeping each that
keeps the target. A model that keeps its target is then tightened (``tighten``): each tensor's narrower
trials are tried in the combination, largest bit savings first, and kept while the target holds. The
steps and how the repair ended are in the result, so the artifact says which tensors could not be combined.

The model is behind :class:`Evaluator`: its tensors (name, kind, element count, exponent
histogram) and ``accuracy(formats)`` on val with the named tensors in their formats and every other
tensor float32. ``mmnet.pipeline.sieve.keras_graph`` implements it for Keras models with cached
activations; the unit tests use a numpy model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mmnet.format.checks import check_bool, check_int, check_number, fail
from mmnet.format.custom_float import (
    MAX_MANTISSA_BITS,
    MIN_EXPONENT_BITS,
    ExponentHistogram,
    FloatFormat,
    covering_bias,
    covering_exponent_range,
)
from mmnet.format.documents import validate_document
from mmnet.format.errors import ConfigError, DataError

__all__ = [
    "SearchConfig",
    "TensorInfo",
    "Evaluator",
    "Trial",
    "TensorSweep",
    "CombinedModel",
    "SearchResult",
    "sweep_tensor",
    "pick_trial",
    "combine",
    "average_bits",
    "run_search",
    "MODEL_NAMES",
    "FLOAT32_BITS",
    "validate_search_document",
    "sweeps_from_json",
]

FLOAT32_BITS = 32
MODEL_NAMES = ("exact", "accurate", "approximate")
KINDS = ("weight", "activation")
SEARCH_SCHEMA = "mmnet.sieve-search/1"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchConfig:
    """The §4.4.1 search's thresholds; every default is the paper's."""

    coverage: float = 0.995  # share of nonzero values e_max and the bias must cover
    min_coverage: float = 0.5  # the exponent sweep stops below this coverage
    max_mantissa_bits: int = 6  # the mantissa sweep starts here and goes down to 0
    stop_accuracy: float = 0.998  # normalised val accuracy below which the mantissa sweep stops
    accurate_target: float = 1.0  # normalised accuracy of the accurate model's per-tensor picks
    approximate_target: float = 0.999  # and of the approximate model's
    repair: bool = True  # step tensors back toward float32 until a combined model keeps its target
    # The repair's bounds, per combined model: rounds in which every reduced tensor's gain is measured,
    # and evaluations in all (a ResNet-20 master has ~40 tensors: unbounded, the repair ran for hours).
    repair_rounds: int = 4
    repair_evaluations: int = 100
    # Once a combined model keeps its target, try each tensor's narrower trials in the combination
    # (largest bit savings first), keeping each that still keeps the target; within repair_evaluations.
    tighten: bool = True

    def __post_init__(self) -> None:
        check_number("sieve.search.coverage", self.coverage, low=0.0, high=1.0, low_open=True)
        check_number("sieve.search.min_coverage", self.min_coverage, low=0.0, high=1.0)
        check_int("sieve.search.max_mantissa_bits", self.max_mantissa_bits, low=0, high=MAX_MANTISSA_BITS)
        for name in ("stop_accuracy", "accurate_target", "approximate_target"):
            check_number(f"sieve.search.{name}", getattr(self, name), low=0.0, high=2.0, low_open=True)
        check_bool("sieve.search.repair", self.repair)
        check_bool("sieve.search.tighten", self.tighten)
        check_int("sieve.search.repair_rounds", self.repair_rounds, low=1)
        check_int("sieve.search.repair_evaluations", self.repair_evaluations, low=1)
        if self.min_coverage > self.coverage:
            raise ConfigError(f"sieve.search.min_coverage is {self.min_coverage!r}; expected at most sieve.search.coverage "
                              f"({self.coverage!r}): the sweep starts at the covering width")

    def target(self, model: str) -> float | None:
        """The normalised accuracy ``model``'s per-tensor picks must keep (None: the exact model's best)."""
        return {"exact": None, "accurate": self.accurate_target, "approximate": self.approximate_target}[model]

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


@dataclass(frozen=True)
class TensorInfo:
    """A tensor the search may reformat.

    ``elements``: the weight count, or an activation's values per frame (what one inference stores);
    ``histogram``: exponents of its values (for activations, over the whole val set).
    """

    name: str
    kind: str
    layer: str
    elements: int
    histogram: ExponentHistogram

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise fail(f"tensor {self.name!r} kind", self.kind, f"one of {list(KINDS)}")
        check_int(f"tensor {self.name!r} elements", self.elements, low=1)


class Evaluator(Protocol):
    """A model on its validation set, with tensors that can be put in custom formats."""

    tensors: tuple[TensorInfo, ...]

    def accuracy(self, formats: Mapping[str, FloatFormat]) -> float:
        """Val accuracy with the named tensors in their formats and every other tensor float32."""
        ...


@dataclass(frozen=True)
class Trial:
    format: FloatFormat
    coverage: float  # share of the tensor's nonzero values inside the format's exponent range
    accuracy: float
    normalized: float  # accuracy / baseline accuracy

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format.name, "bits": self.format.width, "coverage": round(self.coverage, 6),
                "accuracy": self.accuracy, "normalized": self.normalized}


@dataclass(frozen=True)
class TensorSweep:
    """One tensor's sweep: the covering format, every trial and why each exponent width stopped."""

    tensor: TensorInfo
    e_max: int
    bias: int
    trials: tuple[Trial, ...]
    stops: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.tensor.name, "kind": self.tensor.kind, "layer": self.tensor.layer,
                "elements": self.tensor.elements, "e_max": self.e_max, "bias": self.bias,
                "exponent_histogram": {str(k): v for k, v in self.tensor.histogram.as_dict().items()},
                "trials": [t.to_json() for t in self.trials], "stops": list(self.stops)}


def sweep_tensor(tensor: TensorInfo, accuracy_with: Callable[[FloatFormat], float], baseline: float,
                 config: SearchConfig) -> TensorSweep:
    """§4.4.1's sweep of one tensor; ``accuracy_with(fmt)`` is val accuracy with only this tensor in ``fmt``."""
    e_max, covering = covering_exponent_range(tensor.histogram, config.coverage)
    trials: list[Trial] = []
    stops: list[str] = []
    for exponent_bits in range(e_max, MIN_EXPONENT_BITS - 1, -1):
        if exponent_bits == e_max:
            window = tensor.histogram.covered(1 - covering, (1 << e_max) - 2 - covering)
            bias, coverage = covering, window / tensor.histogram.total
        else:
            bias, coverage = covering_bias(tensor.histogram, exponent_bits)
        if coverage < config.min_coverage:
            stops.append(f"e{exponent_bits}: coverage {coverage:.3f} below {config.min_coverage}; exponent sweep ends")
            break
        for mantissa_bits in range(config.max_mantissa_bits, -1, -1):
            fmt = FloatFormat(exponent_bits, bias, mantissa_bits)
            accuracy = accuracy_with(fmt)
            normalized = accuracy / baseline
            trials.append(Trial(fmt, coverage, accuracy, normalized))
            if normalized < config.stop_accuracy:
                stops.append(f"e{exponent_bits}: m{mantissa_bits} at {normalized:.4f} normalised, below "
                             f"{config.stop_accuracy}")
                break
        else:
            stops.append(f"e{exponent_bits}: every mantissa width down to 0 kept {config.stop_accuracy}")
    return TensorSweep(tensor, e_max, covering, tuple(trials), tuple(stops))


def pick_trial(sweep: TensorSweep, target: float | None) -> tuple[Trial, str]:
    """The trial a combined model takes for this tensor, and why.

    ``target`` None (exact): the most accurate trial, the widest of equals (the least reduced, so
    the exact model is the one whose combination loses least). Otherwise the
    narrowest trial at ``>= target`` normalised accuracy, the most accurate of equals; with none,
    the most accurate trial (§4.4.1).
    """
    if not sweep.trials:
        raise ConfigError(f"tensor {sweep.tensor.name!r} has no trial: its covering format already covers below the "
                          "minimum coverage; lower sieve.search.min_coverage")
    best = min(sweep.trials, key=lambda t: (-t.accuracy, -t.format.width, -t.format.mantissa_bits))
    if target is None:
        return best, "most accurate"
    meeting = [t for t in sweep.trials if t.normalized >= target]
    if not meeting:
        return best, f"no trial reached {target}; most accurate"
    return min(meeting, key=lambda t: (t.format.width, -t.accuracy, -t.format.mantissa_bits)), f"narrowest at >= {target}"


def average_bits(tensors: tuple[TensorInfo, ...], formats: Mapping[str, FloatFormat], kind: str) -> float:
    """Stored bits per value of ``kind`` tensors, weighted by element count (float32 where no format)."""
    chosen = [t for t in tensors if t.kind == kind]
    total = sum(t.elements for t in chosen)
    if total == 0:
        return float(FLOAT32_BITS)
    return sum(t.elements * (formats[t.name].width if t.name in formats else FLOAT32_BITS) for t in chosen) / total


def _step_back(sweep: TensorSweep, current: FloatFormat) -> FloatFormat | None:
    """The next format back toward float32: the tensor's next wider trial (by width, then mantissa
    bits), or None (float32) from its widest."""
    key = (current.width, current.mantissa_bits)
    wider = [t.format for t in sweep.trials if (t.format.width, t.format.mantissa_bits) > key]
    return min(wider, key=lambda f: (f.width, f.mantissa_bits, -f.exponent_bits)) if wider else None


def _apply(formats: Mapping[str, FloatFormat], name: str, fmt: FloatFormat | None) -> dict[str, FloatFormat]:
    out = dict(formats)
    if fmt is None:
        del out[name]
    else:
        out[name] = fmt
    return out


@dataclass(frozen=True)
class CombinedModel:
    """A combination of per-tensor picks, evaluated together, with the repair steps that kept its target."""

    name: str
    target: float | None
    picked: dict[str, FloatFormat]  # each tensor's pick alone
    picked_accuracy: float
    formats: dict[str, FloatFormat]  # after repair
    accuracy: float
    normalized: float
    weight_bits: float
    activation_bits: float
    pick_reasons: dict[str, str]
    losses: tuple[dict[str, Any], ...] = ()  # per repair round: each reduced tensor's gain when put back
    repairs: tuple[str, ...] = ()
    repair_stop: str = ""  # why the repair ended ("" when the picks kept the target or repair is off)
    repair_evaluations: int = 0  # the repair's, the rebuild's and the tightening's
    tightened: tuple[str, ...] = ()  # narrower trials the combination took after keeping its target

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target,
                "picked": {k: v.name for k, v in self.picked.items()}, "picked_accuracy": self.picked_accuracy,
                "formats": {k: v.name for k, v in self.formats.items()}, "accuracy": self.accuracy,
                "normalized": self.normalized, "avg_bits_per_weight": round(self.weight_bits, 4),
                "avg_bits_per_activation": round(self.activation_bits, 4), "pick_reasons": self.pick_reasons,
                "losses": list(self.losses), "repairs": list(self.repairs), "repair_stop": self.repair_stop,
                "repair_evaluations": self.repair_evaluations, "tightened": list(self.tightened)}


def _reference_accuracy(evaluator: Evaluator, formats: Mapping[str, FloatFormat]) -> float:
    """``evaluator.accuracy(formats)``, kept as the base the next evaluations recompute from when the
    evaluator caches one (``set_reference``): a repair round's evaluations each differ from it by one tensor."""
    set_reference = getattr(evaluator, "set_reference", None)
    return set_reference(formats) if set_reference is not None else evaluator.accuracy(formats)


def _rebuild(picked: Mapping[str, FloatFormat], widest: Mapping[str, FloatFormat], evaluator: Evaluator,
             baseline: float, target: float) -> tuple[dict[str, FloatFormat], float, int, str, int]:
    """From a start that keeps the target — each tensor's most accurate trial (the exact model's picks)
    when they keep it together, else float32 — each pick is put in, in the order of bits saved
    (elements × the bits it saves over the start), and kept when the target still holds:
    ``(formats, accuracy, picks kept, the start, evaluations)``."""
    evaluations = 1
    accuracy = _reference_accuracy(evaluator, widest)
    formats, start = dict(widest), "the exact model's picks"
    if accuracy / baseline < target:
        formats, accuracy, start = {}, baseline, "float32"
        evaluations += 1
        _reference_accuracy(evaluator, formats)
    elements = {t.name: t.elements for t in evaluator.tensors}

    def saved(name: str) -> int:
        width = formats[name].width if name in formats else FLOAT32_BITS
        return elements[name] * (width - picked[name].width)

    order = sorted((k for k in picked if formats.get(k) != picked[k]), key=lambda k: (-saved(k), k))
    kept = 0
    for name in order:
        candidate = _apply(formats, name, picked[name])
        value = evaluator.accuracy(candidate)
        evaluations += 1
        if value / baseline >= target:
            formats, accuracy = candidate, _reference_accuracy(evaluator, candidate)
            evaluations += 1
            kept += 1
    return formats, accuracy, kept, start, evaluations


def _tighten(formats: Mapping[str, FloatFormat], accuracy: float, sweeps: Mapping[str, TensorSweep], evaluator: Evaluator,
             baseline: float, target: float, budget: int) -> tuple[dict[str, FloatFormat], float, list[str], int]:
    """A combination that keeps ``target``, made narrower: per tensor, in the order of the bits its next
    narrower trial saves (elements × bits), its narrower trials from the closest down, each kept when
    the combination still keeps the target; a tensor's walk stops at its first trial that does not.
    Per-tensor picks are judged alone, so a combination above its target may hold a narrower trial
    than a pick (one val frame decides a pick at 1,000 frames): ``(formats, accuracy, steps, evaluations)``."""
    formats = dict(formats)
    elements = {t.name: t.elements for t in evaluator.tensors}

    def narrower(name: str) -> list[FloatFormat]:
        width = formats[name].width if name in formats else FLOAT32_BITS
        found = {t.format for t in sweeps[name].trials if t.format.width < width}
        return sorted(found, key=lambda f: (-f.width, -f.mantissa_bits, f.exponent_bits))

    def saved(name: str) -> int:
        options = narrower(name)
        width = formats[name].width if name in formats else FLOAT32_BITS
        return elements[name] * (width - options[0].width) if options else 0

    steps: list[str] = []
    spent = 0
    for name in sorted(sweeps, key=lambda k: (-saved(k), k)):
        for fmt in narrower(name):
            if spent >= budget:
                return formats, accuracy, steps, spent
            candidate = _apply(formats, name, fmt)
            value = evaluator.accuracy(candidate)
            spent += 1
            if value / baseline < target:
                break
            steps.append(f"{name}: {formats[name].name if name in formats else 'float32'} -> {fmt.name} "
                         f"(combination at {value / baseline:.4f} of baseline)")
            formats, accuracy = candidate, _reference_accuracy(evaluator, candidate)
            spent += 1
    return formats, accuracy, steps, spent


def combine(name: str, sweeps: tuple[TensorSweep, ...], evaluator: Evaluator, baseline: float,
            config: SearchConfig) -> CombinedModel:
    """The ``name`` model (exact / accurate / approximate) from the sweeps, evaluated and repaired."""
    target = config.target(name)
    picks = {s.tensor.name: pick_trial(s, target) for s in sweeps}
    picked = {k: trial.format for k, (trial, _) in picks.items()}
    reasons = {k: reason for k, (_, reason) in picks.items()}
    picked_accuracy = _reference_accuracy(evaluator, picked)
    formats, accuracy = dict(picked), picked_accuracy
    losses: list[dict[str, Any]] = []
    repairs: list[str] = []
    by_name = {s.tensor.name: s for s in sweeps}
    spent = 0
    stop = ""

    def kept() -> bool:
        return target is None or accuracy / baseline >= target

    # Each round measures every reduced tensor's gain when it alone steps back (to its next wider
    # trial, or from its widest to float32), then steps tensors back in the order of their gains,
    # one evaluation per step, until the target holds; rounds and evaluations are bounded.
    for _ in range(config.repair_rounds):
        if kept():
            break
        steps = {k: _step_back(by_name[k], formats[k]) for k in formats}
        if not steps:
            stop = "every tensor is float32 again"
            break
        if spent + len(steps) > config.repair_evaluations:
            stop = f"evaluation budget ({config.repair_evaluations}) spent"
            break
        gains = {k: evaluator.accuracy(_apply(formats, k, step)) - accuracy for k, step in steps.items()}
        spent += len(steps)
        losses.append({"accuracy": accuracy, "gains": {k: round(v, 6) for k, v in
                                                       sorted(gains.items(), key=lambda kv: -kv[1])}})
        if not config.repair:
            break
        # the largest gain first; of equals, a step to a wider format before one to float32
        ranked = sorted(steps, key=lambda k: (gains[k], steps[k] is not None, -formats[k].width), reverse=True)
        helping = [k for k in ranked if gains[k] > 0] or ranked[:1]
        for name_back in helping:
            if spent >= config.repair_evaluations:
                break
            step = steps[name_back]
            repairs.append(f"{name_back}: {formats[name_back].name} -> {step.name if step else 'float32'} "
                           f"({gains[name_back]:+.4f} accuracy)")
            formats = _apply(formats, name_back, step)
            accuracy = _reference_accuracy(evaluator, formats)
            spent += 1
            log.info("%s model, repair %d: %s; now %.4f of baseline", name, len(repairs), repairs[-1],
                     accuracy / baseline)
            if kept():
                break
    if config.repair and not kept() and not stop:
        stop = (f"evaluation budget ({config.repair_evaluations}) spent" if spent >= config.repair_evaluations
                else f"{config.repair_rounds} rounds done")
    if config.repair and not kept():
        # The picks lose too much together for stepping back to recover within the bounds (a deep
        # network's 40 reduced tensors can take the combination to a seventh of the baseline): rebuild
        # from a start that keeps the target, putting in the picks by bits saved, each kept if the target holds.
        log.warning("%s model: repair stopped (%s) at %.4f of baseline; rebuilding", name, stop, accuracy / baseline)
        widest = {s.tensor.name: pick_trial(s, None)[0].format for s in sweeps}
        formats, accuracy, kept_picks, start, spent_rebuild = _rebuild(picked, widest, evaluator, baseline, target)
        spent += spent_rebuild
        changed = sum(1 for k in picked if widest.get(k) != picked[k]) if start != "float32" else len(picked)
        stop = f"{stop}; rebuilt from {start} putting in the picks by bits saved: kept {kept_picks} of {changed}"
    tightened: list[str] = []
    if config.tighten and target is not None and kept() and spent < config.repair_evaluations:
        formats, accuracy, tightened, spent_tightening = _tighten(formats, accuracy, by_name, evaluator, baseline, target,
                                                                  config.repair_evaluations - spent)
        spent += spent_tightening
    tensors = evaluator.tensors
    return CombinedModel(
        name=name, target=target, picked=picked, picked_accuracy=picked_accuracy, formats=formats,
        accuracy=accuracy, normalized=accuracy / baseline,
        weight_bits=average_bits(tensors, formats, "weight"), activation_bits=average_bits(tensors, formats, "activation"),
        pick_reasons=reasons, losses=tuple(losses), repairs=tuple(repairs), repair_stop=stop,
        repair_evaluations=spent, tightened=tuple(tightened),
    )


@dataclass(frozen=True)
class SearchResult:
    config: SearchConfig
    baseline_accuracy: float
    sweeps: tuple[TensorSweep, ...]
    models: dict[str, CombinedModel]
    evaluations: int
    search_seconds: float
    model_name: str = ""
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"schema": SEARCH_SCHEMA, "model": self.model_name, "config": self.config.to_json(),
                "baseline_val_accuracy": self.baseline_accuracy, "evaluations": self.evaluations,
                "search_seconds": round(self.search_seconds, 3), "notes": list(self.notes),
                "tensors": [s.to_json() for s in self.sweeps],
                "models": {k: v.to_json() for k, v in self.models.items()}}


def validate_search_document(doc: Any, source: str = "sieve_search.json") -> None:
    """Checks a search artifact against ``schemas/sieve_search.schema.json``; DataError naming the JSON path."""
    validate_document(doc, "sieve_search", source=source, package="mmnet.pipeline.sieve", error=DataError)


class _Counting:
    """Counts an evaluator's evaluations (the search's cost)."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.tensors = evaluator.tensors
        self.count = 0

    def accuracy(self, formats: Mapping[str, FloatFormat]) -> float:
        self.count += 1
        return self.evaluator.accuracy(formats)

    def set_reference(self, formats: Mapping[str, FloatFormat]) -> float:
        self.count += 1
        return _reference_accuracy(self.evaluator, formats)


def sweeps_from_json(doc: Mapping[str, Any], tensors: tuple[TensorInfo, ...], source: str) -> tuple[TensorSweep, ...]:
    """The sweeps of an earlier search artifact, for ``tensors`` (the same model's): the combination
    can be redone (other targets, other repair bounds) without sweeping again. DataError when the
    artifact's tensors are not these."""
    validate_search_document(dict(doc), source=source)
    by_name = {t["name"]: t for t in doc["tensors"]}
    if sorted(by_name) != sorted(t.name for t in tensors):
        raise DataError(f"{source}: its tensors {sorted(by_name)[:3]}… are not the model's ({len(tensors)} tensors); "
                        "expected the search artifact of this model")
    return tuple(TensorSweep(
        tensor, by_name[tensor.name]["e_max"], by_name[tensor.name]["bias"],
        tuple(Trial(FloatFormat.parse(t["format"]), t["coverage"], t["accuracy"], t["normalized"])
              for t in by_name[tensor.name]["trials"]),
        tuple(by_name[tensor.name]["stops"])) for tensor in tensors)


def run_search(evaluator: Evaluator, config: SearchConfig | None = None, *, model_name: str = "",
               notes: tuple[str, ...] = (), sweeps: tuple[TensorSweep, ...] | None = None) -> SearchResult:
    """Sweeps every tensor of ``evaluator`` (unless ``sweeps`` are given, from :func:`sweeps_from_json`)
    and combines the three models (module docstring)."""
    config = config or SearchConfig()
    started = time.monotonic()
    counting = _Counting(evaluator)
    baseline = counting.accuracy({})
    if baseline <= 0:
        raise ConfigError("the model's baseline val accuracy is 0; there is no accuracy to normalise against")
    done = list(sweeps or ())
    sweeps = []
    for i, tensor in enumerate(evaluator.tensors, start=1):
        if done:
            sweeps.append(done[i - 1])
            continue
        sweeps.append(sweep_tensor(tensor, lambda fmt, name=tensor.name: counting.accuracy({name: fmt}), baseline, config))
        log.info("swept %s (%d of %d): %d trials; %d evaluations in %.1f s so far", tensor.name, i,
                 len(evaluator.tensors), len(sweeps[-1].trials), counting.count, time.monotonic() - started)
    models = {name: combine(name, tuple(sweeps), counting, baseline, config) for name in MODEL_NAMES}
    return SearchResult(config=config, baseline_accuracy=baseline, sweeps=tuple(sweeps), models=models,
                        evaluations=counting.count, search_seconds=time.monotonic() - started,
                        model_name=model_name, notes=notes)
