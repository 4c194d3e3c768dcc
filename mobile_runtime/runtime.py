"""The reference runtime: runs a bundle frame by frame as the dissertation's runtime does (§4.3, §5.2).

Per frame: the selector (:mod:`mmnet.runtime.selector`, pure) decides the path from the mode, the
live link estimate, server load and the previous frame; the minions run on LiteRT interpreters and
the detector (:mod:`mmnet.runtime.detector`) accepts their answer or sends the frame to the
master, on the device or behind a TF Serving REST API (:mod:`mmnet.runtime.remote`). Every frame
gets an answer from the best path that can give one. When the cloud master fails (unreachable,
timeout, 5xx, malformed reply) the device master answers instead; when the minions fail (an
interpreter raising) the master answers; when no master can answer, the minions' answer does,
marked ``verified=False`` (or, when the master was meant to answer alone, the emergency minions').
Every fallback is counted, logged and recorded in the frame's result under a code of
:data:`FALLBACK_CODES`. Only a frame no path could answer is lost: :class:`FrameLostError`, counted
by cause (:meth:`Runtime.losses`).

Audit sampling (beyond the paper): with probability ``audit_rate`` an accepted minion answer is also
sent to the master on a background thread, off the critical path, to measure the live miss rate.
At most ``max_audits_in_flight`` audits wait at once; a sampled frame beyond them is counted as a
skipped audit, so a long stream with a slow master keeps a bounded memory.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from mmnet.format.bundle import Bundle, load_bundle
from mmnet.format.checks import check_choice, check_int, check_number, is_real
from mmnet.format.errors import BundleError, ConfigError, DataError, MmnetError
from mmnet.format.runtime_config import MASTER_ONLY, MODES, TEMPERATURE_RANGE, check_runtime_numbers
from mmnet.runtime.detector import (
    NEVER,
    FrameVerdict,
    calibrated_top1,
    calibration_table,
    check_thresholds,
    detect_frame,
    lookup_table,
)
from mmnet.runtime.interpreter import TFLiteClassifier, check_model_file
from mmnet.runtime.learned_detector import LOGISTIC, LogisticDetector, logistic_frame, score_table
from mmnet.runtime.network import NetworkProfile, transfer_energy_mj
from mmnet.runtime.preprocessing import conform_frame, model_input, preprocess
from mmnet.runtime.remote import FAILURE_KINDS, RemoteMaster, RemoteMasterError
from mmnet.runtime.selector import (
    CostingCache,
    Decision,
    HistoryEntry,
    SelectorTables,
    after_frame_trusted,
    decide_trusted,
    initial_state,
    observe_rtt,
    rtt_from_request_ms,
)

__all__ = ["FALLBACK_CODES", "FrameLostError", "FrameResult", "MinionSystem", "Runtime", "PLACEMENT_CHOICES",
           "MAX_AUDITS_IN_FLIGHT"]

log = logging.getLogger(__name__)

PLACEMENT_CHOICES = ("auto", "device", "cloud")
# Audits waiting for or at the master at once; each holds a copy of its frame. A sampled frame
# beyond it is counted as a skipped audit: on a long stream a slow master costs audits, not memory.
MAX_AUDITS_IN_FLIGHT = 16

# Why a frame was answered by another path than its decision's (FrameResult.fallbacks): the cloud
# master failed (one code per RemoteMasterError kind; cloud_error: the client raised anything else),
# the path needs a device master this runtime does not hold, the minions or the device master raised.
FALLBACK_CODES = (*(f"cloud_{kind}" for kind in FAILURE_KINDS), "cloud_error", "no_device_master", "minion_error",
                  "device_master_error")
_INF = math.inf


class FrameLostError(MmnetError, RuntimeError):
    """No path could answer a frame. ``cause`` names the last failure (its exception type);
    ``fallbacks`` are the paths that failed before it, as in :attr:`FrameResult.fallbacks`."""

    def __init__(self, message: str, *, cause: str, fallbacks: tuple[str, ...]) -> None:
        super().__init__(message)
        self.cause = cause
        self.fallbacks = fallbacks


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4 µs per frame, a tenth of the budget
class FrameResult:
    """One classified frame: the answer, how it was reached, what it cost, and why."""

    index: int
    timestamp_s: float
    label: int
    label_name: str
    confidence: float
    path: str  # the selector's path, as executed (a cloud failure turns master_cloud into master_device; failed
    # minions turn minions into the master's path)
    system: str
    recovered: bool  # the detector sent the frame to the master
    verified: bool  # False: a minion answer the master should have checked but could not
    minion_answer: int | None
    master_answer: int | None
    master_placement: str | None  # where the master actually ran, None if it did not
    # preprocess (resize, normalise, quantise), minions (interpreters), master, remote, total, overhead (the rest)
    timings_ms: dict[str, float]
    energy_mj: float
    fallbacks: tuple[str, ...]
    audited: bool  # sent to the master for an audit (a sampled frame over the in-flight limit is not)
    decision: Decision
    # (FrameVerdict, threshold, disagreement threshold, score) when the minions ran: the class's confidence
    # threshold and no score (the paper's rule), or the score threshold and the score (the learned detector)
    detector_state: tuple | None

    @property
    def detector(self) -> dict[str, Any]:
        """Agreement rule, confidence, threshold and verdict of the detector ({} if the minions did not run)."""
        if self.detector_state is None:
            return {}
        verdict, threshold, disagreement_threshold, score = self.detector_state
        checked = self.decision.runs_detector
        if verdict.scored:
            return {"kind": LOGISTIC, "agree": verdict.agree, "confidence": verdict.confidence, "score": score,
                    "threshold": threshold, "verdict": verdict.reason if checked else "unchecked"}
        return {"agree": verdict.agree, "confidence": verdict.confidence, "threshold": threshold,
                "disagreement_threshold": disagreement_threshold, "verdict": verdict.reason if checked else "unchecked"}

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "timestamp_s": self.timestamp_s, "label": self.label, "label_name": self.label_name,
            "confidence": self.confidence, "path": self.path, "system": self.system, "recovered": self.recovered,
            "verified": self.verified, "minion_answer": self.minion_answer, "master_answer": self.master_answer,
            "master_placement": self.master_placement, "timings_ms": self.timings_ms, "energy_mj": self.energy_mj,
            "fallbacks": list(self.fallbacks), "audited": self.audited,
            "decision": {**self.decision.to_json(), "detector": self.detector},
        }


def _learned_detector(tuned: dict[str, Any], minions: int, where: str) -> LogisticDetector | None:
    """The tuned mode's learned detector; None when it runs the paper's rule (no ``detector``, or its kind)."""
    spec = tuned.get("detector")
    if spec is None or spec.get("kind") != LOGISTIC:
        return None
    return LogisticDetector.from_json(spec, minions, where)


@dataclass(frozen=True)
class MinionSystem:
    """A minion system as the runtime runs it in one mode, resolved once from the runtime config."""

    name: str
    mode: str
    minions: tuple[str, ...]
    temperatures: tuple[float, ...]
    # per minion: the lookup_table of its 8-bit codes' calibration_table; None: float scores
    tables: tuple[list[float] | np.ndarray | None, ...]
    thresholds: list[float]  # checked; plain floats: indexing a numpy array costs more per frame than the comparison
    disagreement_threshold: float | None
    detector: LogisticDetector | None = None  # None: the paper's rule with ``thresholds``
    # per minion: the lookup_table of its 8-bit codes' score_table (learned detector)
    score_tables: tuple[list[float] | np.ndarray | None, ...] = ()

    def __post_init__(self) -> None:
        if not len(self.minions) == len(self.temperatures) == len(self.tables):
            raise ConfigError(f"system {self.name}: {len(self.minions)} minions, {len(self.temperatures)} temperatures "
                              f"and {len(self.tables)} calibration tables; expected one of each per minion")


@dataclass
class _Counters:
    """What the runtime has done so far. Audits: requested = sent + skipped; sent = done + failed + in flight."""

    frames: int = 0  # answered; a lost frame counts in lost only
    paths: Counter = field(default_factory=Counter)
    frames_lost: int = 0
    lost: Counter = field(default_factory=Counter)  # by cause
    fallbacks: Counter = field(default_factory=Counter)
    recovered: int = 0
    unverified: int = 0
    audits_requested: int = 0
    audits_sent: int = 0
    audits_skipped: int = 0
    audits_done: int = 0
    audits_disagree: int = 0
    audits_failed: int = 0


def _check_timestamp(value: Any) -> float:
    """A frame's timestamp as float seconds, or a DataError naming what it was."""
    if is_real(value):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = _INF
        if math.isfinite(seconds):
            return seconds
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    raise DataError(f"timestamp_s is {shown} ({type(value).__name__}); expected a finite number of seconds")


