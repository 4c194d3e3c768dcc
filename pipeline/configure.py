"""Configure runtime stage: calibration, thresholds, costs and pairing -> ``runtime_config.json``.

Inputs are the deployed artifacts' own outputs (TFLite probabilities on val and test, from the
Evaluate stage or recomputed from a bundle), the recorded labels, and per-model device costs (a
device profile: the build host's measurements unless one from a phone is given). Steps:

1. the master: the most accurate blessed master artifact on val (the fastest of equals);
2. the reference answers: the labels, or in unlabeled mode (``runtime.reference: master``) the
   master's own answers, so every "accuracy" below is agreement with the master;
3. a temperature per blessed minion (:mod:`mmnet.pipeline.calibration`);
4. every single minion and every pair of minions of different variants is a candidate; per target
   its misspeculation detectors are cross-fitted on val (with a SIEVE model: on the val frames its
   format search did not choose formats on), the one recovering fewest frames is kept,
   and it is confirmed on test (:mod:`mmnet.pipeline.detectors`, :mod:`mmnet.pipeline.risk`);
5. per network profile: the master's placement (L_m vs L_t), then per user mode the system with
   the lowest expected latency that reaches the target (:mod:`mmnet.pipeline.pairing`).

The result is the runtime config (validated against its schema) and the report data
(:mod:`mmnet.pipeline.report`), both plain JSON-able dicts.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmnet.format.device_profile import DeviceProfile, host_device_profile, load_device_profile, match_profile_to_bundle
from mmnet.format.errors import BundleError, ConfigError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.format.runtime_config import MASTER_ONLY, MODES, RUNTIME_CONFIG_SCHEMA_VERSION, check_runtime_config
from mmnet.format.vocabulary import NEVER
from mmnet.pipeline.calibration import calibrate_minion
from mmnet.pipeline.config import RuntimeSettings
from mmnet.pipeline.detectors import (
    DetectorSettings,
    FittedDetector,
    MemberResult,
    certification,
    choose_detector,
    member_views,
    risk_coverage,
)
from mmnet.pipeline.pairing import Candidate, Choice, Cost, choose_placement, choose_system
from mmnet.pipeline.thresholds import (
    OperatingPoint,
    SystemOutcomes,
    disagreement_threshold,
    operating_point,
    outcome_counts,
    required_correct,
    single_threshold,
    threshold_sweep,
)
from mmnet.runtime.detector import apply_temperature, detect
from mmnet.runtime.learned_detector import PER_CLASS
from mmnet.runtime.network import (
    DEFAULT_PROFILES,
    NetworkProfile,
    load_network_profiles,
    reply_bytes,
    transfer_energy_mj,
    transfer_latency_ms,
    upload_bytes,
)
from mmnet.runtime.preprocessing import preprocess

__all__ = [
    "ConfigureInputs",
    "Configuration",
    "build_configuration",
    "configure_runtime",
    "measure_preprocessing_ms",
    "resolve_device_profile",
    "resolve_network_profiles",
    "write_configuration",
]

log = logging.getLogger(__name__)

TUNINGS = ("normal", "power_saving")
MODE_SPECS = {
    "normal": {"minions": True, "cloud": True, "thresholds": "normal",
               "description": "minions speculate; the master recovers to the normal target"},
    "power_saving": {"minions": True, "cloud": True, "thresholds": "power_saving",
                     "description": "relaxed thresholds: a little accuracy traded for fewer recoveries"},
    "private": {"minions": True, "cloud": False, "thresholds": "normal",
                "description": "nothing leaves the device: minions and the master on the device"},
    "mission_critical": {"minions": False, "cloud": True, "thresholds": None,
                         "description": "the master alone for every frame, wherever it is fastest"},
}


@dataclass(frozen=True)
class ConfigureInputs:
    bundle_name: str
    labels: tuple[str, ...]
    records: tuple[dict, ...]  # manifest model records (blessed ones are used)
    probabilities: dict[str, dict[str, np.ndarray]]  # model id -> {"val": (N, C), "test": (N, C)}
    val_labels: np.ndarray
    test_labels: np.ndarray
    frames: np.ndarray  # test frames (uint8 N,H,W,C): preprocessing timing
    upload_frames: np.ndarray  # the recorded val frames (uint8 N,H,W,C): the upload's size as encoded
    preprocessing: PreprocessingSpec
    device_profile: DeviceProfile
    host_preprocessing_ms: dict[int, float]  # used where the device profile has no preprocessing timing
    network_profiles: dict[str, NetworkProfile]
    latency_model: dict | None = None  # from mmnet.pipeline.latency_model.stage.build_latency_model
    dataset: dict | None = None  # the manifest's dataset section, for the report
    created_utc: str = ""


@dataclass(frozen=True)
class Configuration:
    runtime_config: dict
    report_data: dict
    systems: tuple[dict, ...]  # every candidate system's outcome sets and thresholds (report/systems.json)


def measure_preprocessing_ms(frames: np.ndarray, spec: PreprocessingSpec, resolutions, runs: int = 200) -> dict[int, float]:
    """Median time to preprocess one frame (resize + normalise) for each model resolution."""
    frame = frames[:1]
    timings = {}
    for resolution in sorted(set(resolutions)):
        for _ in range(10):
            preprocess(frame, spec, resolution)
        samples = np.empty(runs)
        for i in range(runs):
            start = time.perf_counter()
            preprocess(frame, spec, resolution)
            samples[i] = time.perf_counter() - start
        timings[int(resolution)] = float(np.median(samples) * 1000.0)
    return timings


def _device_cost(record: dict, profile: DeviceProfile, host_preprocessing_ms: dict[int, float]) -> dict:
    inference = profile.latency_ms(record["id"])
    prep = profile.preprocessing_ms(record["resolution"])
    if prep is None:
        prep = host_preprocessing_ms[record["resolution"]]
    energy, source = profile.energy_mj(record["id"])
    # Preprocessing runs on the same CPU: its energy at the profile's compute power.
    energy += profile.compute_power.value_w * prep
    return {"inference_ms": inference, "preprocess_ms": prep, "total_ms": inference + prep,
            "resolution": record["resolution"], "energy_mj": energy, "energy_source": source}


def _pairing_cost(cost: dict, compute_w: float) -> Cost:
    """A model's device cost for pairing, with the preprocessing a shared resolution saves (see _device_cost)."""
    return Cost(cost["total_ms"], cost["energy_mj"], cost["preprocess_ms"], compute_w * cost["preprocess_ms"],
                cost["resolution"])


