"""Dynamic Duo as a serving system (dissertation chapter 6): what the server decides, as pure functions.

A little model answers every frame; a probe (the detector the pair search chose,
:mod:`mmnet.pipeline.duo.pairs`) accepts its answer or sends the frame to the recovery queue, where
the big model answers it. This module holds everything the server decides, without a clock,
a thread or a socket, so unit tests drive it with fakes (:mod:`mmnet.server.duo_app` runs it):

- :class:`DuoConfig` — batching and queue limits (frozen, validated);
- :func:`load_duo` — the pair a ``duo_pool.json`` serving block names (model files checked by
  sha256, preprocessing, probe) as a :class:`DuoSystem`;
- :class:`Probe` and :func:`route_frame` — accept the little model's answer or recover it, with a
  reason code;
- :func:`admit` — admission control: a request is admitted only if every frame it brings fits the
  bound on admitted frames and the recovery queue is below its bound, else 429 with
  ``Retry-After`` (503 while draining). Once admitted, a frame is never dropped: the recovery queue
  holds admitted frames only, so it is bounded by the admission bound and always has room;
- :func:`plan_batch` and :class:`BatchQueue` — dynamic batching: a batch leaves when ``max_batch``
  frames wait or the oldest has waited ``max_wait_ms``.

A *single* system (the big model alone, what the pair search picks when no pair is faster) is served
by the same machinery with no little model: every frame goes to the big model's queue.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from mmnet.format.bundle import sha256_file
from mmnet.format.checks import check_int, check_number, fail
from mmnet.format.errors import BundleError, ConfigError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.runtime.learned_detector import LOGISTIC, PER_CLASS, LogisticDetector, logistic_frame

__all__ = [
    "ADMITTED", "DRAINING", "QUEUE_FULL", "RECOVERY_FULL",
    "ACCEPTED", "BELOW_THRESHOLD", "NO_FEATURES", "NO_LITTLE",
    "LITTLE", "BIG",
    "DuoConfig", "ModelFile", "Probe", "DuoSystem", "Admission", "Load", "Route", "BatchPlan", "BatchQueue",
    "admit", "plan_batch", "retry_after_s", "route_frame", "load_duo", "serving_choices", "add_duo_options",
    "duo_config_from",
]

# admission reason codes
ADMITTED = "admitted"
DRAINING = "draining"  # shutting down: 503
QUEUE_FULL = "queue_full"  # too many admitted frames not yet answered: 429
RECOVERY_FULL = "recovery_full"  # the big model's queue is at its bound: 429
# routing reason codes
ACCEPTED = "confident"  # the probe accepts the little model's answer
BELOW_THRESHOLD = "below_threshold"  # the little model's confidence is below its class's threshold (or score)
NO_FEATURES = "no_features"  # the little model's outputs are all zero: nothing to judge, recovered
NO_LITTLE = "single_system"  # no little model: the big one answers every frame
# which model answered
LITTLE = "little"
BIG = "big"


@dataclass(frozen=True)
class DuoConfig:
    """Dynamic batching and the bounded queues of a Dynamic Duo server (validated on construction).

    ``max_batch`` frames at most per pass of a model's worker; a batch leaves when that many wait or
    when the oldest has waited ``max_wait_ms`` (0: whatever is queued leaves at once). ``max_queued``
    bounds the admitted frames not yet answered (little queue, in service, recovery queue);
    ``max_recovery_queued`` is the backpressure point of the big model: while that many frames wait
    for it, requests are refused (429). ``drain_timeout_s``: on SIGTERM the server
    answers new predicts 503 and finishes the admitted ones for at most this long.
    """

    max_batch: int = 8
    max_wait_ms: float = 2.0
    max_queued: int = 64
    max_recovery_queued: int = 32
    drain_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_int("DuoConfig.max_batch", self.max_batch, low=1, high=1024)
        check_number("DuoConfig.max_wait_ms", self.max_wait_ms, low=0.0, high=10_000.0)
        check_int("DuoConfig.max_queued", self.max_queued, low=1)
        check_int("DuoConfig.max_recovery_queued", self.max_recovery_queued, low=1)
        if self.max_recovery_queued > self.max_queued:
            raise fail("DuoConfig.max_recovery_queued", self.max_recovery_queued,
                       f"at most max_queued ({self.max_queued}): the recovery queue holds admitted frames only")
        check_number("DuoConfig.drain_timeout_s", self.drain_timeout_s, positive=True)

    @property
    def max_wait_s(self) -> float:
        return self.max_wait_ms / 1000.0


# --- the system a serving block names ------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFile:
    id: str
    path: Path
    resolution: int
    xnnpack: bool = True


@dataclass(frozen=True)
class Probe:
    """The pair search's detector on the little model's outputs: per-class thresholds on its top
    probability (``single`` and ``per_class`` rules; a single threshold is the per-class one with
    every class pulled onto it), or the learned logistic score."""

    rule: str
    thresholds: np.ndarray | None = field(default=None, repr=False)  # per class, float64
    logistic: LogisticDetector | None = None

    def __post_init__(self) -> None:
        if (self.thresholds is None) == (self.logistic is None):
            raise ConfigError(f"probe {self.rule!r}: expected thresholds or a logistic detector, exactly one")

    @classmethod
    def from_json(cls, doc: Any, num_classes: int, where: str) -> Probe:
        if not isinstance(doc, dict):
            raise fail(where, doc, "a probe object with kind per_class_confidence or logistic")
        kind, rule = doc.get("kind"), str(doc.get("rule", doc.get("kind")))
        if kind == PER_CLASS:
            values = doc.get("thresholds")
            if not isinstance(values, list) or len(values) != num_classes:
                found = f"a list of {len(values)}" if isinstance(values, list) else type(values).__name__
                raise fail(f"{where}.thresholds", found, f"a list of {num_classes} numbers (one per class)")
            thresholds = np.asarray([check_number(f"{where}.thresholds[{i}]", v, low=None) for i, v in enumerate(values)],
                                    dtype=np.float64)
            return cls(rule, thresholds=thresholds)
        if kind == LOGISTIC:
            return cls(rule, logistic=LogisticDetector.from_json(doc, 1, where))
        raise fail(f"{where}.kind", kind, f"{PER_CLASS!r} or {LOGISTIC!r}")


@dataclass(frozen=True)
class Route:
    """Where a frame's answer comes from, and why: ``model`` is LITTLE (accepted) or BIG (recovered)."""

    model: str
    reason: str
    answer: int  # the little model's top class (-1 without a little model)
    score: float | None  # its confidence (per-class rule) or logistic score; None when not scored