class Runtime:
    """Runs a bundle's models together. Not thread-safe: one runtime per camera stream."""

    def __init__(
        self,
        bundle: Bundle | str | Path,
        *,
        mode: str = "normal",
        network: str | None = None,
        master_url: str | None = None,
        master_token: str | None = None,
        placement: str = "auto",
        device_master: bool = True,
        num_threads: int = 1,
        audit_rate: float = 0.0,
        max_audits_in_flight: int = MAX_AUDITS_IN_FLIGHT,
        seed: int = 0,
        remote_timeout_s: float = 2.0,
        remote_retries: int = 1,
        clock: Callable[[], float] = time.perf_counter,
        master_client: Any = None,
    ):
        """``master_client`` replaces the TF Serving client of ``master_url``: any object with
        ``predict(frame) -> RemoteResult`` (raising ``RemoteMasterError``) and ``close()``, e.g. a
        benchmark's modelled network. With ``audit_rate`` > 0 the audit thread calls it too. The
        runtime closes it."""
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        if self.bundle.runtime_config is None:
            raise BundleError(f"bundle {self.bundle.path} has no runtime_config.json; run `mmnet configure {self.bundle.path}`")
        self.config = self.bundle.runtime_config
        # A number the runtime compares or divides by fails here, not on every frame.
        check_runtime_numbers(self.config.document, f"runtime config of bundle {self.bundle.path}")
        check_choice("mode", mode, MODES)
        check_choice("placement", placement, PLACEMENT_CHOICES)
        if master_url is not None and master_client is not None:
            raise ConfigError("give a master URL or a master client, not both")
        has_cloud = master_url is not None or master_client is not None
        if placement == "cloud" and not has_cloud:
            raise ConfigError("placement 'cloud' needs a master URL (--master-url)")
        if placement == "cloud" and not self.config.document["modes"][mode]["cloud"]:
            raise ConfigError(f"mode {mode} never leaves the device; placement 'cloud' is not allowed")
        if not device_master and (not has_cloud or not self.config.document["modes"][mode]["cloud"]):
            raise ConfigError(f"without a device master the runtime needs a master URL and a mode that may use "
                              f"the cloud; got master URL {master_url!r}, mode {mode}")
        self.audit_rate = check_number("audit_rate", audit_rate, high=1.0)
        self.max_audits_in_flight = check_int("max_audits_in_flight", max_audits_in_flight, low=1)
        self._mode = mode
        self.profile = check_choice("network profile", network or self.config.document["default_profile"],
                                    self.config.profiles)
        self.tables = SelectorTables.from_config(self.config)
        self.costing_cache = CostingCache()  # the selector's memo of rules 1-4 for this runtime's frames
        self.state = initial_state(self.tables, self.profile)
        # Without a cloud master (or without a device master) placement is not the selector's choice.
        self._override = {"auto": None, "device": "device", "cloud": "cloud"}[placement]
        if not has_cloud:
            self._override = "device"
        elif not device_master:
            self._override = "cloud"
        self.device_master = device_master
        self._clock = clock
        self._rng = random.Random(seed)
        self._threads = num_threads
        self._classifiers: dict[str, TFLiteClassifier] = {}
        self._systems: dict[tuple[str, str], MinionSystem] = {}  # per (system, mode): a user may switch modes
        self._accept_all = [0.0] * self.bundle.num_classes  # history rule 1: no detection
        self._remote = master_client if master_url is None else self._remote_master(
            master_url, master_token, remote_timeout_s, remote_retries)
        # A RemoteMaster is not thread-safe: the audit thread makes its own from the same settings.
        self._audit_remote_settings = (None if master_url is None
                                       else (master_url, master_token, remote_timeout_s, remote_retries))
        self._audit_remote: Any = None
        self._audit_pool: ThreadPoolExecutor | None = None
        self._audits_in_flight: set[Future] = set()
        self._audit_lock = threading.Lock()
        self._audits_idle = threading.Condition(self._audit_lock)
        self._audit_classifier: TFLiteClassifier | None = None
        self.counters = _Counters()
        self._logged_fallbacks: set[str] = set()  # fallback codes logged at WARNING once
        self._network = NetworkProfile.from_json({"name": self.profile, **self.config.document["network_profiles"][self.profile]})
        self._upload_sizes = self.config.document["upload"]
        self._energy = {m: v["energy_mj"] for m, v in self.config.document["latency"].items()}
        self._resolution = {m.id: m.resolution for m in self.bundle.models}
        self._frame_shape = self.bundle.preprocessing.frame_shape
        for model in self._models_needed():
            self._classifier(model)  # load every interpreter up front: no first-frame surprises
        for name, system in self.config.document["systems"].items():  # and check every detector
            for user_mode in MODES:
                if self.config.document["modes"][user_mode]["thresholds"] in system["modes"]:
                    self._minion_system(name, user_mode)

    def _remote_master(self, url: str, token: str | None, timeout_s: float, retries: int) -> RemoteMaster:
        upload = self.config.document["upload"]  # the frame travels as the config costed it
        return RemoteMaster(url, self.bundle.name, token=token, timeout_s=timeout_s, retries=retries,
                            encoding=upload["encoding"], jpeg_quality=upload.get("jpeg_quality", 90),
                            num_classes=self.bundle.num_classes)

    # -- models -------------------------------------------------------------------------------

    def _models_needed(self) -> list[str]:
        models = {m for s in self.config.document["systems"].values() for m in s["minions"]}
        if self.device_master:
            models.add(self.config.master_model)
        return sorted(models)

    def minion_system(self, name: str) -> MinionSystem:
        """System ``name`` as it runs in the current mode: minions, their calibration, the tuned detector."""
        return self._minion_system(name, self.mode)

    def _minion_system(self, name: str, mode: str) -> MinionSystem:
        key = (name, mode)
        system = self._systems.get(key)
        if system is None:
            tuned = self.config.tuned(name, mode)
            minions = tuple(self.config.document["systems"][name]["minions"])
            low, high = TEMPERATURE_RANGE
            classes = self.bundle.num_classes
            temperatures = tuple(check_number(f"temperature of minion {m!r}", self.config.temperature(m), low=low, high=high)
                                 for m in minions)
            system = self._systems[key] = MinionSystem(
                name=name,
                mode=mode,
                minions=minions,
                temperatures=temperatures,
                tables=tuple(lookup_table(calibration_table(self._classifiers[m].dequantization_table, t), classes)
                             for m, t in zip(minions, temperatures)),
                thresholds=check_thresholds(tuned["thresholds"], self.bundle.num_classes, f"{name} thresholds").tolist(),
                disagreement_threshold=check_number(f"{name} disagreement threshold", tuned["disagreement_threshold"],
                                                    high=NEVER, nullable=True),
                detector=_learned_detector(tuned, len(minions), f"{name} {mode} detector"),
                score_tables=tuple(lookup_table(score_table(self._classifiers[m].dequantization_table), classes)
                                   for m in minions),
            )
        return system

    def _classifier(self, model_id: str) -> TFLiteClassifier:
        if model_id not in self._classifiers:
            record = self.bundle.model(model_id)
            classifier = TFLiteClassifier(
                self.bundle.model_path(model_id), num_threads=self._threads, use_xnnpack=record.metrics.get("xnnpack", True))
            check_model_file(classifier, model_id, resolution=record.resolution,
                             channels=self.bundle.preprocessing.channels, num_classes=self.bundle.num_classes)
            self._classifiers[model_id] = classifier
        return self._classifiers[model_id]

    @property
    def mode(self) -> str:
        """The user mode frames are classified in; a user may switch it between frames."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        # checked here, once, so that classify can hand the selector a mode it need not check per frame
        self._mode = check_choice("mode", value, MODES)

    # -- one frame --------------------------------------------------------------------------------

    def classify(self, frame: np.ndarray, timestamp_s: float | None = None, *, index: int | None = None) -> FrameResult:
        """Classifies one frame (uint8 H×W×C, or float in pixel units 0..255).

        A frame of another height or width (same channels) is first conformed to the manifest's
        frame shape with the bundle's resize policy (:func:`conform_frame`; float pixels are rounded
        to uint8 first); that time counts as preprocessing.

        A frame or timestamp the runtime cannot take is a DataError; a frame no path could answer,
        a :class:`FrameLostError`. Either way the runtime stays usable for the next frame.
        """
        # Written for speed (mmnet.benchmarks.runtime_overhead measures it): locals over attributes,
        # the common frame and timestamp checked inline.
        clock = self._clock
        started = clock()
        if timestamp_s is None:
            timestamp = started
        elif type(timestamp_s) is float and -_INF < timestamp_s < _INF:  # false for NaN
            timestamp = timestamp_s
        else:
            timestamp = _check_timestamp(timestamp_s)
        conform_ms = 0.0
        if not (type(frame) is np.ndarray and frame.dtype == np.uint8 and frame.shape == self._frame_shape):
            frame = self._check_frame(frame)  # the uncommon cases, each with its own error
            conform_ms = 1000.0 * (clock() - started)  # another size is conformed: preprocessing time
        counters = self.counters
        if index is None:
            index = counters.frames + counters.frames_lost
        # The selector's state, tables, mode and override are the runtime's own, checked when made; only an
        # injected clock's time is checked here, as decide() would check it.
        now_s = timestamp
        if timestamp_s is None and not (isinstance(now_s, (int, float)) and math.isfinite(now_s)):
            now_s = check_number("now_s", now_s, low=None)
        decision = decide_trusted(self.tables, self.state, self._mode, now_s, self._override, self.costing_cache)
        path = decision.path
        runs_detector = path == "minions"
        timings = {"preprocess": conform_ms, "minions": 0.0, "master": 0.0, "remote": 0.0}
        fallbacks: list[str] = []
        energy = 0.0
        minion_answer = master_answer = master_placement = None
        detector_state: tuple[FrameVerdict, float, float | None, float | None] | None = None
        confidence = 0.0
        recovered = False
        verified = True
        inputs: dict[int, np.ndarray] = {}

        runs_minions = runs_detector or path == "minions_unchecked"
        minions_failed = False
        if runs_minions:
            try:
                system = self._minion_system(decision.system, self._mode)
                outputs = []
                prep_s = invoke_s = 0.0
                # Stages timed apart: preprocessing (resize and normalise, cached per resolution; the
                # model's input quantization) and the interpreter. The detector's calibration of the
                # outputs stays in the overhead with the rest of the runtime's own work.
                for model in system.minions:
                    classifier = self._classifiers[model]
                    resolution = self._resolution[model]
                    tick = clock()
                    prepared = model_input(frame, self.bundle.preprocessing, resolution, classifier, inputs)
                    tock = clock()
                    prep_s += tock - tick
                    outputs.append(classifier.invoke_one(prepared)[0])  # 8-bit codes go to the detector as they are
                    invoke_s += clock() - tock
                    energy += self._energy[model]
                timings["preprocess"] += 1000.0 * prep_s
                timings["minions"] = 1000.0 * invoke_s
                if system.detector is not None:  # history rule 1 (no detection) ignores its verdict below
                    verdict, score = logistic_frame(outputs, system.detector, system.score_tables)
                    detector_state = (verdict, system.detector.threshold, None, score)
                else:
                    if runs_detector:
                        thresholds, relaxed = system.thresholds, system.disagreement_threshold
                    else:  # history rule 1: the answer is accepted as is
                        thresholds, relaxed = self._accept_all, 0.0
                    verdict = detect_frame(outputs, system.temperatures, thresholds, relaxed, system.tables)
                    detector_state = (verdict, system.thresholds[verdict.answer], system.disagreement_threshold, None)
                minion_answer = verdict.answer
                confidence = verdict.confidence
                recovered = runs_detector and not verdict.accept
            except Exception as e:  # the master answers what the minions could not
                self._fall_back("minion_error", e, fallbacks)
                minions_failed = True
                minion_answer = detector_state = None
                confidence = 0.0
                recovered = False

        if not runs_minions or recovered or minions_failed:
            master_answer, master_confidence, master_placement, cost = self._run_master(
                frame, decision, timestamp, inputs, timings, fallbacks)
            energy += cost
            if master_answer is None:  # no master could answer: keep the minions' answer, unverified
                if minion_answer is None:
                    minion_answer, confidence, extra = self._emergency_minions(frame, inputs, timings, fallbacks, index)
                    energy += extra
                verified = False
            else:
                confidence = master_confidence
                if minions_failed or (path == "master_cloud" and master_placement == "device"):
                    path = "master_cloud" if master_placement == "cloud" else "master_device"

        # Every path ends with an answer: the minions', the master's or the emergency minions'.
        label = cast(int, minion_answer if master_answer is None else master_answer)
        audited = (runs_detector and not recovered and not minions_failed and self.audit_rate > 0
                   and self._rng.random() < self.audit_rate and self._audit(frame, label))

        # A recovery no master answered leaves no verdict for the history rules to follow.
        self.state = after_frame_trusted(self.state, HistoryEntry(
            timestamp, minion_answer, master_answer, recovered and master_answer is not None))
        label_name = self.bundle.labels[label]
        total = 1000.0 * (clock() - started)
        timings["total"] = total
        timings["overhead"] = max(0.0, total - timings["preprocess"] - timings["minions"] - timings["master"] - timings["remote"])
        counters.frames += 1
        counters.paths[path] += 1
        if recovered:
            counters.recovered += 1
        if not verified:
            counters.unverified += 1
        if fallbacks:
            counters.fallbacks.update(fallbacks)
        return FrameResult(
            index=index, timestamp_s=timestamp, label=label, label_name=label_name,
            confidence=confidence, path=path, system=decision.system, recovered=recovered, verified=verified,
            minion_answer=minion_answer, master_answer=master_answer, master_placement=master_placement,
            timings_ms=timings, energy_mj=energy, fallbacks=tuple(fallbacks), audited=audited, decision=decision,
            detector_state=detector_state)

    def _fall_back(self, code: str, error: BaseException, fallbacks: list[str]) -> None:
        """Records that a path failed: in the frame's fallbacks, and in the log (the first time per code
        at WARNING; the summary counts every one)."""
        fallbacks.append(code)
        first = code not in self._logged_fallbacks
        self._logged_fallbacks.add(code)
        log.log(logging.WARNING if first else logging.DEBUG, "%s (%s: %s)%s", code, type(error).__name__, error,
                "; further ones are counted, not logged" if first else "")

    def _check_frame(self, frame: Any) -> np.ndarray:
        """``frame`` as an array of the manifest's frame shape the runtime can classify, or a
        DataError saying what was wrong."""
        shape = self._frame_shape
        channels = shape[2]
        expected = (f"expected a uint8 array (H, W, {channels}) of any height and width (the bundle's frame shape is "
                    f"{shape}), or float pixels 0..255")
        if isinstance(frame, np.ma.MaskedArray):
            raise DataError(f"frame is a numpy masked array; fill the masked pixels first (frame.filled(value)): "
                            f"the runtime never classifies hidden data; {expected}")
        if isinstance(frame, np.ndarray):
            array = np.asarray(frame)
        else:
            try:
                array = np.asarray(frame)
            except (ValueError, TypeError, RecursionError, OverflowError, MemoryError) as e:
                raise DataError(f"frame is a {type(frame).__name__} numpy cannot read as an array ({e}); {expected}") from e
        if array.ndim != 3 or array.shape[2] != channels or array.shape[0] < 1 or array.shape[1] < 1:
            raise DataError(f"frame has shape {array.shape}; expected (H, W, {channels}) with H, W >= 1: any height and "
                            f"width (conformed to the bundle's frame shape {shape}), {channels} channel"
                            f"{'s' if channels != 1 else ''} as the bundle's manifest says")
        if array.dtype != np.uint8:
            if array.dtype.kind != "f":
                raise DataError(f"frame has dtype {array.dtype}; expected uint8, or float in pixel units 0..255")
            low, high = float(array.min()), float(array.max())
            if not (math.isfinite(low) and math.isfinite(high)):
                raise DataError("frame contains NaN or infinite values; expected float pixels in 0..255")
            if low < 0.0 or high > 255.0:
                raise DataError(f"frame values span [{low:g}, {high:g}]; expected float pixels in 0..255")
            if array.shape == shape:
                return array
            array = np.rint(array).astype(np.uint8)  # conform_frame takes uint8 pixels
        spec = self.bundle.preprocessing
        return conform_frame(array, shape[0], shape[1], spec.resize_policy)

    def _scores(self, model: str, frame: np.ndarray, inputs: dict[int, np.ndarray], timings: dict, stage: str) -> np.ndarray:
        """One model's float32 class scores on ``frame``: its input timed as preprocessing (``inputs``
        caches normalised inputs per resolution), the interpreter as ``stage``."""
        classifier = self._classifier(model)
        tick = self._clock()
        prepared = model_input(frame, self.bundle.preprocessing, self._resolution[model], classifier, inputs)
        tock = self._clock()
        raw = classifier.invoke_one(prepared)
        timings["preprocess"] += 1000.0 * (tock - tick)
        timings[stage] += 1000.0 * (self._clock() - tock)
        return classifier.scores_one(raw)

    @staticmethod
    def _upload(frame: np.ndarray) -> np.ndarray:
        return frame if frame.dtype == np.uint8 else np.clip(np.rint(frame), 0, 255).astype(np.uint8)

    def _run_master(self, frame, decision: Decision, timestamp: float, inputs, timings, fallbacks):
        """The master's answer, confidence, where it ran and its energy; (None, ...) if none could answer."""
        master = self.config.master_model
        if decision.placement == "cloud" and self._remote is not None:
            tick = self._clock()
            try:
                result = self._remote.predict(self._upload(frame))
                probabilities = np.asarray(result.probabilities)
                if probabilities.shape != (self.bundle.num_classes,):
                    raise RemoteMasterError(f"the master's reply has shape {probabilities.shape}; expected "
                                            f"({self.bundle.num_classes},), one probability per class", kind="malformed")
            except Exception as e:  # any failure of the client is a cloud failure
                waited = 1000.0 * (self._clock() - tick)
                timings["remote"] += waited
                # A dead or failing server reads as an overloaded one: the selector backs off.
                self.state = observe_rtt(self.tables, self.state, rtt_ms=waited, now_s=timestamp)
                self._fall_back(f"cloud_{e.kind}" if isinstance(e, RemoteMasterError) else "cloud_error", e, fallbacks)
                if not self.device_master:
                    return None, 0.0, None, 0.0
            else:
                timings["remote"] += 1000.0 * (self._clock() - tick)
                rtt = rtt_from_request_ms(self.tables, self.state.link, result.rtt_ms)
                self.state = observe_rtt(self.tables, self.state, rtt_ms=rtt, now_s=timestamp)
                radio = transfer_energy_mj(self._network, self._upload_sizes["bytes"], self._upload_sizes["reply_bytes"],
                                           wait_ms=rtt + self._upload_sizes["server_ms"])
                answer = int(np.argmax(probabilities))
                return answer, float(probabilities[answer]), "cloud", radio
        if not self.device_master:
            fallbacks.append("no_device_master")
            return None, 0.0, None, 0.0
        try:
            probabilities = self._scores(master, frame, inputs, timings, "master")
        except Exception as e:  # the minions' answer stands, unverified
            self._fall_back("device_master_error", e, fallbacks)
            return None, 0.0, None, 0.0
        answer = int(np.argmax(probabilities))
        return answer, float(probabilities[answer]), "device", self._energy.get(master, 0.0)

    def _emergency_minions(self, frame, inputs, timings, fallbacks: list[str], index: int) -> tuple[int, float, float]:
        """The default system's first minion, calibrated, when the master was meant to answer alone
        and could not; FrameLostError when it cannot answer either."""
        try:
            system = self.config.selection(self.profile, "normal")["system"]
            if system == MASTER_ONLY:
                system = next(iter(self.config.document["systems"]), None)
                if system is None:
                    raise BundleError("the runtime config defines no minion system to fall back on")
            model = self.config.document["systems"][system]["minions"][0]
            scores = self._scores(model, frame, inputs, timings, "minions")
            answer, confidence = calibrated_top1(scores, self.config.temperature(model))
        except Exception as e:
            cause = type(e).__name__
            self.counters.frames_lost += 1
            self.counters.lost[cause] += 1
            tried = ", ".join(fallbacks) or "none"
            raise FrameLostError(f"frame {index} lost: no path could answer it (failed before: {tried}; "
                                 f"then the emergency minions: {cause}: {e})", cause=cause,
                                 fallbacks=tuple(fallbacks)) from e
        return answer, confidence, self._energy.get(model, 0.0)

    # -- audits -----------------------------------------------------------------------------------

    def _audit(self, frame: np.ndarray, minion_answer: int) -> bool:
        """Sends an accepted frame to the master on the audit thread; False if it was skipped."""
        # The cloud master audits unless the mode keeps frames on the device (placement only steers
        # the frames' own master, on the critical path).
        cloud = self._remote is not None and self.config.document["modes"][self.mode]["cloud"]
        counters = self.counters
        with self._audit_lock:
            counters.audits_requested += 1
            if len(self._audits_in_flight) >= self.max_audits_in_flight or not (cloud or self.device_master):
                counters.audits_skipped += 1
                return False
            counters.audits_sent += 1
            if self._audit_pool is None:
                self._audit_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmnet-audit")
            snapshot = (self._upload(frame) if cloud else frame).copy()  # the caller may reuse its frame buffer
            future = self._audit_pool.submit(self._audit_answer, snapshot, cloud)
            self._audits_in_flight.add(future)
        future.add_done_callback(lambda done: self._audit_finished(done, minion_answer))
        return True

    def _audit_answer(self, frame: np.ndarray, cloud: bool) -> int:
        """The master's answer to an audited frame (runs on the audit thread)."""
        if cloud:
            if self._audit_remote is None:
                settings = self._audit_remote_settings
                self._audit_remote = self._remote if settings is None else self._remote_master(*settings)
            return int(np.argmax(self._audit_remote.predict(frame).probabilities))
        if self._audit_classifier is None:  # its own interpreter: they are not thread-safe
            self._audit_classifier = TFLiteClassifier(self.bundle.model_path(self.config.master_model))
        x = preprocess(frame[None], self.bundle.preprocessing, self._resolution[self.config.master_model])
        return int(np.argmax(self._audit_classifier.predict(x)[0]))

    def _audit_finished(self, future: Future, minion_answer: int) -> None:
        """Records an audit's outcome and lets go of its future (an audit never affects a frame)."""
        error = future.exception() if not future.cancelled() else None
        if error is not None:
            log.warning("audit failed: %s: %s", type(error).__name__, error)
        counters = self.counters
        with self._audits_idle:
            self._audits_in_flight.discard(future)
            if future.cancelled() or error is not None:
                counters.audits_failed += 1
            else:
                counters.audits_done += 1
                counters.audits_disagree += int(future.result() != minion_answer)
            self._audits_idle.notify_all()

    @property
    def audits_in_flight(self) -> int:
        """Audits sent and not finished yet (at most ``max_audits_in_flight``)."""
        with self._audit_lock:
            return len(self._audits_in_flight)

    def wait_for_audits(self, timeout_s: float = 30.0) -> None:
        """Blocks until every audit sent so far has finished and been counted; TimeoutError after ``timeout_s``."""
        with self._audits_idle:
            if not self._audits_idle.wait_for(lambda: not self._audits_in_flight, timeout=timeout_s):
                raise TimeoutError(f"{len(self._audits_in_flight)} audits still running after {timeout_s:g} s")

    # -- bookkeeping ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        c = self.counters
        with self._audit_lock:  # the audit thread counts too
            audits = {"requested": c.audits_requested, "sent": c.audits_sent, "skipped": c.audits_skipped,
                      "in_flight": len(self._audits_in_flight), "done": c.audits_done,
                      "disagree": c.audits_disagree, "failed": c.audits_failed,
                      "live_miss_rate": (c.audits_disagree / c.audits_done) if c.audits_done else None}
        return {
            "frames": c.frames, "path_counts": dict(c.paths), "recovered": c.recovered, "unverified": c.unverified,
            "fallbacks": dict(c.fallbacks), "fallbacks_total": sum(c.fallbacks.values()), "audits": audits,
        }

    def losses(self) -> dict[str, Any]:
        """Frames no path could answer: how many, and how many per cause (the last failure's type)."""
        return {"frames_lost": self.counters.frames_lost, "lost_by_cause": dict(self.counters.lost)}

    def close(self) -> None:
        if self._audit_pool is not None:
            self._audit_pool.shutdown(wait=True)
            if self._audit_remote is not None and self._audit_remote is not self._remote:
                self._audit_remote.close()
        if self._remote is not None:
            self._remote.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