def _choose_master(records: list[dict], costs: dict[str, dict]) -> dict:
    masters = [r for r in records if r["role"] == "master" and r["blessed"]]
    if not masters:
        raise ConfigError("the bundle has no blessed master artifact, so no runtime config can be made")
    return min(masters, key=lambda r: (-r["metrics"]["val_accuracy"], costs[r["id"]]["total_ms"], r["id"]))


def _system_name(minions: tuple[str, ...]) -> str:
    return f"pair:{minions[0]}+{minions[1]}" if len(minions) == 2 else f"single:{minions[0]}"


@dataclass(frozen=True)
class _Tuned:
    val: OperatingPoint  # the chosen detector's cross-fitted (out-of-fold) outputs on val
    test: OperatingPoint  # the refitted detector on test
    disagreement_threshold: float | None  # None: every disagreement goes to the master
    single_val: OperatingPoint | None
    single_test: OperatingPoint | None
    detector: FittedDetector
    thresholds: np.ndarray  # the per-class member's thresholds (NEVER where it reached no target)
    members: dict  # per member: its cross-fitted choice, test outcome and curves (the report's detectors section)

    def to_json(self) -> dict:
        def point(p: OperatingPoint) -> dict:
            return {"accuracy": p.accuracy, "recovery_rate": p.recovery_rate}

        single = None
        if self.single_val is not None:
            single = {"threshold": round(self.single_val.thresholds[0], 6), "val": point(self.single_val),
                      "test": point(self.single_test)}
        return {"thresholds": [round(float(t), 6) for t in self.thresholds],
                "disagreement_threshold": None if self.disagreement_threshold is None else round(self.disagreement_threshold, 6),
                "detector": self.detector.to_json(),
                "val": point(self.val), "test": point(self.test), "single_threshold": single}


@dataclass(frozen=True)
class _System:
    name: str
    minions: tuple[str, ...]
    outcomes: dict[str, SystemOutcomes]  # split -> outcomes
    tuned: dict[str, _Tuned | None]  # tuning -> detector, None when the target is out of reach
    num_classes: int
    selectable: bool  # singles are evaluated always, selected only with runtime.single_minion_systems

    def table_row(self) -> dict:
        """Everything measured about the system: outcome sets and tuned operating points."""
        return {"system": self.name, "minions": list(self.minions), "selectable": self.selectable,
                "outcomes": {s: outcome_counts(o.minion_correct, o.master_correct) for s, o in self.outcomes.items()},
                "modes": {t: None if v is None else {**v.to_json(), "members": v.members} for t, v in self.tuned.items()}}

    def candidate(self, tuning: str) -> Candidate:
        tuned = self.tuned[tuning]
        if tuned is None:
            # Out of reach: recorded with what the minions give when trusted whenever they agree.
            val, test = (operating_point(self.outcomes[s], np.zeros(self.num_classes)) for s in ("val", "test"))
            return Candidate(self.name, self.minions, False, val.recovery_rate, val.accuracy, test.recovery_rate, test.accuracy)
        return Candidate(self.name, self.minions, True, tuned.val.recovery_rate, tuned.val.accuracy,
                         tuned.test.recovery_rate, tuned.test.accuracy)