def route_frame(probe: Probe | None, scores: np.ndarray) -> Route:
    """The probe's decision on one frame from the little model's class scores ``(K,)`` (pure).

    Per-class rule: accept when the top probability reaches its class's threshold (as
    :func:`mmnet.pipeline.detectors.answers_and_features` reads it: float64 of the model's scores).
    Logistic: :func:`mmnet.runtime.learned_detector.logistic_frame` on the little model alone."""
    if probe is None:
        return Route(BIG, NO_LITTLE, -1, None)
    if probe.thresholds is not None:
        row = np.asarray(scores, dtype=np.float64)
        answer = int(row.argmax())
        confidence = float(row[answer])
        if confidence - probe.thresholds[answer] >= 0.0:
            return Route(LITTLE, ACCEPTED, answer, confidence)
        return Route(BIG, BELOW_THRESHOLD, answer, confidence)
    assert probe.logistic is not None
    verdict, score = logistic_frame([np.asarray(scores, dtype=np.float64)], probe.logistic)
    if score is None:
        return Route(BIG, NO_FEATURES, int(verdict.answer), None)
    return Route(LITTLE if verdict.accept else BIG, ACCEPTED if verdict.accept else BELOW_THRESHOLD,
                 int(verdict.answer), float(score))


@dataclass(frozen=True)
class DuoSystem:
    """A served system: the big model, optionally a little one with its probe, and how frames are prepared."""

    name: str
    preprocessing: PreprocessingSpec
    num_classes: int
    big: ModelFile
    little: ModelFile | None = None
    probe: Probe | None = None
    target: str = ""
    source: str = ""
    expected: dict[str, Any] = field(default_factory=dict)  # what the pair search measured offline

    def __post_init__(self) -> None:
        if (self.little is None) != (self.probe is None):
            raise ConfigError(f"duo system {self.name}: a little model needs a probe and a probe a little model")

    @property
    def model_ids(self) -> tuple[str, ...]:
        return (self.big.id,) if self.little is None else (self.little.id, self.big.id)


