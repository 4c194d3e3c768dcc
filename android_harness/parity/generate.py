"""Golden traces: the Python runtime's decisions on a real bundle, for the Java core to replay exactly.

``python -m android_harness.parity.generate --bundle bundles/digits --out android_harness/core/src/test/resources/parity``
runs :class:`mmnet.runtime.Runtime`, with real LiteRT interpreters, over the bundle's recorded test
frames under many conditions (every mode, each network profile, forced placements, RTT sequences that
trip the server-load back-off and clear it, frame intervals inside and beyond the speculation-history
distance, cloud faults, and config variants that make the cloud, a runner-up or "minions not worth it"
win). It writes into ``--out``:

- ``manifest.json`` and ``runtime_config.json``: copies of the bundle's (the .tflite files are not
  copied; the traces carry every model output the runtime used);
- ``recording.json``: the frames used (uint8, base64), and per model and frame the raw output tensor as
  the interpreter produced it (int8 or float32 little-endian, base64) and the first 16 hex digits of the
  sha256 of the prepared input tensor (so the Java side proves its preprocessing bit-identical);
- ``traces/<condition>.json``: the condition (config patches, runtime options) and per frame its inputs
  (test-frame index, timestamp, the scripted cloud reply or fault if the master was called remotely) and
  the expected result (path, label, recovered, placement, reason codes, estimates, detector, state after
  a cloud call, errors), then the runtime's counters;
- ``index.json``: the trace names and what they cover.

A config whose systems all speculate with one model (a SIEVE bundle, dissertation ch. 4) gets the same
conditions from a phone where speculation pays (:func:`_base_patches`), without the one about two
minions disagreeing, at most 40 frames each, plus its own (every speculative system a candidate on each
profile); it also gets the bundle's smallest packed model copied into ``models/`` for the Java core to
unpack.

``--extend --out DIR`` (no bundle) adds the :data:`DERIVED` traces ``DIR`` lacks: each differs from a
committed condition by a config patch only and decides as it does, so ``recording.json`` already holds
every model output it needs.

The runtime is driven as an app would drive it, through two seams only: its model loader
(``Runtime._classifier``) hands out recording wrappers around the real interpreters, and its remote
master is a scripted client whose faults advance an injected fake clock (so the waited time the
runtime feeds the server-load detection is exact). :func:`replay_resources` re-runs every committed
trace from ``recording.json`` without any model file, so a test can tell when the Python runtime and
the committed traces disagree.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.bundle import Bundle, ModelRecord, load_bundle
from mmnet.format.documents import validate_document
from mmnet.format.errors import MmnetError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.format.runtime_config import MASTER_ONLY, RuntimeConfig, check_runtime_config
from mmnet.format.vocabulary import NEVER
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.learned_detector import LOGISTIC, PER_CLASS, feature_names
from mmnet.runtime.preprocessing import preprocess
from mmnet.runtime.remote import RemoteMasterError, RemoteResult
from mmnet.runtime.runtime import FrameResult, Runtime

__all__ = ["TRACE_VERSION", "COLUMNS", "DERIVED", "ParityError", "Recording", "rows", "load_trace", "generate", "extend",
           "replay_resources", "main"]

TRACE_VERSION = 1
# Given to the Runtime so it builds a remote client; never contacted: the scripted client replaces it.
_PARITY_URL = "http://parity.invalid"
_HASH_HEX = 16


class ParityError(MmnetError, RuntimeError):
    """The traces, the recording and the Python runtime do not fit together."""


# --------------------------------------------------------------------------------------------
# Tensors: what the interpreter is fed and what it returns, exactly


def _prepare(batch: np.ndarray, tensor: dict[str, Any]) -> np.ndarray:
    """TFLiteClassifier.prepare_input from the manifest's tensor description (no interpreter needed)."""
    batch = np.asarray(batch).astype(np.float32, copy=False)
    if tensor["dtype"] == "float32":
        return np.ascontiguousarray(batch)
    info = np.iinfo(tensor["dtype"])
    q = np.round(batch / np.float32(tensor["scale"])) + tensor["zero_point"]
    return np.clip(q, info.min, info.max).astype(tensor["dtype"])


def _dequantize(raw: np.ndarray, tensor: dict[str, Any]) -> np.ndarray:
    """TFLiteClassifier.dequantize_output from the manifest's tensor description."""
    if tensor["dtype"] == "float32":
        return np.asarray(raw, dtype=np.float32)
    return ((np.asarray(raw).astype(np.float32) - tensor["zero_point"]) * np.float32(tensor["scale"])).astype(np.float32)


def _digest(prepared: np.ndarray) -> str:
    little = prepared.astype(prepared.dtype.newbyteorder("<"), copy=False)
    return hashlib.sha256(np.ascontiguousarray(little).tobytes()).hexdigest()[:_HASH_HEX]


def _b64(array: np.ndarray) -> str:
    little = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False))
    return base64.b64encode(little.tobytes()).decode("ascii")