def _accepted_point(answer_correct: np.ndarray, master_correct: np.ndarray, accept: np.ndarray) -> OperatingPoint:
    correct = int(np.sum(accept & answer_correct) + np.sum(~accept & master_correct))
    return OperatingPoint(thresholds=(), recovery_rate=float(1.0 - accept.mean()), accuracy=correct / accept.size,
                          correct=correct, total=int(accept.size))


def _detector_settings(settings: RuntimeSettings, tuning: str) -> DetectorSettings:
    d = settings.detector
    return DetectorSettings(members=d.members, threshold_mode=d.threshold_mode, delta=d.delta,
                            epsilon=getattr(d.epsilon, tuning), window_frames=d.window_frames,
                            prior_frames=d.prior_frames, folds=d.folds, regularization=d.regularization)


def _member_summary(member: MemberResult, master_val: np.ndarray, test_view: tuple, reference_test: np.ndarray,
                    master_test: np.ndarray, ds: DetectorSettings) -> dict:
    """One member's cross-fitted choice on val, its refit on test, its false negatives/positives and risk curves."""
    summary: dict = {"reached": member.choice is not None,
                     "certification": certification(member.choice, master_val.size, ds),
                     "curve_val": risk_coverage(member.oof_scores, member.answer_correct, master_val)}
    if member.fitted is not None and member.choice is not None:
        good_test = test_view[0] == reference_test
        margins = member.fitted.margins(test_view)
        accept = margins >= 0.0
        val_point = _accepted_point(member.answer_correct, master_val, member.oof_scores >= member.choice.threshold)
        test_point = _accepted_point(good_test, master_test, accept)
        summary.update({
            "oracle_recovery_rate_test": float(np.mean(~good_test & master_test)),
            "val": {"recovery_rate": val_point.recovery_rate, "accuracy": val_point.accuracy},
            "test": {"recovery_rate": test_point.recovery_rate, "accuracy": test_point.accuracy},
            # SIEVE's §4.5.5 terms, per frame: a correctable frame not recovered / a right answer recovered
            "false_negative_rate_test": float(np.mean(accept & ~good_test & master_test)),
            "false_positive_rate_test": float(np.mean(~accept & good_test)),
            "curve_test": risk_coverage(margins, good_test, master_test),
        })
    return summary


def _tune(views: dict[str, dict[str, tuple]], references: dict[str, np.ndarray], outcomes: dict[str, SystemOutcomes],
          tuning: str, needed: int, num_classes: int, settings: RuntimeSettings) -> _Tuned | None:
    val, test = outcomes["val"], outcomes["test"]
    ds = _detector_settings(settings, tuning)
    choice = choose_detector(views["val"], references["val"], val.master_correct, needed, num_classes, ds,
                             odd_credit=settings.odd_correct_credit)
    members = {kind: _member_summary(m, val.master_correct, views["test"][kind], references["test"], test.master_correct, ds)
               for kind, m in choice.members.items()}
    detector = choice.detector
    if detector is None or choice.chosen is None:
        return None
    per_class = choice.members.get(PER_CLASS)
    thresholds = per_class.fitted.thresholds if per_class is not None and per_class.fitted is not None else \
        np.full(num_classes, NEVER)
    fitting = val if settings.odd_correct_credit else val.without_odd_credit()
    relaxed = None
    if detector.kind == PER_CLASS and tuning == "power_saving" and settings.power_saving_disagreement:
        relaxed = disagreement_threshold(fitting, thresholds, needed)
    single = single_threshold(fitting, num_classes, needed)
    chosen = choice.members[choice.chosen]
    assert chosen.choice is not None
    val_accept = chosen.oof_scores >= chosen.choice.threshold
    test_view = views["test"][choice.chosen]
    test_accept = detector.margins(test_view) >= 0.0
    if relaxed is not None:  # the paper's rule: a confident minion may answer a disagreement
        val_view = views["val"][PER_CLASS]
        val_accept = val_accept | (~val_view[2] & (val_view[1] >= relaxed))
        test_accept = test_accept | (~test_view[2] & (test_view[1] >= relaxed))
    return _Tuned(
        val=_accepted_point(chosen.answer_correct, val.master_correct, val_accept),  # odd corrects included
        test=_accepted_point(test_view[0] == references["test"], test.master_correct, test_accept),
        disagreement_threshold=relaxed,
        single_val=None if single is None else operating_point(val, np.asarray(single.thresholds)),
        single_test=None if single is None else operating_point(test, np.asarray(single.thresholds)),
        detector=detector,
        thresholds=thresholds,
        members={"chosen": choice.chosen, **members},
    )