def serving_choices(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The (target baseline, rule) pairs a serving block offers."""
    return [(str(c.get("target", {}).get("baseline")), str(c.get("rule"))) for c in doc.get("configurations", [])]


def _model_file(doc: Any, where: str, base: Path, verify: bool) -> ModelFile:
    if not isinstance(doc, dict):
        raise fail(where, doc, "an object with id, path, sha256 and resolution")
    path = Path(str(doc.get("path", "")))
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise BundleError(f"{where}.path: {path} does not exist; expected the model file the pair search measured")
    if verify and doc.get("sha256") and sha256_file(path) != doc["sha256"]:
        raise BundleError(f"{where}: {path} does not match the sha256 the pair search recorded; expected the same file")
    return ModelFile(str(doc.get("id")), path, check_int(f"{where}.resolution", doc.get("resolution"), low=1),
                     bool(doc.get("xnnpack", True)))


def load_duo(path: str | Path, *, target: str | None = None, rule: str | None = None, big_alone: bool = False,
             verify: bool = True) -> DuoSystem:
    """The system a ``duo_pool.json`` (written by ``mmnet.benchmarks.duo_pool``) serves: its
    ``serving`` block's configuration for ``target`` (a baseline model id; default: the block's
    ``default_target``, the most accurate) and ``rule`` (the probe's rule, ``single`` or
    ``per_class``; default: ``default_rule``). ``big_alone``: that configuration's big model as a
    single system (the baseline a pair is compared with). A file holding only the serving block works
    too. Model paths are as recorded, relative ones against the file's folder."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"--duo {path}: cannot read it as JSON ({e}); expected duo_pool.json from "
                          "mmnet.benchmarks.duo_pool") from e
    block = doc.get("serving", doc) if isinstance(doc, dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("configurations"), list):
        raise ConfigError(f"--duo {path}: no serving block with configurations; expected duo_pool.json from "
                          "mmnet.benchmarks.duo_pool")
    target = target or block.get("default_target")
    rule = rule or block.get("default_rule")
    chosen = [c for c in block["configurations"]
              if c.get("target", {}).get("baseline") == target and c.get("rule") == rule]
    if not chosen:
        raise ConfigError(f"--duo {path}: no configuration for target {target!r} and rule {rule!r}; it has "
                          f"{serving_choices(block)}")
    c = chosen[0]
    num_classes = check_int("serving.num_classes", block.get("num_classes"), low=2)
    spec = PreprocessingSpec.from_json(block.get("preprocessing"))
    base = path.parent
    big = _model_file(c.get("big"), "serving.big", base, verify)
    little = probe = None
    if c.get("little") is not None and not big_alone:
        little = _model_file(c["little"], "serving.little", base, verify)
        probe = Probe.from_json(c.get("probe"), num_classes, "serving.probe")
    expected = {k: c.get(k) for k in ("system", "val_recovery_rate", "test_recovery_rate", "test_accuracy", "expected_ms")}
    name = f"{little.id}+{big.id}" if little else big.id
    if big_alone:
        expected = {"system": "single"}
    return DuoSystem(name, spec, num_classes, big, little, probe, f"{target}/{rule}", str(path), expected)


# --- admission and backpressure ----------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """The queues as admission sees them (frames): admitted and not yet answered, and waiting for the big model."""

    in_system: int
    recovery_queued: int
    draining: bool = False


@dataclass(frozen=True)
class Admission:
    admitted: bool
    reason: str
    status: int  # 200 when admitted, else the HTTP status to answer
    retry_after_s: int = 0


def retry_after_s(frames_ahead: int, seconds_per_frame: float) -> int:
    """Whole seconds (HTTP's Retry-After) for ``frames_ahead`` to drain at ``seconds_per_frame``; at least 1."""
    return max(1, math.ceil(max(0, frames_ahead) * max(0.0, seconds_per_frame)))


def admit(load: Load, frames: int, config: DuoConfig, *, big_seconds_per_frame: float = 0.0,
          recovery_possible: bool = True) -> Admission:
    """Admit a request of ``frames`` frames or refuse it (pure).

    Refused while draining (503), when the admitted frames would exceed ``max_queued`` (429), or
    while the recovery queue holds ``max_recovery_queued`` frames or more (429: the big model is
    the bottleneck; ``recovery_possible`` False for a single system, whose frames all queue for the
    big model and count in ``in_system``). The recovery queue holds admitted frames only, so it
    never exceeds ``max_queued`` and never has to drop one. ``Retry-After`` is the time the big
    model needs for the frames ahead (at least 1 s)."""
    if load.draining:
        return Admission(False, DRAINING, 503, 1)
    wait = retry_after_s(load.recovery_queued if recovery_possible else load.in_system, big_seconds_per_frame)
    if load.in_system + frames > config.max_queued:
        return Admission(False, QUEUE_FULL, 429, wait)
    if recovery_possible and load.recovery_queued >= config.max_recovery_queued:
        return Admission(False, RECOVERY_FULL, 429, wait)
    return Admission(True, ADMITTED, 200)