class Recording:
    """The frames and, per (model, frame), the raw output and the prepared-input digest."""

    def __init__(self, frame_shape: tuple[int, int, int]) -> None:
        self.frame_shape = tuple(frame_shape)
        self.frames: dict[int, np.ndarray] = {}
        self.outputs: dict[str, dict[int, np.ndarray]] = {}
        self.digests: dict[str, dict[int, str]] = {}

    def put(self, model: str, frame: int, digest: str, raw: np.ndarray) -> None:
        known = self.digests.setdefault(model, {}).get(frame)
        if known is not None:
            if known != digest or not np.array_equal(self.outputs[model][frame], raw):
                raise ParityError(f"model {model} on frame {frame} gave a different input or output than before; "
                                  "the interpreter must be deterministic for golden traces")
            return
        self.digests[model][frame] = digest
        self.outputs.setdefault(model, {})[frame] = np.array(raw, copy=True)

    def output(self, model: str, frame: int) -> np.ndarray:
        try:
            return self.outputs[model][frame]
        except KeyError:
            raise ParityError(f"the Python runtime now runs model {model} on test frame {frame}, which the recording "
                              "lacks: regenerate the traces (see android_harness/core/README.md)") from None

    def digest(self, model: str, frame: int) -> str:
        self.output(model, frame)
        return self.digests[model][frame]

    def to_json(self, bundle: str) -> dict[str, Any]:
        models = {}
        for model in sorted(self.outputs):
            outputs = self.outputs[model]
            dtype = next(iter(outputs.values())).dtype
            models[model] = {
                "output_dtype": str(dtype),
                "outputs": {str(f): _b64(outputs[f]) for f in sorted(outputs)},
                "input_sha256_16": {str(f): self.digests[model][f] for f in sorted(outputs)},
            }
        return {
            "trace_version": TRACE_VERSION,
            "bundle": bundle,
            "split": "test",
            "frame_shape": list(self.frame_shape),
            "input_digest": f"first {_HASH_HEX} hex digits of the sha256 of the prepared input tensor's little-endian bytes",
            "frames": {str(f): _b64(self.frames[f]) for f in sorted(self.frames)},
            "models": models,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Recording:
        if doc.get("trace_version") != TRACE_VERSION:
            raise ParityError(f"recording has trace_version {doc.get('trace_version')!r}; expected {TRACE_VERSION}")
        rec = cls(tuple(doc["frame_shape"]))
        for key, text in doc["frames"].items():
            rec.frames[int(key)] = np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(rec.frame_shape)
        for model, entry in doc["models"].items():
            dtype = np.dtype(entry["output_dtype"]).newbyteorder("<")
            rec.outputs[model] = {int(k): np.frombuffer(base64.b64decode(v), dtype=dtype) for k, v in entry["outputs"].items()}
            rec.digests[model] = {int(k): v for k, v in entry["input_sha256_16"].items()}
        return rec


# --------------------------------------------------------------------------------------------
# The runtime's seams: model loader, remote master, clock


class _Cursor:
    """The test-frame index and position of the frame being classified."""

    frame = -1
    position = -1


class _RecordingClassifier:
    """A real interpreter that records what it was fed and what it returned."""

    def __init__(self, model: str, classifier: TFLiteClassifier, recording: Recording, cursor: _Cursor) -> None:
        self._model, self._classifier, self._recording, self._cursor = model, classifier, recording, cursor

    def predict(self, batch: np.ndarray) -> np.ndarray:  # batch 1: the same steps as TFLiteClassifier.predict
        return np.asarray(self.scores_one(self.invoke_one(self.quantize_one(batch))), dtype=np.float32)[None]

    # The single-frame stages of TFLiteClassifier, as Runtime.classify calls them for minions.

    def quantize_one(self, x: np.ndarray) -> np.ndarray:
        return self._classifier.prepare_input(x)

    def invoke_one(self, prepared: np.ndarray) -> np.ndarray:
        raw = self._classifier.invoke_raw(prepared)
        self._recording.put(self._model, self._cursor.frame, _digest(prepared), raw[0])
        return raw

    def scores_one(self, raw: np.ndarray) -> np.ndarray:
        return self._classifier.scores_one(raw)

    @property
    def input_dtype(self) -> np.dtype:
        return self._classifier.input_dtype

    @property
    def input_quantization(self) -> tuple[float, int] | None:
        return self._classifier.input_quantization

    @property
    def dequantization_table(self) -> list[float] | None:
        return self._classifier.dequantization_table

    @property
    def num_classes(self) -> int:
        return self._classifier.num_classes


class _ReplayClassifier:
    """Answers with the recorded output after checking the prepared input against the recorded digest."""

    def __init__(self, model: str, record: dict[str, Any], recording: Recording, cursor: _Cursor) -> None:
        self._model, self._record, self._recording, self._cursor = model, record, recording, cursor

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.scores_one(self.invoke_one(self.quantize_one(batch)))[None]

    # The single-frame stages of TFLiteClassifier, as Runtime.classify calls them for minions.

    def quantize_one(self, x: np.ndarray) -> np.ndarray:
        return _prepare(x, self._record["input"])

    def invoke_one(self, prepared: np.ndarray) -> np.ndarray:
        frame = self._cursor.frame
        expected = self._recording.digest(self._model, frame)
        digest = _digest(prepared)
        if digest != expected:
            raise ParityError(f"the prepared input of {self._model} on test frame {frame} has digest {digest}, the recording "
                              f"{expected}: preprocessing changed; regenerate the traces")
        return self._recording.output(self._model, frame)[None]

    def scores_one(self, raw: np.ndarray) -> np.ndarray:
        return _dequantize(raw, self._record["output"])[0]

    # TFLiteClassifier's input description, from the manifest's tensor record.

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._record["input"]["dtype"])

    @property
    def input_quantization(self) -> tuple[float, int] | None:
        tensor = self._record["input"]
        if tensor["dtype"] == "float32" or not tensor["scale"]:
            return None
        return float(tensor["scale"]), int(tensor["zero_point"])

    @property
    def dequantization_table(self) -> list[float] | None:
        output = self._record["output"]
        if output["dtype"] == "float32":
            return None
        return _dequantize(np.arange(256, dtype=np.uint8).view(output["dtype"]), output).tolist()

    @property
    def num_classes(self) -> int:
        return int(self._record["output"]["shape"][1])


class _FakeClock:
    """Time stands still except while a scripted cloud fault is being waited for."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms / 1000.0


Script = Callable[[int, int], dict[str, Any]]


class _ScriptedRemote:
    """The cloud master: the master's own output, after the scripted request time or fault."""

    def __init__(self, clock: _FakeClock, cursor: _Cursor, master_scores: Callable[[], np.ndarray], script: Script) -> None:
        self._clock, self._cursor, self._scores, self._script = clock, cursor, master_scores, script
        self.calls = 0
        self.replies: dict[int, dict[str, Any]] = {}

    def predict(self, frame: np.ndarray) -> RemoteResult:
        reply = self._script(self.calls, self._cursor.position)
        self.calls += 1
        self.replies[self._cursor.position] = reply
        if "fault" in reply:
            self._clock.advance(reply["waited_ms"])
            raise RemoteMasterError(f"scripted {reply['fault']} after {reply['waited_ms']} ms", kind=reply["fault"])
        return RemoteResult(probabilities=self._scores(), rtt_ms=reply["request_ms"], attempts=1)

    def close(self) -> None:
        pass


class _TracedRuntime(Runtime):
    """The real Runtime with its model loader and remote client replaced (nothing else is touched)."""

    def __init__(self, bundle: Bundle, *, classifier: Callable[[str], Any], **options: Any) -> None:
        self._make_classifier = classifier
        super().__init__(bundle, **options)

    def _classifier(self, model_id: str) -> Any:
        if model_id not in self._classifiers:
            self._classifiers[model_id] = self._make_classifier(model_id)
        return self._classifiers[model_id]


# --------------------------------------------------------------------------------------------
# Conditions