def _unsearched_val(records: list[dict], frames: int) -> np.ndarray:
    """The val frames a system's detector may be fitted on: all but those a SIEVE model of the system
    chose its formats on (its record's ``search_val_frames``), since on those it agrees with its
    master more than on fresh frames."""
    keep = np.ones(frames, bool)
    for record in records:
        searched = list((record.get("sieve") or {}).get("search_val_frames", ()))
        if searched and max(searched) >= frames:
            raise BundleError(f"model {record['id']}: sieve.search_val_frames names val frame {max(searched)}; expected "
                              f"indices of the bundle's {frames} val frames")
        keep[searched] = False
    return keep


def _evaluate_systems(minions: list[dict], probabilities: dict, calibrated: dict, correct: dict, master_correct: dict,
                      num_classes: int, targets: dict[str, float], settings: RuntimeSettings) -> list[_System]:
    ordered = sorted(minions, key=lambda r: (-r["metrics"]["val_accuracy"], r["id"]))
    by_id = {m["id"]: m for m in ordered}
    groups = [(m["id"],) for m in ordered]
    # Two SIEVE models of one master are one network twice: they agree by construction, so no pair of them.
    groups += [(a["id"], b["id"]) for a, b in itertools.combinations(ordered, 2)
               if a["variant"] != b["variant"] and not (a.get("sieve") and b.get("sieve"))]
    systems = []
    for group in groups:
        frames = {"val": _unsearched_val([by_id[m] for m in group], correct["val"].size), "test": slice(None)}
        reference = {s: correct[s][frames[s]] for s in ("val", "test")}
        outcomes, views = {}, {}
        for split in ("val", "test"):
            arrays = [calibrated[m][split][frames[split]] for m in group]
            out = detect(arrays, np.zeros(num_classes))
            outcomes[split] = SystemOutcomes(out, out.answer == reference[split], master_correct[split][frames[split]])
            views[split] = member_views(arrays, [probabilities[m][split][frames[split]] for m in group])
        needed = {t: required_correct(int(outcomes["val"].master_correct.sum()), targets[t]) for t in TUNINGS}
        tuned = {t: _tune(views, reference, outcomes, t, needed[t], num_classes, settings) for t in TUNINGS}
        selectable = len(group) == 2 or settings.single_minion_systems
        systems.append(_System(_system_name(group), group, outcomes, tuned, num_classes, selectable))
    return systems