# --- dynamic batching ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchPlan:
    """``take`` frames now (0: none), or wait ``wait_s`` more (None: the queue is empty, wait for one)."""

    take: int
    wait_s: float | None


def plan_batch(queued: int, oldest_age_s: float, max_batch: int, max_wait_s: float) -> BatchPlan:
    """When the next batch leaves (pure): at once with ``max_batch`` frames when that many wait, or
    with all of them once the oldest has waited ``max_wait_s``; else wait for that moment."""
    if queued <= 0:
        return BatchPlan(0, None)
    if queued >= max_batch:
        return BatchPlan(max_batch, 0.0)
    if oldest_age_s >= max_wait_s:
        return BatchPlan(queued, 0.0)
    return BatchPlan(0, max_wait_s - oldest_age_s)


T = TypeVar("T")


class BatchQueue(Generic[T]):
    """A FIFO of items stamped with the (caller's) clock on arrival; :meth:`next_batch` applies :func:`plan_batch`."""

    def __init__(self, max_batch: int, max_wait_s: float) -> None:
        self.max_batch = check_int("BatchQueue.max_batch", max_batch, low=1)
        self.max_wait_s = check_number("BatchQueue.max_wait_s", max_wait_s, low=0.0)
        self._items: deque[tuple[float, T]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, now: float) -> None:
        self._items.append((now, item))

    def plan(self, now: float) -> BatchPlan:
        oldest = now - self._items[0][0] if self._items else 0.0
        return plan_batch(len(self._items), oldest, self.max_batch, self.max_wait_s)

    def next_batch(self, now: float) -> tuple[list[T], float | None]:
        """The batch due at ``now`` (maybe empty) and, if none is due, how long to wait (None: empty queue)."""
        plan = self.plan(now)
        return [self._items.popleft()[1] for _ in range(plan.take)], plan.wait_s

    def take_all(self, limit: int) -> list[T]:
        """Up to ``limit`` items at once, oldest first (the recovery queue: no waiting for company)."""
        return [self._items.popleft()[1] for _ in range(min(limit, len(self._items)))]


# --- command-line options (``python -m mmnet.server`` and ``mmnet serve``) ----------------------------------


def add_duo_options(parser: argparse.ArgumentParser) -> None:
    """The Dynamic Duo options of ``python -m mmnet.server`` and ``mmnet serve``."""
    duo = parser.add_argument_group("Dynamic Duo (instead of a bundle)")
    duo.add_argument("--duo", metavar="DUO_POOL_JSON",
                     help="serve the little/big pair of this duo_pool.json's serving block (mmnet.benchmarks.duo_pool)")
    duo.add_argument("--target", help="--duo: the target's baseline model id (default: the block's default_target)")
    duo.add_argument("--rule", help="--duo: the probe rule, single or per_class (default: the block's default_rule)")
    duo.add_argument("--big-alone", action="store_true",
                     help="--duo: serve the chosen pair's big model alone (the baseline a pair is compared with)")
    duo.add_argument("--max-batch", type=int, default=DuoConfig.max_batch,
                     help=f"--duo: frames per worker pass at most (default {DuoConfig.max_batch})")
    duo.add_argument("--max-wait-ms", type=float, default=DuoConfig.max_wait_ms,
                     help=f"--duo: the longest a frame waits for a batch to fill (default {DuoConfig.max_wait_ms:g})")
    duo.add_argument("--max-queued", type=int, default=DuoConfig.max_queued,
                     help=f"--duo: admitted frames not yet answered at most; beyond: 429 (default {DuoConfig.max_queued})")
    duo.add_argument("--max-recovery-queued", type=int, default=DuoConfig.max_recovery_queued,
                     help="--duo: frames waiting for the big model at most; beyond: 429 "
                     f"(default {DuoConfig.max_recovery_queued})")
    duo.add_argument("--drain-timeout-s", type=float, default=DuoConfig.drain_timeout_s,
                     help=f"--duo: on SIGTERM, seconds admitted requests have to finish (default {DuoConfig.drain_timeout_s:g})")


def duo_config_from(args: argparse.Namespace) -> DuoConfig:
    return DuoConfig(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queued=args.max_queued,
                     max_recovery_queued=args.max_recovery_queued, drain_timeout_s=args.drain_timeout_s)