@dataclass(frozen=True)
class Condition:
    """One run: a config variant, runtime options, frames, their times and the cloud's behaviour."""

    name: str
    description: str
    mode: str
    network: str | None = None
    placement: str = "auto"
    master_client: bool = False
    device_master: bool = True
    patches: tuple[tuple[tuple[str, ...], Any], ...] = ()
    frames: tuple[int, ...] = ()
    times_s: tuple[float, ...] = ()
    script: Script | None = None
    covers: tuple[str, ...] = ()  # reason codes / fallbacks / paths the trace must show, or generation fails

    def options_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "network": self.network, "placement": self.placement,
                "master_client": self.master_client, "device_master": self.device_master}


def _times(count: int, intervals_ms: Iterable[float]) -> tuple[float, ...]:
    """Timestamps (s) from 0 with the intervals cycled."""
    intervals = list(intervals_ms)
    times, t = [], 0.0
    for i in range(count):
        times.append(t)
        t += intervals[i % len(intervals)] / 1000.0
    return tuple(times)


def _patched(doc: dict[str, Any], patches: Iterable[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for path, value in patches:
        node = out
        for key in path[:-1]:
            node = node[key]
        if path[-1] not in node:
            raise ParityError(f"config patch {list(path)} names a key the runtime config does not have")
        node[path[-1]] = copy.deepcopy(value)
    return out


def _bundle_with(bundle: Bundle, config_doc: dict[str, Any]) -> Bundle:
    check_runtime_config(config_doc, "parity config variant", num_classes=bundle.num_classes,
                         shipped_models=[m.id for m in bundle.models if m.shipped])
    return replace(bundle, runtime_config=RuntimeConfig(config_doc))


# One frame of a trace is a row of these columns (the trace header repeats them: it describes itself).
COLUMNS = (
    # inputs: test-frame index, timestamp (s), the scripted cloud reply {"request_ms"} or fault {"fault", "waited_ms"}
    "frame", "t", "cloud",
    # the result (FrameResult); "system" indexes the trace's "systems" list
    "path", "system", "label", "confidence", "recovered", "verified", "minion", "master", "master_placement",
    "fallbacks", "energy_mj",
    # the decision (selector.Decision): reason codes and the estimates that were compared
    "decision_path", "decision_placement", "probe", "thresholds_mode", "reasons", "master_ms", "rtt_ms", "dt_ms",
    "expected_ms",
    # null, [agree, confidence, threshold, disagreement_threshold, verdict] (the paper's rule), or the learned
    # detector's dict {"kind": "logistic", "agree", "confidence", "score", "threshold", "verdict"}
    "detector",
    # the selector state after a cloud call [rtt_ms, overloaded, next_probe_s]; null without one
    "after",
    # null, or [type, message] when the runtime raised on this frame
    "error",
)


def _state_json(runtime: Runtime) -> list[Any]:
    state = runtime.state
    return [state.link.rtt_ms, state.server_overloaded, state.next_probe_s]


def _result_columns(result: FrameResult, systems: list[str]) -> dict[str, Any]:
    d = result.decision
    est = d.estimates
    detector = result.detector
    if result.system not in systems:
        systems.append(result.system)
    return {
        "path": result.path, "system": systems.index(result.system), "label": result.label,
        "confidence": result.confidence, "recovered": result.recovered, "verified": result.verified,
        "minion": result.minion_answer, "master": result.master_answer, "master_placement": result.master_placement,
        "fallbacks": list(result.fallbacks), "energy_mj": result.energy_mj,
        "decision_path": d.path, "decision_placement": d.placement, "probe": d.probe,
        "thresholds_mode": d.thresholds_mode, "reasons": [code.value for code in d.reason_codes],
        "master_ms": est["master_ms"], "rtt_ms": est["rtt_ms"], "dt_ms": est["dt_ms"],
        "expected_ms": list(est["expected_ms"].values()),
        "detector": _detector_column(detector),
    }


def _detector_column(detector: dict[str, Any]) -> list[Any] | dict[str, Any] | None:
    if not detector:
        return None
    if detector.get("kind") == "logistic":
        return dict(detector)
    return [detector["agree"], detector["confidence"], detector["threshold"], detector["disagreement_threshold"],
            detector["verdict"]]


def _run(bundle: Bundle, config_doc: dict[str, Any], cond: Condition, classifier: Callable[[str, _Cursor], Any],
         script: Script) -> dict[str, Any]:
    """Runs one condition through the real Runtime; the trace (inputs and expected results)."""
    variant = _bundle_with(bundle, _patched(config_doc, cond.patches))
    cursor = _Cursor()
    clock = _FakeClock()
    runtime = _TracedRuntime(
        variant, classifier=lambda model: classifier(model, cursor), mode=cond.mode, network=cond.network,
        placement=cond.placement, device_master=cond.device_master,
        master_url=_PARITY_URL if cond.master_client else None, clock=clock)
    remote = None
    current: list[np.ndarray] = [np.empty(0)]  # the frame being classified, for the scripted cloud master
    if cond.master_client:
        master = variant.model(variant.runtime_config.master_model)
        scorer = classifier(master.id, cursor)

        def master_scores() -> np.ndarray:
            return scorer.predict(preprocess(current[0][None], variant.preprocessing, master.resolution))[0]

        runtime._remote.close()
        remote = runtime._remote = _ScriptedRemote(clock, cursor, master_scores, script)
    systems: list[str] = []
    rows = []
    for position, (index, t) in enumerate(zip(cond.frames, cond.times_s)):
        cursor.frame, cursor.position = index, position
        current[0] = classifier.frame(index)  # type: ignore[attr-defined]
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(frame=index, t=t)
        try:
            row.update(_result_columns(runtime.classify(current[0], timestamp_s=t), systems))
        except MmnetError as e:  # a frame the runtime cannot answer is part of the behaviour to mirror
            row["error"] = [type(e).__name__, str(e)]
        if remote is not None and position in remote.replies:
            row["cloud"] = remote.replies[position]
            row["after"] = _state_json(runtime)
        rows.append(row)
    stats = runtime.stats()
    stats.pop("audits")
    return {
        "trace_version": TRACE_VERSION,
        "name": cond.name,
        "description": cond.description,
        "config_patches": [{"path": list(path), "value": value} for path, value in cond.patches],
        "options": cond.options_json(),
        "systems": systems,
        "columns": list(COLUMNS),
        "frames": [[row[c] for c in COLUMNS] for row in rows],
        "stats": stats,
        "final_state": _state_json(runtime),
    }


def rows(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The frames of a trace as dicts keyed by column."""
    return [dict(zip(trace["columns"], row)) for row in trace["frames"]]


def _check_covers(trace: dict[str, Any], covers: Iterable[str]) -> None:
    seen: set[str] = set()
    for e in rows(trace):
        if e["error"]:
            seen.add("error")
            continue
        seen.update(e["reasons"])
        seen.update(e["fallbacks"])
        seen.add(e["path"])
        if e["probe"]:
            seen.add("probe")
        if e["recovered"]:
            seen.add("recovered")
        if not e["verified"]:
            seen.add("unverified")
        if e["detector"]:
            d = e["detector"]
            agree, verdict = (d["agree"], d["verdict"]) if isinstance(d, dict) else (d[0], d[4])
            seen.add(verdict)
            if not agree and verdict == "accepted":
                seen.add("accepted_disagreement")
    missing = [c for c in covers if c not in seen]
    if missing:
        raise ParityError(f"condition {trace['name']} no longer shows {missing} (it shows {sorted(seen)}); adjust its frames, "
                          "times or script in android_harness/parity/generate.py")


# --------------------------------------------------------------------------------------------
# Model sources


class _LiveModels:
    """Real interpreters of a bundle (loaded once), recording into a Recording."""

    def __init__(self, bundle: Bundle, frames: np.ndarray, recording: Recording) -> None:
        self._bundle, self._frames, self.recording = bundle, frames, recording
        self._interpreters: dict[str, TFLiteClassifier] = {}

    def frame(self, index: int) -> np.ndarray:
        self.recording.frames[index] = self._frames[index]
        return self._frames[index]

    def __call__(self, model: str, cursor: _Cursor) -> _RecordingClassifier:
        if model not in self._interpreters:
            record = self._bundle.model(model)
            self._interpreters[model] = TFLiteClassifier(self._bundle.model_path(model),
                                                         use_xnnpack=record.metrics.get("xnnpack", True))
        return _RecordingClassifier(model, self._interpreters[model], self.recording, cursor)


class _RecordedModels:
    """The committed recording standing in for the interpreters."""

    def __init__(self, manifest: dict[str, Any], recording: Recording) -> None:
        self._records = {m["id"]: m for m in manifest["models"]}
        self.recording = recording

    def frame(self, index: int) -> np.ndarray:
        try:
            return self.recording.frames[index]
        except KeyError:
            raise ParityError(f"test frame {index} is not in the recording") from None

    def __call__(self, model: str, cursor: _Cursor) -> _ReplayClassifier:
        return _ReplayClassifier(model, self._records[model], self.recording, cursor)


# --------------------------------------------------------------------------------------------
# The conditions of the golden traces


def _paper_rule(config: dict[str, Any]) -> tuple[tuple[tuple[str, ...], Any], ...]:
    """Config patches giving every system's detector as the paper's rule (agreement + per-class thresholds)."""
    return tuple((("systems", name, "modes", tuning, "detector"), {"kind": PER_CLASS})
                 for name, s in config["systems"].items() for tuning in s["modes"])


def _frame_pools(bundle: Bundle, frames: np.ndarray) -> dict[str, tuple[int, ...]]:
    """Frame orders: plain, and ones where frames the paper's rule recovers (master agreeing and disagreeing)
    recur often; a good learned detector recovers too few for the history rules."""
    assert bundle.runtime_config is not None
    config = bundle.runtime_config.document
    bundle = _bundle_with(bundle, _patched(config, _base_patches(config) + _paper_rule(config)
                                           + _power_saving_recovering(config)))
    scratch = _LiveModels(bundle, frames, Recording(bundle.preprocessing.frame_shape))
    found: dict[str, list[tuple[int, bool]]] = {}
    for mode in ("normal", "power_saving"):
        cursor = _Cursor()
        runtime = _TracedRuntime(bundle, classifier=lambda model, c=cursor: scratch(model, c), mode=mode, clock=_FakeClock())
        recovered_frames = []
        for i in range(len(frames)):
            cursor.frame = i
            r = runtime.classify(frames[i], timestamp_s=float(i))  # 1 s apart: no history effect
            if r.recovered:
                recovered_frames.append((i, r.master_answer == r.minion_answer))
        found[mode] = recovered_frames
    pools = {}
    for mode, recovered_frames in found.items():
        corrected = [i for i, agreed in recovered_frames if not agreed]
        agreed = [i for i, ok in recovered_frames if ok]
        if len(corrected) < 2 or len(agreed) < 2:
            raise ParityError(f"the bundle's {mode} detector recovers too few test frames ({len(agreed)} agreed, "
                              f"{len(corrected)} corrected) to exercise the history rules")
        interesting = [x for pair in zip(agreed, corrected) for x in pair]
        recovered = {i for i, _ in recovered_frames}
        plain = [i for i in range(len(frames)) if i not in recovered]
        # Each recovered frame is followed by two ordinary ones: the next frame sees the history rule.
        order = []
        for k, i in enumerate(interesting):
            order += [i, plain[2 * k % len(plain)], plain[(2 * k + 1) % len(plain)]]
        pools[f"history_{mode}"] = tuple(order)
    pools["plain"] = tuple(range(len(frames)))
    return pools


def _one_minion(config: dict[str, Any]) -> bool:
    """Whether the config has systems and each speculates with one model (SIEVE's kind, dissertation ch. 4)."""
    return bool(config["systems"]) and all(len(s["minions"]) == 1 for s in config["systems"].values())


# A phone where one speculative model pays: its master takes this long (a SIEVE bundle built on a host, where
# the master is a few microseconds, configures the master alone everywhere and its systems as runner-ups).
_SPECULATION_MASTER_MS = 20.0


def _base_patches(config: dict[str, Any]) -> tuple[tuple[tuple[str, ...], Any], ...]:
    """Patches every condition of a one-minion config starts from (none for pairs): the master takes
    ``_SPECULATION_MASTER_MS`` on the device (slower than any speculative model, faster than the cloud on every
    profile), and every selection that configured the master alone with runner-ups configures its first
    runner-up, as the build would have on such a phone; its other runner-ups stay."""
    if not _one_minion(config):
        return ()
    master = config["master"]["model"]
    patches: list[tuple[tuple[str, ...], Any]] = [(("latency", master, "total_ms"), _SPECULATION_MASTER_MS)]
    for profile, modes in config["selection"].items():
        for mode, entry in modes.items():
            if entry["system"] == MASTER_ONLY and entry["runner_ups"]:
                promoted = {**entry, "system": entry["runner_ups"][0], "runner_ups": entry["runner_ups"][1:]}
                patches.append((("selection", profile, mode), promoted))
    return tuple(patches)


def _power_saving_recovering(config: dict[str, Any]) -> tuple[tuple[tuple[str, ...], Any], ...]:
    """For a one-minion config, every system's power-saving thresholds set to its normal ones: a speculative copy of
    the master agrees with it so often that the built power-saving thresholds (a few hundredths) recover no test
    frame, and the power-saving conditions need recoveries (and their history). None for pairs."""
    if not _one_minion(config):
        return ()
    return tuple((("systems", name, "modes", "power_saving", "thresholds"), s["modes"]["normal"]["thresholds"])
                 for name, s in config["systems"].items() if {"normal", "power_saving"} <= set(s["modes"]))


# Conditions about two minions (their disagreement) are not run on a one-minion config; the covers only a pair shows
# (a disagreement; a runner-up, which the build names beside the master alone: promoted, it leaves none).
_PAIRS_ONLY = ("relaxed-lte-power_saving-device",)
_PAIR_COVERS = ("disagree", "accepted_disagreement", "runner_up")
_NEEDS_RECOVERIES = ("recovered", "history_agreed", "history_corrected")
_ONE_MINION_FRAMES = 40  # per condition: what each shows fits in 40 frames, and the committed traces stay small


def _for_one_minion(cond: Condition, config: dict[str, Any]) -> Condition:
    patches = _base_patches(config)
    if cond.mode == "power_saving" and any(c in _NEEDS_RECOVERIES for c in cond.covers):
        patches += _power_saving_recovering(config)
        cond = replace(cond, description=cond.description + "; power-saving thresholds the normal ones")
    return replace(cond, patches=patches + cond.patches, covers=tuple(c for c in cond.covers if c not in _PAIR_COVERS),
                   frames=cond.frames[:_ONE_MINION_FRAMES], times_s=cond.times_s[:_ONE_MINION_FRAMES])


def _conditions(config: dict[str, Any], pools: dict[str, tuple[int, ...]]) -> list[Condition]:
    conditions = _common_conditions(config, pools)
    if not _one_minion(config):
        return conditions
    return ([_for_one_minion(c, config) for c in conditions if c.name not in _PAIRS_ONLY]
            + _speculative_conditions(config, pools, _base_patches(config)))


def _speculative_conditions(config: dict[str, Any], pools: dict[str, tuple[int, ...]],
                            base: tuple[tuple[tuple[str, ...], Any], ...]) -> list[Condition]:
    """A one-minion config's own conditions: every speculative system a candidate of normal mode on each profile
    (the configured one rotating over the profiles), with an 80 ms device master, so the per-frame re-costing
    (L_spec + P_r × L_master at the profile's placement: the device on 3g, the cloud on lte and wifi) chooses
    among them per profile: the configured system, or a cheaper runner-up."""
    master = config["master"]["model"]
    systems = sorted(config["systems"])
    plain = pools["plain"]
    out = []
    for k, (profile, request_ms) in enumerate((("3g", 100.0), ("lte", 70.0), ("wifi", 31.0))):
        rotated = systems[k % len(systems):] + systems[:k % len(systems)]
        candidates = {**config["selection"][profile]["normal"], "system": rotated[0], "runner_ups": rotated[1:]}
        patches = base + ((("latency", master, "total_ms"), 80.0), (("selection", profile, "normal"), candidates))
        out.append(Condition(
            f"candidates-{profile}-normal-client", f"every speculative system a candidate on {profile}, 80 ms device "
            f"master, a master URL answering in {request_ms:g} ms: the cheapest system at the profile's placement",
            "normal", profile, master_client=True, patches=patches, frames=plain[270 + 12 * k:282 + 12 * k],
            times_s=_times(12, [1000.0]), script=lambda call, position, ms=request_ms: {"request_ms": ms},
            covers=("minions",)))
    return out


def _common_conditions(config: dict[str, Any], pools: dict[str, tuple[int, ...]]) -> list[Condition]:
    master = config["master"]["model"]
    slow = ((("latency", master, "total_ms"), 80.0),)  # a phone whose master takes 80 ms: the cloud is faster
    heavy = ((("latency", master, "total_ms"), 500.0),)  # a master the cloud beats even on a loaded server
    # A master faster than any minion pair; one speculative model costs less than a pair: half of the cheapest.
    fast_ms = 0.08 if not _one_minion(config) else 0.5 * min(
        config["latency"][s["minions"][0]]["total_ms"] for s in config["systems"].values())
    fast = ((("latency", master, "total_ms"), fast_ms),)
    # Whichever detector the build shipped, both kinds are traced: the paper's rule and a learned detector.
    paper = _paper_rule(config)
    strict = tuple((("systems", name, "modes", "normal", "thresholds"), [0.9] * len(s["modes"]["normal"]["thresholds"]))
                   for name, s in config["systems"].items() if "normal" in s["modes"])
    recover_all = tuple((("systems", name, "modes", "normal", "thresholds"), [NEVER] * len(s["modes"]["normal"]["thresholds"]))
                        for name, s in config["systems"].items() if "normal" in s["modes"])
    learned = tuple((("systems", name, "modes", tuning, "detector"), _learned_detector(len(s["minions"])))
                    for name, s in config["systems"].items() for tuning in s["modes"])
    relaxed = tuple(p for p in paper if p[0][3] == "power_saving") + tuple(
        (("systems", name, "modes", "power_saving", "disagreement_threshold"), 0.8)
        for name, s in config["systems"].items() if "power_saving" in s["modes"])
    master_only = {**config["selection"]["lte"]["normal"], "system": MASTER_ONLY, "runner_ups": []}
    no_system = ((("selection", "lte", "normal"), master_only),)
    plain, hist_n, hist_p = pools["plain"], pools["history_normal"], pools["history_power_saving"]

    def steady(ms: float) -> Script:
        return lambda call, position: {"request_ms": ms}

    faults = {2: ("timeout", 2000.0), 4: ("http_5xx", 40.0), 6: ("unreachable", 3.0), 8: ("malformed", 55.0),
              10: ("http_4xx", 20.0), 12: ("timeout", 2000.0), 13: ("timeout", 2000.0)}

    def faulty(call: int, position: int) -> dict[str, Any]:
        if call in faults:
            kind, waited = faults[call]
            return {"fault": kind, "waited_ms": waited}
        return {"request_ms": 70.0 + 4.0 * (call % 5)}

    def overload(call: int, position: int) -> dict[str, Any]:
        return {"request_ms": 200.0 if 8 <= position < 22 else 31.0}

    def loaded(call: int, position: int) -> dict[str, Any]:
        return {"request_ms": 200.0 if position < 24 else 31.0}

    def dead_then_alive(call: int, position: int) -> dict[str, Any]:
        return {"fault": "timeout", "waited_ms": 2000.0} if call % 3 == 1 else {"request_ms": 75.0}

    c = Condition
    return [
        c("lte-normal-device", "as built, no master client: minions, the detector, the master on the device recovers",
          "normal", "lte", frames=plain[:90], times_s=_times(90, [1000.0]), covers=("minions", "recovered", "configured_system")),
        c("lte-power_saving-device", "as built, power-saving thresholds", "power_saving", "lte", frames=plain[90:180],
          times_s=_times(90, [1000.0]), covers=("minions", "recovered")),
        c("lte-normal-paper-rule", "every system's detector the paper's rule, its thresholds raised to 0.9: "
          "agreement and per-class thresholds", "normal", "lte", patches=paper + strict, frames=plain[:120],
          times_s=_times(120, [1000.0]),
          covers=("accepted", "low_confidence", "disagree")),
        c("lte-normal-learned", "every system's detector a logistic one on the minions' scores (accepts when the two "
          "confidences and agreement score high): scores, low_score recoveries, accepted disagreements",
          "normal", "lte", patches=learned, frames=hist_n[:30] + plain[240:270], times_s=_times(60, [1000.0]),
          covers=("accepted", "low_score", "recovered")),
        c("3g-private-device", "as built, private mode on 3g: the master never leaves the device", "private", "3g",
          frames=plain[48:64], times_s=_times(16, [1000.0]), covers=("mode_device_only",)),
        c("wifi-mission_critical-device", "as built, the master alone", "mission_critical", "wifi", frames=plain[64:76],
          times_s=_times(12, [1000.0]), covers=("master_alone_mode", "master_device")),
        c("lte-normal-history", "the paper's rule, 33 ms bursts with 250 ms gaps: history rules 1 and 2 and expiry",
          "normal", "lte", patches=paper, frames=hist_n[:36], times_s=_times(36, [33.0, 33.0, 250.0, 33.0]),
          covers=("history_agreed", "history_corrected", "history_expired", "minions_unchecked", "unchecked")),
        c("wifi-power_saving-history", "the paper's rule, power saving at 20 fps", "power_saving", "wifi",
          patches=paper, frames=hist_p[:30],
          times_s=_times(30, [50.0]), covers=("history_agreed", "history_corrected")),
        c("wifi-normal-auto-client", "as built with a master URL: the device master (about 1 ms) beats the cloud (30 ms)",
          "normal", "wifi", master_client=True, frames=plain[76:88], times_s=_times(12, [1000.0]),
          script=steady(31.0), covers=("device_faster",)),
        c("lte-normal-forced-cloud-faults", "80 ms device master, placement forced to the cloud: runner-up re-costing "
          "with L_t, cloud faults fall back to the device master, timeouts overload the server but the override decides",
          "normal", "lte", placement="cloud", master_client=True, patches=slow + paper + recover_all, frames=plain[:48],
          times_s=_times(48, [400.0]),
          script=faulty, covers=("placement_override", "runner_up", "cloud_timeout", "cloud_http_5xx", "cloud_unreachable",
                                 "cloud_malformed", "cloud_http_4xx", "override_despite_overload", "recovered")),
        c("lte-normal-forced-device-client", "placement forced to the device although a master URL is given", "normal",
          "lte", placement="device", master_client=True, frames=plain[88:100], times_s=_times(12, [1000.0]),
          script=steady(70.0), covers=("placement_override",)),
        c("wifi-mission_critical-cloud-only", "no device master: every frame goes to the cloud; timeouts leave the "
          "emergency minion answer, unverified", "mission_critical", "wifi", master_client=True, device_master=False,
          frames=plain[100:118], times_s=_times(18, [1000.0]), script=dead_then_alive,
          covers=("master_cloud", "cloud_timeout", "unverified")),
        c("wifi-normal-cloud-only-fault-on-recovery", "no device master, the cloud times out on recovered frames: the "
          "minions' answer stands, unverified, and the history does not count the frame as recovered",
          "normal", "wifi", master_client=True, device_master=False, patches=paper, frames=hist_n[:15],
          times_s=_times(15, [1000.0]),
          script=dead_then_alive, covers=("recovered", "unverified", "cloud_timeout")),
        c("slow-wifi-mission_critical-overload", "80 ms device master, the cloud wins; 200 ms requests (slower than "
          "the device) trip the server-load back-off after two samples, probes every 5 s, a fast probe clears it",
          "mission_critical", "wifi",
          master_client=True, patches=slow, frames=plain[118:154], times_s=_times(36, [1000.0]), script=overload,
          covers=("cloud_faster", "server_overloaded", "probe_server_overloaded", "master_device", "master_cloud")),
        c("slow-wifi-normal-overload", "80 ms device master, normal mode at 2 fps: recoveries in the cloud, the "
          "runner-up wins with the cloud master, the back-off and probes", "normal", "wifi", master_client=True,
          patches=slow + paper + recover_all, frames=plain[:48], times_s=_times(48, [500.0]), script=overload,
          covers=("cloud_faster", "runner_up", "server_overloaded")),
        c("heavy-wifi-mission_critical-loaded-server", "500 ms device master; 200 ms requests (an RTT 6x the "
          "profile's) are still faster than the device: no back-off, the master stays in the cloud", "mission_critical",
          "wifi", master_client=True, patches=heavy, frames=plain[154:190], times_s=_times(36, [1000.0]),
          script=loaded, covers=("cloud_faster", "master_cloud")),
        c("slow-3g-normal-auto", "80 ms device master on 3g: the cloud (107 ms) still loses", "normal", "3g",
          master_client=True, patches=slow, frames=plain[190:202], times_s=_times(12, [1000.0]), script=steady(100.0),
          covers=("device_faster", "runner_up")),
        c("slow-lte-private-client", "80 ms device master, private mode with a master URL: never the cloud", "private",
          "lte", master_client=True, patches=slow,
          frames=plain[202:214], times_s=_times(12, [1000.0]), script=steady(70.0),
          covers=("mode_device_only",)),
        c("slow-parallel-wifi-power_saving", "80 ms device master, parallel minions (max instead of sum)",
          "power_saving", "wifi", master_client=True, patches=slow + paper + ((("minion_execution",), "parallel"),),
          frames=hist_p[:18], times_s=_times(18, [1000.0]), script=steady(31.0), covers=("cloud_faster",)),
        c("fast-lte-normal-device", "a 0.08 ms device master: minions not worth it, the master alone", "normal", "lte",
          patches=fast, frames=plain[214:226], times_s=_times(12, [1000.0]), covers=("minions_not_worth_it",)),
        c("relaxed-lte-power_saving-device", "power saving with a disagreement threshold of 0.8: confident "
          "disagreements are accepted, others recovered", "power_saving", "lte", patches=relaxed, frames=hist_p[:30],
          times_s=_times(30, [1000.0]), covers=("accepted_disagreement", "disagree")),
        c("nosystem-lte-normal-cloud-only", "normal mode configured master-only on lte, no device master: the "
          "emergency minion is the first defined system's", "normal", "lte", master_client=True, device_master=False,
          patches=no_system, frames=plain[226:240], times_s=_times(14, [1000.0]), script=dead_then_alive,
          covers=("no_minion_system", "unverified")),
    ]


def _learned_detector(minions: int) -> dict[str, Any]:
    """A logistic detector with set weights: score = 10·(Σ confidences) + 2·agree − 10·minions·0.97, accepted at 0."""
    weights = [10.0 if name.startswith("confidence") else 2.0 if name == "agree" else 0.0
               for name in feature_names(minions)]
    return {"kind": LOGISTIC, "features": list(feature_names(minions)), "weights": weights,
            "bias": -9.7 * minions, "threshold": 0.0}


# Conditions made from another one by a config patch alone, on its frames, times and cloud script:
# (name, base condition, description). Written by a full generation, or from the committed recording
# (`--extend`), which holds every model output the base condition needed.
DERIVED = (
    ("lte-normal-device-resolutions", "lte-normal-device",
     "as lte-normal-device, every latency entry naming its model's resolution: a runner-up whose two "
     "minions share a resolution is costed with one preprocessing (its first minion made slower by twice that, so "
     "the configured system still wins)"),
)


def _derived_for(config: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """The DERIVED conditions of a config: none for one-minion systems (no two minions share a preprocessing)."""
    return () if _one_minion(config) else DERIVED


def _resolutions(bundle: Bundle) -> dict[str, int]:
    return {m.id: m.resolution for m in bundle.models}


def _derived(config: dict[str, Any], resolutions: dict[str, int], base: Condition, name: str,
             description: str) -> Condition:
    """``base`` with every latency entry naming its model's resolution (configs written before the field lack it).

    A system whose serial minions share a resolution now costs one preprocessing less; its first minion at that
    resolution is made slower by twice the saving so that every decision stays the base's (the recording holds
    only the outputs of the models the base ran) while the expected latencies show the shared preprocessing.
    """
    latency = copy.deepcopy(_patched(config, base.patches)["latency"])
    for model, entry in latency.items():
        entry.setdefault("resolution", resolutions[model])
    for system in config["systems"].values():
        first_at: dict[int, str] = {}
        for model in system["minions"]:
            resolution = latency[model]["resolution"]
            if resolution in first_at:
                slower = latency[first_at[resolution]]
                extra = 2.0 * latency[model]["preprocess_ms"]
                slower["total_ms"] += extra
                slower["inference_ms"] += extra
            first_at.setdefault(resolution, model)
    patches = tuple((("latency", model), entry) for model, entry in latency.items())
    return replace(base, name=name, description=description, patches=base.patches + patches, covers=())


def _check_derived(trace: dict[str, Any], base: dict[str, Any]) -> None:
    """The derived trace decides as its base did, and the resolutions change some expected latency."""
    for position, (row, base_row) in enumerate(zip(rows(trace), rows(base))):
        for column in ("system", "path", "label", "fallbacks", "error"):
            if row[column] != base_row[column]:
                raise ParityError(f"condition {trace['name']} at frame position {position}: {column} is {row[column]!r}, "
                                  f"{base['name']} has {base_row[column]!r}; the derived condition must decide as its "
                                  "base (the recording holds only the base's model outputs)")
    if all(a["expected_ms"] == b["expected_ms"] for a, b in zip(rows(trace), rows(base))):
        raise ParityError(f"condition {trace['name']} costs every frame as {base['name']} does: the resolutions no "
                          "longer share any preprocessing; pick another base in DERIVED")


def _committed_condition(trace: dict[str, Any]) -> tuple[Condition, Script]:
    """The condition a committed trace ran, and a script answering with its recorded cloud replies."""
    options = trace["options"]
    name = trace["name"]
    cond = Condition(
        name=name, description=trace["description"], mode=options["mode"], network=options["network"],
        placement=options["placement"], master_client=options["master_client"],
        device_master=options["device_master"],
        patches=tuple((tuple(p["path"]), p["value"]) for p in trace["config_patches"]),
        frames=tuple(row["frame"] for row in rows(trace)),
        times_s=tuple(row["t"] for row in rows(trace)))
    replies = [row["cloud"] for row in rows(trace)]

    def script(call: int, position: int) -> dict[str, Any]:
        if replies[position] is None:
            raise ParityError(f"trace {name}: the Python runtime now calls the cloud at frame position {position}, "
                              "where the trace has no scripted reply; regenerate the traces")
        return replies[position]

    return cond, script


def extend(resources: str | Path) -> list[str]:
    """Adds the DERIVED traces the committed resources lack, run from the recording (no bundle needed); their names."""
    resources = Path(resources)
    bundle, manifest, config = _resource_bundle(resources)
    recording = Recording.from_json(json.loads((resources / "recording.json").read_text(encoding="utf-8")))
    models = _RecordedModels(manifest, recording)
    index = json.loads((resources / "index.json").read_text(encoding="utf-8"))
    traces = [load_trace(resources / "traces" / f"{name}.json") for name in index["traces"]]
    by_name = {t["name"]: t for t in traces}
    added = []
    for name, base_name, description in _derived_for(config):
        if name in by_name:
            continue
        base, script = _committed_condition(by_name[base_name])
        trace = _run(bundle, config, _derived(config, _resolutions(bundle), base, name, description), models, script)
        _check_derived(trace, by_name[base_name])
        _write(resources / "traces" / f"{name}.json", _dump_trace(trace))
        traces.append(trace)
        added.append(name)
    if added:
        _write(resources / "index.json", json.dumps(_index(bundle, traces), indent=2) + "\n")
    return added


# --------------------------------------------------------------------------------------------
# Writing and reading the resources


def _dump_trace(trace: dict[str, Any]) -> str:
    """Pretty header, one line per frame: small, and a changed decision is a one-line diff."""
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    head = {k: v for k, v in trace.items() if k not in ("columns", "frames", "stats", "final_state")}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append(f'  "columns": {json.dumps(trace["columns"])},')
    lines.append('  "frames": [')
    rows = [f"    {json.dumps(row, **compact)}" for row in trace["frames"]]
    lines.append(",\n".join(rows))
    lines.append("  ],")
    lines.append(f'  "stats": {json.dumps(trace["stats"])},')
    lines.append(f'  "final_state": {json.dumps(trace["final_state"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def generate(bundle_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Runs every condition on the bundle with real interpreters and writes the resources; the index."""
    bundle = load_bundle(bundle_dir)
    if bundle.runtime_config is None:
        raise ParityError(f"bundle {bundle_dir} has no runtime_config.json; the traces need one")
    frames, _ = bundle.load_split("test")
    config_doc = bundle.runtime_config.document
    pools = _frame_pools(bundle, frames)
    live = _LiveModels(bundle, frames, Recording(bundle.preprocessing.frame_shape))
    traces = []
    conditions = _conditions(config_doc, pools)
    for cond in conditions:
        script = cond.script or _no_cloud(cond.name)
        trace = _run(bundle, config_doc, cond, live, script)
        _check_covers(trace, cond.covers)
        traces.append(trace)
    by_name = {t["name"]: t for t in traces}
    for name, base_name, description in _derived_for(config_doc):
        base = next(c for c in conditions if c.name == base_name)
        cond = _derived(config_doc, _resolutions(bundle), base, name, description)
        trace = _run(bundle, config_doc, cond, live, cond.script or _no_cloud(cond.name))
        _check_derived(trace, by_name[base_name])
        traces.append(trace)

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and swapped in at the end: a failed run leaves the old traces whole.
    staging = Path(tempfile.mkdtemp(prefix=".parity.", dir=out.parent))
    try:
        shutil.copyfile(Path(bundle_dir) / "manifest.json", staging / "manifest.json")
        shutil.copyfile(Path(bundle_dir) / bundle.manifest["runtime_config"]["file"], staging / "runtime_config.json")
        packed = [m for m in bundle.models if m.shipped and m.packing is not None]
        if packed:  # the smallest packed model, for the Java core to unpack as Python does
            smallest = min(packed, key=lambda m: m.bytes)
            (staging / "models").mkdir()
            shutil.copyfile(Path(bundle_dir) / str(smallest.file), staging / "models" / Path(str(smallest.file)).name)
        _write(staging / "recording.json", json.dumps(live.recording.to_json(bundle.name), indent=1) + "\n")
        for trace in traces:
            _write(staging / "traces" / f"{trace['name']}.json", _dump_trace(trace))
        index = _index(bundle, traces)
        _write(staging / "index.json", json.dumps(index, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return index


def _no_cloud(name: str) -> Script:
    def fail(call: int, position: int) -> dict[str, Any]:
        raise ParityError(f"condition {name} has no cloud script but called the cloud at frame position {position}")
    return fail


def _index(bundle: Bundle, traces: list[dict[str, Any]]) -> dict[str, Any]:
    covered: set[str] = set()
    for trace in traces:
        for row in rows(trace):
            if not row["error"]:
                covered.update(row["reasons"])
                covered.update(row["fallbacks"])
                covered.add(row["path"])
    return {
        "trace_version": TRACE_VERSION,
        "bundle": bundle.name,
        "generated_by": "python -m android_harness.parity.generate --bundle <bundle> --out <this directory>",
        "traces": [t["name"] for t in traces],
        "frames": sum(len(t["frames"]) for t in traces),
        "covered": sorted(covered),
    }


def load_trace(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("trace_version") != TRACE_VERSION:
        raise ParityError(f"{path}: trace_version {doc.get('trace_version')!r}; expected {TRACE_VERSION}")
    return doc


def _resource_bundle(resources: Path) -> tuple[Bundle, dict[str, Any], dict[str, Any]]:
    """A Bundle from the committed manifest and runtime config, without any model file."""
    manifest = json.loads((resources / "manifest.json").read_text(encoding="utf-8"))
    config = json.loads((resources / "runtime_config.json").read_text(encoding="utf-8"))
    validate_document(manifest, "manifest", source=str(resources / "manifest.json"))
    bundle = Bundle(
        path=resources, manifest=manifest, labels=tuple(manifest["labels"]),
        preprocessing=PreprocessingSpec.from_json(manifest["preprocessing"]),
        models=tuple(ModelRecord.from_json(m) for m in manifest["models"]), runtime_config=None)
    return bundle, manifest, config


def replay_resources(resources: str | Path,
                     names: Iterable[str] | None = None) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The committed traces (all, or ``names``) re-run by the current Python runtime from the recording.

    name -> (committed trace, fresh trace); no model file is needed.
    """
    resources = Path(resources)
    bundle, manifest, config = _resource_bundle(resources)
    recording = Recording.from_json(json.loads((resources / "recording.json").read_text(encoding="utf-8")))
    models = _RecordedModels(manifest, recording)
    index = json.loads((resources / "index.json").read_text(encoding="utf-8"))
    out = {}
    for name in index["traces"] if names is None else names:
        committed = load_trace(resources / "traces" / f"{name}.json")
        cond, script = _committed_condition(committed)
        out[name] = (committed, json.loads(json.dumps(_run(bundle, config, cond, models, script))))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m android_harness.parity.generate", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", help="a built bundle directory (e.g. bundles/digits)")
    source.add_argument("--extend", action="store_true",
                        help="no bundle: add the derived traces (DERIVED) --out lacks, run from its recording")
    parser.add_argument("--out", required=True, help="the resources directory to (re)write")
    args = parser.parse_args(argv)
    # The scripted cloud faults are expected: the runtime's warning per fault would only be noise here.
    logging.getLogger("mmnet.runtime.runtime").setLevel(logging.ERROR)
    try:
        if args.extend:
            added = extend(args.out)
            print(f"added {len(added)} traces to {args.out}: {', '.join(added) or 'none missing'}")
            return 0
        index = generate(args.bundle, args.out)
    except MmnetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in Path(args.out).rglob("*") if p.is_file())
    print(f"wrote {len(index['traces'])} traces, {index['frames']} frames, {size / 1024:.0f} KiB to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