def configure_runtime(inputs: ConfigureInputs, settings: RuntimeSettings) -> Configuration:
    records = [r for r in inputs.records if r["blessed"]]
    unmeasured = sorted(r["id"] for r in records if not inputs.device_profile.has_model(r["id"]))
    if unmeasured:
        log.warning("the device profile has no timings for %s; they are left out of pairing", ", ".join(unmeasured))
        records = [r for r in records if r["id"] not in unmeasured]
    num_classes = len(inputs.labels)
    costs = {r["id"]: _device_cost(r, inputs.device_profile, inputs.host_preprocessing_ms) for r in records}
    master = _choose_master(records, costs)
    master_id = master["id"]
    probs = inputs.probabilities
    master_answer = {s: probs[master_id][s].argmax(axis=1) for s in ("val", "test")}
    labels = {"val": np.asarray(inputs.val_labels), "test": np.asarray(inputs.test_labels)}
    reference = master_answer if settings.reference == "master" else labels
    master_correct = {s: master_answer[s] == reference[s] for s in ("val", "test")}
    master_accuracy = (float(master_correct["val"].mean()), float(master_correct["test"].mean()))
    targets = {"normal": settings.targets.normal, "power_saving": settings.targets.power_saving}

    minions = [r for r in records if r["role"] == "minion"]
    if not minions:
        raise ConfigError("the bundle has no blessed minion artifact, so no runtime config can be made")
    calibrations = {}
    calibrated = {}
    for record in minions:
        mid = record["id"]
        fitting = _unsearched_val([record], reference["val"].size)
        calibration = calibrate_minion(mid, probs[mid]["val"][fitting], reference["val"][fitting], probs[mid]["test"],
                                       reference["test"], settings.calibration_bins)
        calibrations[mid] = calibration
        calibrated[mid] = {s: apply_temperature(probs[mid][s], calibration.temperature) for s in ("val", "test")}
    systems = _evaluate_systems(minions, probs, calibrated, reference, master_correct, num_classes, targets, settings)
    by_name = {s.name: s for s in systems}

    # Cloud: one frame up (as encoded), one reply down, the RTT, and the server's compute time.
    upload = int(np.median([upload_bytes(frame, settings.upload_encoding, settings.upload_jpeg_quality)
                            for frame in inputs.upload_frames[:64]]))
    reply = reply_bytes(num_classes)
    compute_w = inputs.device_profile.compute_power.value_w
    device_master = _pairing_cost(costs[master_id], compute_w)
    minion_costs = {m["id"]: _pairing_cost(costs[m["id"]], compute_w) for m in minions}
    placement_table, selection, rows = {}, {}, []
    for name in settings.network_profiles:
        profile = inputs.network_profiles[name]
        cloud = Cost(transfer_latency_ms(profile, upload, reply, settings.cloud_server_ms),
                     transfer_energy_mj(profile, upload, reply, wait_ms=profile.rtt_ms + settings.cloud_server_ms))
        place, why = choose_placement(device_master, cloud, cloud_allowed=True)
        placement_table[name] = {"device_ms": device_master.latency_ms, "cloud_ms": cloud.latency_ms,
                                 "device_mj": device_master.energy_mj, "cloud_mj": cloud.energy_mj,
                                 "choice": place, "why": why}
        selection[name] = {}
        for mode in MODES:
            spec = MODE_SPECS[mode]
            where, placement_why = choose_placement(device_master, cloud, cloud_allowed=spec["cloud"])
            master_cost = device_master if where == "device" else cloud
            tuning = spec["thresholds"]
            candidates = [] if tuning is None else [s.candidate(tuning) for s in systems if s.selectable]
            target = targets.get(tuning or "normal", 1.0)
            choice = choose_system(candidates, minion_costs, master_cost, placement=where,
                                   execution=settings.minion_execution, master_accuracy=master_accuracy, target=target)
            if spec["cloud"] and candidates:
                # The runtime may move the master (server load, a failed request, a forced placement): ship the
                # best system for the other place too, so it can re-select without falling back to the master.
                other = "cloud" if where == "device" else "device"
                elsewhere = choose_system(candidates, minion_costs, cloud if other == "cloud" else device_master,
                                          placement=other, execution=settings.minion_execution,
                                          master_accuracy=master_accuracy, target=target).system
                if elsewhere not in (MASTER_ONLY, choice.system, *choice.runner_ups):
                    choice = dataclasses.replace(choice, runner_ups=(*choice.runner_ups, elsewhere))
            why = f"{mode} mode runs the master alone for every frame" if tuning is None else choice.why
            selection[name][mode] = dataclasses.replace(choice, why=f"{why}; master on the {where}: {placement_why}")
            rows += [{**row, "profile": name, "mode": mode} for row in choice.evaluated]

    used = sorted({n for modes in selection.values() for c in modes.values() for n in (c.system, *c.runner_ups)} - {MASTER_ONLY})
    minion_ids = sorted(m["id"] for m in minions)
    config = {
        "schema_version": RUNTIME_CONFIG_SCHEMA_VERSION,
        "bundle": inputs.bundle_name,
        "created_utc": inputs.created_utc or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reference": settings.reference,
        "targets": targets,
        "master": {"model": master_id, "resolution": master["resolution"], "val_accuracy": master_accuracy[0],
                   "test_accuracy": master_accuracy[1]},
        "detector": {"threshold_rule": "calibrated_confidence_per_class",
                     "temperatures": {m: calibrations[m].temperature for m in minion_ids}},
        "minion_execution": settings.minion_execution,
        "systems": {n: {"minions": list(by_name[n].minions),
                        "modes": {t: by_name[n].tuned[t].to_json() for t in TUNINGS if by_name[n].tuned[t] is not None}}
                    for n in used},
        "modes": MODE_SPECS,
        "default_profile": settings.default_profile,
        "network_profiles": {n: inputs.network_profiles[n].to_json() for n in settings.network_profiles},
        "upload": {"encoding": settings.upload_encoding, "bytes": upload, "reply_bytes": reply,
                   "server_ms": settings.cloud_server_ms,
                   **({"jpeg_quality": settings.upload_jpeg_quality} if settings.upload_encoding == "jpeg" else {})},
        "placement": placement_table,
        "selection": {p: {m: c.to_json() for m, c in modes.items()} for p, modes in selection.items()},
        "latency": {m: costs[m] for m in [master_id, *minion_ids]},
        "device_profile": _device_summary(inputs.device_profile),
        "speculation_history": {"temporal_distance_ms": settings.temporal_distance_ms},
        "server_load": {"probe_interval_s": settings.server_load.probe_interval_s,
                        "rtt_smoothing": settings.server_load.rtt_smoothing},
    }
    check_runtime_config(config, "runtime_config.json", num_classes=num_classes, shipped_models=[r["id"] for r in records])
    report = _report_data(inputs, settings, config, costs, calibrations, systems, selection, rows)
    return Configuration(runtime_config=config, report_data=report, systems=tuple(s.table_row() for s in systems))


def resolve_device_profile(settings: RuntimeSettings, manifest: dict, host_preprocessing_ms: dict[int, float]) -> DeviceProfile:
    """The configured device profile, or one made of the build host's own measurements."""
    if settings.device_profile is None:
        return host_device_profile(manifest, preprocessing_ms=host_preprocessing_ms)
    profile = load_device_profile(settings.device_profile)
    for warning in match_profile_to_bundle(profile, manifest):
        log.warning("device profile %s: %s", settings.device_profile, warning)
    return profile


def resolve_network_profiles(settings: RuntimeSettings) -> dict[str, NetworkProfile]:
    profiles = dict(DEFAULT_PROFILES)
    if settings.network_profiles_file is not None:
        profiles.update(load_network_profiles(settings.network_profiles_file))
    missing = [name for name in settings.network_profiles if name not in profiles]
    if missing:
        raise ConfigError(f"runtime.network_profiles: {missing} are not defined; known profiles: {sorted(profiles)}")
    return {name: profiles[name] for name in settings.network_profiles}


def build_configuration(
    settings: RuntimeSettings,
    manifest: dict,
    probabilities: dict[str, dict[str, np.ndarray]],
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    latency_model: dict | None = None,
) -> Configuration:
    """Everything from a manifest (its models, labels, preprocessing) and the val/test data."""
    spec = PreprocessingSpec.from_json(manifest["preprocessing"])
    test_frames = splits["test"][0]
    blessed = [m for m in manifest["models"] if m["blessed"]]
    host_prep = measure_preprocessing_ms(test_frames, spec, [m["resolution"] for m in blessed])
    inputs = ConfigureInputs(
        bundle_name=manifest["name"],
        labels=tuple(manifest["labels"]),
        records=tuple(manifest["models"]),
        probabilities=probabilities,
        val_labels=splits["val"][1],
        test_labels=splits["test"][1],
        frames=test_frames,
        upload_frames=splits["val"][0],
        preprocessing=spec,
        device_profile=resolve_device_profile(settings, manifest, host_prep),
        host_preprocessing_ms=host_prep,
        network_profiles=resolve_network_profiles(settings),
        latency_model=latency_model,
        dataset=manifest["dataset"],
        created_utc=manifest["created_utc"],
    )
    return configure_runtime(inputs, settings)


def _device_summary(profile: DeviceProfile) -> dict:
    doc = profile.to_json()
    power = doc["compute_power_w"]
    return {"name": doc["device"]["name"], "kind": doc["device"]["kind"],
            "source": f"{doc['source']['tool']}: {doc['source']['notes']}".strip(": "),
            "compute_power_w": power["value"], "power_measured": power["measured"]}


def _per_class_points(system: _System, tuned: _Tuned) -> tuple[OperatingPoint, OperatingPoint]:
    """What the paper's rule's per-class thresholds give on val and test, whichever detector ships."""
    return operating_point(system.outcomes["val"], tuned.thresholds), operating_point(system.outcomes["test"], tuned.thresholds)


def _per_class_vs_single(system: _System, tuned: _Tuned) -> dict:
    out = {}
    for split, per_class, single in zip(("val", "test"), _per_class_points(system, tuned),
                                        (tuned.single_val, tuned.single_test)):
        out[split] = {"per_class": {"recovery_rate": per_class.recovery_rate, "accuracy": per_class.accuracy},
                      "single": None if single is None else {"recovery_rate": single.recovery_rate, "accuracy": single.accuracy}}
    return out


def _verdict(system: _System, tuned: _Tuned) -> str:
    if tuned.single_val is None:
        return "no single threshold reaches the target on val; per-class thresholds do"
    (pc, test_pc), single = _per_class_points(system, tuned), tuned.single_val
    if pc.recovery_rate < single.recovery_rate:
        verdict = (f"per-class thresholds beat a single threshold on val: P_r {100 * pc.recovery_rate:.1f}% vs "
                   f"{100 * single.recovery_rate:.1f}% at accuracy {100 * pc.accuracy:.2f}% vs {100 * single.accuracy:.2f}%")
    elif pc.recovery_rate > single.recovery_rate:
        verdict = (f"a single threshold beats per-class thresholds on val: P_r {100 * single.recovery_rate:.1f}% vs "
                   f"{100 * pc.recovery_rate:.1f}% at accuracy {100 * single.accuracy:.2f}% vs {100 * pc.accuracy:.2f}%")
    else:
        verdict = f"per-class and single thresholds tie on val: P_r {100 * pc.recovery_rate:.1f}%"
    test_single = tuned.single_test
    assert test_single is not None
    return (f"{verdict}; on test: per-class P_r {100 * test_pc.recovery_rate:.1f}% at {100 * test_pc.accuracy:.2f}%, "
            f"single P_r {100 * test_single.recovery_rate:.1f}% at {100 * test_single.accuracy:.2f}%")


def _chosen_report(system: _System, profile: str) -> dict:
    test = system.outcomes["test"]
    master_correct_test = test.master_correct
    tuned = system.tuned["normal"] or system.tuned["power_saving"]  # a system is chosen in a mode it reaches
    assert tuned is not None
    # Confidence of each test output class (Fig 4.4): lowest calibrated confidence of the minions.
    confidence = test.detector.confidence
    wrong = ~test.minion_correct
    points = []
    for tuning in TUNINGS:
        entry = system.tuned[tuning]
        if entry is None:
            continue
        for kind, val_point, test_point in (("per_class", entry.val, entry.test),
                                            ("single", entry.single_val, entry.single_test)):
            if val_point is None:
                continue
            for split, point in (("val", val_point), ("test", test_point)):
                points.append({"mode": tuning, "kind": kind, "split": split, "recovery_rate": point.recovery_rate,
                               "accuracy": point.accuracy, "threshold": point.thresholds[0] if kind == "single" else None})
    return {
        "system": system.name,
        "minions": list(system.minions),
        "profile": profile,
        "curve": {split: threshold_sweep(system.outcomes[split]) for split in ("val", "test")},
        "operating_points": points,
        "confidence": {
            "correct": confidence[test.minion_correct].tolist(),
            "correctable": confidence[wrong & master_correct_test].tolist(),
            "uncorrectable": confidence[wrong & ~master_correct_test].tolist(),
        },
        "oracle_recovery_rate_test": float(np.mean(wrong & master_correct_test)),
        "achieved_test": {"recovery_rate": tuned.test.recovery_rate, "accuracy": tuned.test.accuracy},
        "per_class_vs_single": {**_per_class_vs_single(system, tuned), "verdict": _verdict(system, tuned)},
    }


def _report_data(inputs, settings, config, costs, calibrations, systems, selection, rows) -> dict:
    by_name = {s.name: s for s in systems}
    default = selection[settings.default_profile]["normal"]
    chosen_name = default.system
    if chosen_name == MASTER_ONLY:
        # Show the best system that reached the target anywhere, if any, so the report can say why it lost.
        hybrids = [c.system for modes in selection.values() for c in modes.values() if c.system != MASTER_ONLY]
        chosen_name = hybrids[0] if hybrids else None
    master_id = config["master"]["model"]
    chosen = None if chosen_name is None else _chosen_report(by_name[chosen_name], settings.default_profile)
    outcomes = []
    for name in sorted({chosen_name, *config["systems"]} - {None}):
        for split in ("val", "test"):
            o = by_name[name].outcomes[split]
            outcomes.append({"system": name, "split": split, **outcome_counts(o.minion_correct, o.master_correct)})
    models = []
    for record in sorted(inputs.records, key=lambda r: (r["role"] != "master", r["macs"], r["id"])):
        calibration = calibrations.get(record["id"])
        models.append({**{k: record[k] for k in ("id", "role", "family", "alpha", "resolution", "precision", "bytes",
                                                  "params", "macs", "blessed", "reason", "metrics")},
                       "latency_ms": costs[record["id"]]["total_ms"] if record["id"] in costs else None,
                       "calibration": None if calibration is None else calibration.summary(),
                       **({"pruning": record["pruning"]} if "pruning" in record else {})})
    test_check = {"master_test_accuracy": config["master"]["test_accuracy"]}
    for mode in ("normal", "power_saving"):
        choice: Choice = selection[settings.default_profile][mode]
        test_check[mode] = {"system": choice.system, "accuracy": choice.test_accuracy, "recovery_rate": choice.test_recovery_rate}
    notes = []
    if settings.reference == "master":
        notes.append("Unlabeled calibration: the master's own answers were the reference, so every accuracy here is "
                     "agreement with the master, not accuracy against ground truth.")
    detector = settings.detector
    notes.append(f"Detectors: {', '.join(detector.members)}, cross-fitted on {detector.folds} folds of val; thresholds "
                 + ("chosen to keep the target on the held-out scores (point estimate)" if detector.threshold_mode == "point"
                    else f"certified: extra errors per frame ≤ ε with probability ≥ {1 - detector.delta:g} (Learn-then-Test)")
                 + f"; per-class thresholds shrunk toward a global one with a weight of {detector.prior_frames:g} frames.")
    if not config["device_profile"]["power_measured"]:
        notes.append(f"Energy uses an assumed compute power of {config['device_profile']['compute_power_w']} W "
                     "(no power counters on the measuring machine); radio energy follows the network power models.")
    return {
        "detectors": _detectors_report(settings, systems, sorted({chosen_name, *config["systems"]} - {None})),
        "bundle": {"name": inputs.bundle_name, "created_utc": config["created_utc"], "dataset": inputs.dataset or {},
                   "labels": list(inputs.labels)},
        "reference": settings.reference,
        "targets": config["targets"],
        "master": {"id": master_id, "val_accuracy": config["master"]["val_accuracy"],
                   "test_accuracy": config["master"]["test_accuracy"]},
        "models": models,
        "calibration": {mid: {"temperature": c.temperature, "reliability_before": c.reliability_before.to_json(),
                              "reliability_after": c.reliability_after.to_json()} for mid, c in calibrations.items()},
        "chosen": chosen,
        "outcomes": outcomes,
        "candidates": rows,
        "selection": config["selection"],
        "placement": config["placement"],
        "network_profiles": config["network_profiles"],
        "device_profile": config["device_profile"],
        "latency_model": None if inputs.latency_model is None else {
            **inputs.latency_model["evaluation"], "layer_samples": inputs.latency_model["layer_samples"],
            "seconds": inputs.latency_model["seconds"]},
        "test_check": test_check,
        "notes": notes,
    }


# SIEVE's misspeculation detector, dissertation §4.5.5: false negatives (a frame the speculative CNN got
# wrong and the original right, not recovered) per connection, and false positives, as shares of all frames.
SIEVE_DETECTOR = {"false_negative_rate": {"3g": 0.007, "lte": 0.008, "wifi": 0.004}, "false_positive_rate_below": 0.005,
                  "source": "dissertation §4.5.5 (SIEVE, energy-optimised): FN 0.7/0.8/0.4% for 3G/LTE/Wi-Fi, "
                            "FP below 0.5% for all connections"}


def _detectors_report(settings: RuntimeSettings, systems: list[_System], names: list[str]) -> dict:
    """Per shipped system and tuned mode: achieved vs oracle recovery on test, and every detector member's
    cross-fitted choice, test outcome, false negatives/positives and risk-coverage curves."""
    d = settings.detector
    rows = []
    by_name = {s.name: s for s in systems}
    for name in names:
        system = by_name[name]
        for tuning in TUNINGS:
            tuned = system.tuned[tuning]
            if tuned is None:
                continue
            chosen = tuned.members["chosen"]
            oracle = tuned.members[chosen]["oracle_recovery_rate_test"]
            achieved = tuned.test.recovery_rate
            rows.append({"system": name, "tuning": tuning, "chosen": chosen, "oracle_recovery_rate_test": oracle,
                         "achieved_recovery_rate_test": achieved, "accuracy_test": tuned.test.accuracy,
                         "efficiency": oracle / achieved if achieved > 0 else None,
                         "members": {k: v for k, v in tuned.members.items() if k != "chosen"}})
    return {"settings": {"members": list(d.members), "threshold_mode": d.threshold_mode, "delta": d.delta,
                         "epsilon": {"normal": d.epsilon.normal, "power_saving": d.epsilon.power_saving},
                         "prior_frames": d.prior_frames, "folds": d.folds, "window_frames": d.window_frames},
            "sieve": SIEVE_DETECTOR, "systems": rows}


def write_configuration(configuration: Configuration, bundle_dir: Path) -> dict[str, str]:
    """Writes runtime_config.json, report/ (index.html, plots, systems.json) and model_card.md into
    ``bundle_dir``; returns their paths relative to it."""
    from mmnet.format.runtime_config import RUNTIME_CONFIG_FILE, write_runtime_config
    from mmnet.pipeline.report.model_card import write_model_card
    from mmnet.pipeline.report.page import write_report

    bundle_dir = Path(bundle_dir)
    write_runtime_config(configuration.runtime_config, bundle_dir / RUNTIME_CONFIG_FILE)
    index = write_report(configuration.report_data, bundle_dir / "report")
    systems = index.parent / "systems.json"
    systems.write_text(json.dumps(list(configuration.systems), indent=1) + "\n", encoding="utf-8")
    card = write_model_card(configuration.report_data, bundle_dir / "model_card.md")
    return {"runtime_config": RUNTIME_CONFIG_FILE, "index": index.relative_to(bundle_dir).as_posix(),
            "systems": systems.relative_to(bundle_dir).as_posix(), "model_card": card.relative_to(bundle_dir).as_posix()}
