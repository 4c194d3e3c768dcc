"""The three systems of ``mmnet bench`` over a bundle's test split, on two network paths.

Systems (the dissertation's baselines, Fig 4.13-4.14 and 5.4-5.7):

- ``mobile-only``: the master on the device for every frame (the runtime in mission-critical mode,
  placement forced to the device);
- ``cloud-only``: every frame to the master server (mission-critical, placement forced to the cloud);
- ``hybrid``: the runtime as configured: the mode's minions and detector, the master wherever the
  selector places it;
- ``hybrid-device`` / ``hybrid-cloud``: the same with the master's place forced to the device / the
  cloud, so both placements are on the record whichever the selector picks. The selector still
  decides whether the minions pay off at that placement; where they do not, it runs the master alone.

Network paths:

- ``analytical``: no socket. The runtime's cloud client is replaced by :class:`AnalyticalCloud`, an
  in-process master (the model file the server runs, computing for real on this host for its
  answer) that charges every request the runtime config's modelled time (upload / uplink + RTT +
  reply / downlink + ``upload.server_ms``) on a :class:`VirtualClock` the runtime reads through its
  ``clock`` injection. Latencies, the selector's RTT observations and the radio energy then follow
  the network model exactly.
- ``measured``: every cloud request crosses real sockets: the runtime's own ``RemoteMaster`` ->
  :class:`mmnet.benchmarks.shaped_link.ShapedLink` (a loopback TCP proxy shaped to the profile) -> the
  master server. :class:`MeasuredCloud` records each request's bytes (as the link counted them) and
  wall time, with the server's host-CPU compute replaced by ``upload.server_ms``.

On both paths the server's compute is the configured ``upload.server_ms``, not this host's CPU
time: the dissertation's cloud is a GPU whose compute is neglected (§5.2.1), and a host-CPU master
would both inflate cloud-only and read to the selector as a loaded server.

Per frame (:func:`frame_cost`): the latency splits into minion (minion inference and their
preprocessing), master (on the device, or the modelled server time), transfer (the rest of a cloud
request) and overhead (the runtime's own decision and bookkeeping), from the runtime's own timings.
Energy = the device compute energy of every model that ran on the device (the runtime config's
per-model ``energy_mj``, which comes from its device profile) + the radio energy of every cloud
request (:func:`radio_energy_mj`).

Scheduling (:func:`interleave`): every run keeps its runtime open (:class:`RunPasses`) while the
bench makes its passes round robin, pass 1 of every run, then pass 2, ..., so a slow spell of the
host lands on one pass of many runs rather than on every pass of one, and each frame's median pass
leaves it out.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from mmnet.format.bundle import Bundle
from mmnet.format.runtime_config import MODES as RUNTIME_MODES
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.network import NetworkProfile, transfer_energy_mj, transfer_latency_ms
from mmnet.runtime.preprocessing import preprocess
from mmnet.runtime.remote import RemoteMaster, RemoteResult
from mmnet.runtime.runtime import FrameResult, Runtime
from mmnet.runtime.selector import SelectorTables, decide, initial_state

__all__ = [
    "PATHS",
    "SYSTEMS",
    "MODE_NAMES",
    "LATENCY_PARTS",
    "ENERGY_PARTS",
    "Request",
    "Run",
    "Slot",
    "VirtualClock",
    "AnalyticalCloud",
    "MeasuredCloud",
    "plan_runs",
    "radio_energy_mj",
    "energy_parts",
    "frame_cost",
    "network_profile",
    "RunPasses",
    "wants_pass",
    "interleave",
    "METHOD",
    "master_compute_ms",
    "selector_view",
]

PATHS = ("analytical", "measured")
MODE_NAMES = {mode: mode.replace("_", "-") for mode in RUNTIME_MODES}  # results use the CLI's spelling
LATENCY_PARTS = ("minion", "master", "transfer", "overhead")
ENERGY_PARTS = ("minion", "master", "transfer")
_PLACEMENT = {"mobile-only": "device", "cloud-only": "cloud", "hybrid": "auto", "hybrid-device": "device",
              "hybrid-cloud": "cloud"}
SYSTEMS = tuple(_PLACEMENT)
_REMOTE_TIMEOUT_S = 10.0  # a 3G request takes ~0.1 s; a timeout here is a fault, counted as a fallback
WARMUP_FRAMES = 3
PASSES = 7  # passes over the frames per run, as many as fit PASS_BUDGET_S of its own pass time (at least one)
PASS_BUDGET_S = 10.0
MIN_PASSES = 3  # a run whose pass takes at most MIN_PASSES_PASS_S makes this many even past the budget
MIN_PASSES_PASS_S = 10.0
FRAME_INTERVAL_S = 1.0
METHOD = {"warmup_frames": WARMUP_FRAMES, "passes": PASSES, "pass_budget_s": PASS_BUDGET_S, "frame_interval_s": FRAME_INTERVAL_S,
          "min_passes": MIN_PASSES, "min_passes_pass_s": MIN_PASSES_PASS_S,
          "rule": "all runs are measured together, round robin: pass 1 of every run, then pass 2 of every run that wants "
                  "another, and so on; a run makes up to `passes` passes over its frames, as many as fit `pass_budget_s` "
                  "of its own pass time (at least one, and at least `min_passes` when a pass takes at most `min_passes_pass_s`), "
                  "each after `warmup_frames` warm-up frames; each frame counts with "
                  "its median pass (the lower middle one for an even count). A slow spell of the host (a neighbour "
                  "process, the CPU's clock) then lands on one pass of many runs rather than on every pass of one, and "
                  "the median pass leaves it out"}


@dataclass(frozen=True)
class Request:
    """One cloud request as the phone's radio saw it.

    ``duration_ms`` is how long the radio was busy with it (request out to reply in); ``server_ms``
    the part of it the master computed on the server.
    """

    up_bytes: int
    down_bytes: int
    duration_ms: float
    server_ms: float
    ok: bool


@dataclass(frozen=True)
class Run:
    """One pass of the runtime over the frames. ``path`` None: the run crosses no network."""

    system: str
    mode: str  # the runtime's spelling (power_saving)
    profile: str
    path: str | None

    @property
    def key(self) -> str:
        if self.system == "mobile-only":
            return "mobile-only"
        if self.system == "hybrid-device":  # the master's place is forced: no profile or path changes its choices
            return f"hybrid-device/{MODE_NAMES[self.mode]}"
        parts = [self.system, self.profile, *([MODE_NAMES[self.mode]] if self.system.startswith("hybrid") else []),
                 self.path or "no-network"]
        return "/".join(parts)


@dataclass(frozen=True)
class Slot:
    """One record of the results (system x profile x mode x path): the run that fills it, or None
    (not applicable) with the reason; ``note`` says why a run is shared."""

    system: str
    profile: str
    mode: str
    path: str
    run: Run | None
    note: str


def plan_runs(config_doc: Mapping[str, Any]) -> list[Slot]:
    """Every record the results hold, mapped to the fewest runs that give them correctly.

    - mobile-only crosses no network and makes no mode choice: one run serves every slot;
    - cloud-only sends every frame to the master alone whatever the mode: one run per profile and
      path; not applicable in modes that never leave the device (``modes.<mode>.cloud`` false);
    - hybrid: one run per profile, mode and path; a mode that never leaves the device makes the
      analytical and the measured path the same run;
    - hybrid-device: the master forced onto the device, so nothing depends on the profile or the
      path: one run per mode; a mode without minions is mobile-only's run;
    - hybrid-cloud: the master forced into the cloud: one run per profile, mode and path; a mode
      without minions is cloud-only's run; not applicable in modes that never leave the device.
    """
    modes = config_doc["modes"]
    mobile = Run("mobile-only", "mission_critical", config_doc["default_profile"], None)
    slots = []
    for profile in config_doc["network_profiles"]:
        for mode in RUNTIME_MODES:
            cloud = bool(modes[mode]["cloud"])
            minions = bool(modes[mode]["minions"])
            name = MODE_NAMES[mode]
            never_leaves = (f"not applicable: mode {name} never leaves the device (runtime_config "
                            f"modes.{mode}.cloud is false)")
            for path in PATHS:
                cloud_only = Run("cloud-only", "mission_critical", profile, path)
                slots.append(Slot("mobile-only", profile, mode, path, mobile,
                                  "the master on the device for every frame: no network, no mode choice; "
                                  "one run serves every profile, mode and path"))
                if cloud:
                    slots.append(Slot("cloud-only", profile, mode, path, cloud_only,
                                      "every frame to the master alone, whatever the mode: one run per profile and path"))
                else:
                    slots.append(Slot("cloud-only", profile, mode, path, None, never_leaves))
                slots.append(Slot("hybrid", profile, mode, path, Run("hybrid", mode, profile, path if cloud else None),
                                  "" if cloud else f"mode {name} never leaves the device: one run serves both paths"))
                if minions:
                    device = Run("hybrid-device", mode, config_doc["default_profile"], None)
                    slots.append(Slot("hybrid-device", profile, mode, path, device,
                                      "the master forced onto the device: no network, so one run per mode serves every "
                                      "profile and path"))
                else:
                    slots.append(Slot("hybrid-device", profile, mode, path, mobile,
                                      f"mode {name} runs no minions: the master alone on the device is mobile-only's run"))
                if not cloud:
                    slots.append(Slot("hybrid-cloud", profile, mode, path, None, never_leaves))
                elif minions:
                    slots.append(Slot("hybrid-cloud", profile, mode, path, Run("hybrid-cloud", mode, profile, path), ""))
                else:
                    slots.append(Slot("hybrid-cloud", profile, mode, path, cloud_only,
                                      f"mode {name} runs no minions: the master alone in the cloud is cloud-only's run"))
    return slots


def network_profile(config_doc: Mapping[str, Any], name: str) -> NetworkProfile:
    """The runtime config's network profile ``name`` as a :class:`NetworkProfile`."""
    return NetworkProfile.from_json({**config_doc["network_profiles"][name], "name": name})


# --------------------------------------------------------------------------------------------
# Energy and the per-frame breakdown


def radio_energy_mj(profile: NetworkProfile, request: Request) -> float:
    """Radio energy of one request: Huang et al.'s linear model over the request's own duration.

    The request's bytes take ``bytes / rate`` at the profile's rates and cost the transfer powers
    ``P_up`` / ``P_down``; the rest of ``duration_ms`` (RTT, server compute, HTTP) costs the base
    power ``beta`` (:func:`mmnet.runtime.network.transfer_energy_mj`). With the modelled duration
    (transfer + RTT + server time) this is the runtime's own radio estimate; with a measured
    duration it charges what the link really took.
    """
    sending_ms = transfer_latency_ms(profile, request.up_bytes, request.down_bytes) - profile.rtt_ms
    return transfer_energy_mj(profile, request.up_bytes, request.down_bytes,
                              wait_ms=max(0.0, request.duration_ms - sending_ms))


def energy_parts(minions_run: Sequence[str], master_on_device: str | None, requests: Iterable[Request],
                 device_energy_mj: Mapping[str, float], profile: NetworkProfile) -> dict[str, float]:
    """A frame's energy (mJ) by part: device compute of the minions and of the master, radio of its requests."""
    return {
        "minion": float(sum(device_energy_mj[m] for m in minions_run)),
        "master": float(device_energy_mj[master_on_device]) if master_on_device is not None else 0.0,
        "transfer": float(sum(radio_energy_mj(profile, r) for r in requests)),
    }


def frame_cost(result: FrameResult, requests: Sequence[Request], config_doc: Mapping[str, Any],
               profile: NetworkProfile) -> tuple[dict[str, float], dict[str, float]]:
    """(latency ms, energy mJ) of one classified frame, by part.

    Preprocessing counts as the minions' when they ran, else as the device master's; a cloud
    request's time is the server's compute (``Request.server_ms``) plus transfer (the rest).
    """
    timings = result.timings_ms
    runs_minions = result.decision.runs_minions
    server_ms = sum(r.server_ms for r in requests)
    latency = {
        "minion": timings["minions"] + (timings["preprocess"] if runs_minions else 0.0),
        "master": timings["master"] + (0.0 if runs_minions else timings["preprocess"]) + server_ms,
        "transfer": max(0.0, timings["remote"] - server_ms),
        "overhead": timings["overhead"],
    }
    minions = config_doc["systems"][result.system]["minions"] if runs_minions else ()
    master = config_doc["master"]["model"] if result.master_placement == "device" else None
    energies = {m: v["energy_mj"] for m, v in config_doc["latency"].items()}
    return latency, energy_parts(minions, master, requests, energies, profile)


# --------------------------------------------------------------------------------------------
# The two cloud paths


class VirtualClock:
    """``time.perf_counter()`` plus the modelled network time: the runtime's clock on the analytical path."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.perf_counter() + self.offset_s

    def advance_ms(self, ms: float) -> None:
        self.offset_s += ms / 1000.0


class AnalyticalCloud:
    """The cloud master as the runtime config's network model has it, computed in this process.

    Each request runs the master for real (for its answer), then :attr:`clock`, which the runtime
    reads, shows the modelled time instead of that host-CPU compute: the transfer of
    ``upload.bytes`` and ``upload.reply_bytes`` on the profile plus the config's
    ``upload.server_ms``. The dissertation's cloud is a GPU whose compute is neglected (§5.2.1);
    charging this host's CPU time would make a heavy master look like a loaded server.
    """

    def __init__(self, bundle: Bundle, profile: NetworkProfile):
        doc = bundle.runtime_config.document
        master = bundle.model(doc["master"]["model"])
        self.clock = VirtualClock()
        self._classifier = TFLiteClassifier(bundle.model_path(master.id), num_threads=1)
        self._spec = bundle.preprocessing
        self._resolution = master.resolution
        self.up_bytes = int(doc["upload"]["bytes"])
        self.down_bytes = int(doc["upload"]["reply_bytes"])
        self.transfer_ms = transfer_latency_ms(profile, self.up_bytes, self.down_bytes)
        self.server_ms = float(doc["upload"]["server_ms"])
        self._requests: list[Request] = []

    def predict(self, frame: np.ndarray) -> RemoteResult:
        start = time.perf_counter()
        probabilities = self._classifier.predict(preprocess(frame[None], self._spec, self._resolution))[0]
        compute_ms = 1000.0 * (time.perf_counter() - start)
        duration = self.transfer_ms + self.server_ms
        self.clock.advance_ms(duration - compute_ms)  # the clock ran for the compute: take it back out
        self._requests.append(Request(self.up_bytes, self.down_bytes, duration, self.server_ms, True))
        return RemoteResult(probabilities=probabilities.astype(np.float32), rtt_ms=duration, attempts=1, total_ms=duration)

    def take(self) -> list[Request]:
        """The requests since the last call."""
        taken, self._requests = self._requests, []
        return taken

    def close(self) -> None:
        self._classifier = None


class MeasuredCloud:
    """The runtime's own ``RemoteMaster`` through a shaped link, each request's bytes and time recorded.

    ``url`` is the link's; a request's bytes are what the link carried each way, its duration the
    wall time of ``predict`` (frame encoding, retries and backoff included) with the server's
    host-CPU compute replaced by the modelled server time: ``host_compute_ms`` (the master's median
    compute on this host, measured beforehand) comes out, at most the whole request, and
    ``upload.server_ms`` (the dissertation's neglected GPU time) goes in. Frames are sent in the
    config's ``upload.encoding``, the one its ``upload.bytes`` were measured in. :attr:`clock`,
    which the runtime reads, and the RTT it is told show the same, so a heavy
    master does not read as a loaded server.
    """

    def __init__(self, link: Any, host_compute_ms: float, upload: Mapping[str, Any], model_name: str, num_classes: int):
        self.clock = VirtualClock()
        self._link = link
        self._host_compute_ms = host_compute_ms
        self._server_ms = float(upload["server_ms"])
        # Frames travel as the runtime config says (its upload.bytes were measured in that encoding).
        self._remote = RemoteMaster(link.url(), model_name, timeout_s=_REMOTE_TIMEOUT_S, num_classes=num_classes,
                                    encoding=upload["encoding"], jpeg_quality=upload.get("jpeg_quality", 90))
        self._requests: list[Request] = []

    def predict(self, frame: np.ndarray) -> RemoteResult:
        before = self._link.stats()
        start = time.perf_counter()
        ok = False
        try:
            result = self._remote.predict(frame)
            ok = True
        finally:
            duration = 1000.0 * (time.perf_counter() - start)
            after = self._link.stats()
            replaced = min(self._host_compute_ms, duration) if ok else 0.0
            self.clock.advance_ms((self._server_ms if ok else 0.0) - replaced)
            self._requests.append(Request(after["bytes_up"] - before["bytes_up"], after["bytes_down"] - before["bytes_down"],
                                          duration - replaced + (self._server_ms if ok else 0.0),
                                          self._server_ms if ok else 0.0, ok))
        shift = self._server_ms - replaced
        total = result.total_ms if result.total_ms is not None else result.rtt_ms
        return replace(result, rtt_ms=max(0.0, result.rtt_ms + shift), total_ms=max(0.0, total + shift))

    def take(self) -> list[Request]:
        taken, self._requests = self._requests, []
        return taken

    def close(self) -> None:
        self._remote.close()


def selector_view(tables: SelectorTables, profile: str, mode: str, placement: str) -> dict[str, Any]:
    """What the runtime's selector decides for a frame of ``mode`` on ``profile``'s nominal link with the master's
    place ``placement`` ("auto", "device" or "cloud"), with the numbers it compared, for the report's why-sentences.

    ``best`` is the cheapest minion system at that placement: its minions' time, its recovery rate and what a
    recovery costs (the master at that placement, less the preprocessing a minion already did); its expected time
    is ``minion_ms + recovery_rate × recovery_ms``, against ``master_ms``, the master alone there.
    """
    override = None if placement == "auto" else placement
    decision = decide(tables, initial_state(tables, profile), mode=mode, now_s=0.0, placement_override=override)
    estimates = decision.estimates
    best = None
    if (profile, mode) in tables.selections:
        for c in tables.selections[(profile, mode)].candidates:
            recovery_ms = estimates["master_ms"] - (c.master_prepared_ms if decision.placement == "device" else 0.0)
            expected = c.minion_ms + c.recovery_rate * recovery_ms
            if best is None or expected < best["expected_ms"]:
                best = {"system": c.system, "minion_ms": c.minion_ms, "recovery_rate": c.recovery_rate,
                        "recovery_ms": recovery_ms, "expected_ms": expected}
    return {"placement_asked": placement, "placement": decision.placement, "system": decision.system,
            "runs_minions": decision.runs_minions, "L_m": estimates["L_m"], "L_t": estimates["L_t"],
            "master_ms": estimates["master_ms"], "best": best, "reasons": [r.text for r in decision.reasons]}


def master_compute_ms(bundle: Bundle, frames: np.ndarray, *, runs: int = 50) -> float:
    """Median time (ms) of the master's preprocessing + inference on one frame, single-threaded, on this host."""
    master = bundle.model(bundle.runtime_config.master_model)
    classifier = TFLiteClassifier(bundle.model_path(master.id), num_threads=1)
    times = []
    for i in range(runs + 5):
        frame = frames[i % len(frames)][None]
        start = time.perf_counter()
        classifier.predict(preprocess(frame, bundle.preprocessing, master.resolution))
        times.append(1000.0 * (time.perf_counter() - start))
    return float(np.median(times[5:]))


# --------------------------------------------------------------------------------------------
# One run


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


class RunPasses:
    """One run's runtime, kept open while the bench makes its passes (:func:`interleave`), and the passes made.

    ``cloud`` is the path's master (None for a run that crosses no network); the runtime closes it.
    Frames are :data:`FRAME_INTERVAL_S` apart (1 s, as ``mmnet run``: independent stills, no
    speculation-history effects).
    """

    def __init__(self, run: Run, bundle: Bundle, frames: np.ndarray, labels: np.ndarray, master_labels: np.ndarray, *,
                 cloud: AnalyticalCloud | MeasuredCloud | None, progress: bool = False):
        self.run = run
        self._doc = bundle.runtime_config.document
        self._profile = network_profile(self._doc, run.profile)
        self._frames, self._labels, self._master_labels = frames, labels, master_labels
        self._cloud = cloud
        self._progress = progress
        self._runtime = Runtime(bundle, mode=run.mode, network=run.profile, master_client=cloud,
                                placement=_PLACEMENT[run.system], clock=time.perf_counter if cloud is None else cloud.clock)
        self._passes: list[tuple[list[FrameResult], list[tuple[dict, dict]], list[list[Request]]]] = []

    def __enter__(self) -> RunPasses:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._runtime.close()

    @property
    def passes_made(self) -> int:
        return len(self._passes)

    def make_pass(self) -> float:
        """A warm-up, then one pass over the frames from a fresh selector state; returns the pass's seconds.

        The warm-up, one request straight to the cloud master (whether or not the frames use it)
        and then :data:`WARMUP_FRAMES` frames through the runtime, opens the measured path's
        kept-alive connection, or opens it again if the server dropped it while idle between passes
        (after 5 s, ``mmnet.server.launch``), and reloads the interpreters' caches after the
        other runs' passes. Every pass is thus timed on a warm runtime and an open connection.
        """
        runtime, cloud = self._runtime, self._cloud
        if cloud is not None:
            cloud.predict(self._frames[0])  # first: HTTP and PNG coding would evict what the frames below warm
        runtime.state = initial_state(runtime.tables, self.run.profile)
        for i in range(min(WARMUP_FRAMES, len(self._frames))):
            runtime.classify(self._frames[i], timestamp_s=float(i))
        runtime.state = initial_state(runtime.tables, self.run.profile)
        if cloud is not None:
            cloud.take()  # the warm-up's requests count nowhere
        results, costs, requests = [], [], []
        started = time.perf_counter()
        gc.disable()  # as timeit does: a collection of the growing result list would land in one frame's time
        try:
            for i, frame in enumerate(tqdm(self._frames, desc=f"{self.run.key} pass {len(self._passes) + 1}", unit="frame",
                                           leave=False, disable=not self._progress)):
                result = runtime.classify(frame, timestamp_s=i * FRAME_INTERVAL_S, index=i)
                taken = cloud.take() if cloud is not None else []
                results.append(result)
                costs.append(frame_cost(result, taken, self._doc, self._profile))
                requests.append(taken)
        finally:
            gc.enable()
        self._passes.append((results, costs, requests))
        return time.perf_counter() - started

    def summary(self) -> dict[str, Any]:
        """The run's record: each frame with its median pass (its latency, breakdown, energy and answer together).

        On a shared host a slow spell hits a frame in one pass, not in most, so the mean over frames
        measures the system rather than the host's other load. ``passes`` keeps each pass's mean
        latency and their ``spread`` ((max - min) / median; None for one pass), the run's noise.
        """
        passes = self._passes
        totals = np.array([[r.timings_ms["total"] for r in results] for results, _, _ in passes])
        median_pass = np.argsort(totals, axis=0, kind="stable")[(len(passes) - 1) // 2]
        chosen = [(passes[p][0][i], passes[p][1][i], passes[p][2][i]) for i, p in enumerate(median_pass)]
        summary = summarise_run(self.run, [c[0] for c in chosen], [c[1] for c in chosen], [r for c in chosen for r in c[2]],
                                self._labels, self._master_labels)
        means = totals.mean(axis=1)
        summary["passes"] = {"count": len(passes), "latency_mean_ms": [float(m) for m in means],
                             "spread": float((means.max() - means.min()) / np.median(means)) if len(passes) > 1 else None}
        return summary


def wants_pass(durations_s: Sequence[float], passes: int = PASSES, budget_s: float = PASS_BUDGET_S) -> bool:
    """Whether a run whose passes took ``durations_s`` makes another: its first always; then up to
    ``passes`` in all, unless one more (as long as their mean) would take it past ``budget_s``; but
    :data:`MIN_PASSES` (at most ``passes``) when a pass takes at most :data:`MIN_PASSES_PASS_S`, so a
    slow master's device run (seconds a pass) still has a median pass that leaves a slow spell out."""
    made = len(durations_s)
    if made == 0:
        return True
    if made >= passes:
        return False
    mean_s = sum(durations_s) / made
    return (made < MIN_PASSES and mean_s <= MIN_PASSES_PASS_S) or mean_s * (made + 1) <= budget_s


_Job = TypeVar("_Job")


def interleave(jobs: Sequence[_Job], make_pass: Callable[[_Job], float], *, passes: int = PASSES,
               budget_s: float = PASS_BUDGET_S) -> list[float]:
    """Makes the jobs' passes round robin: in each round, in order, one pass of every job that
    :func:`wants_pass` (``make_pass(job)`` returns the pass's seconds), until none does.

    Returns each round's wall seconds. A job's passes are thus a round apart, so a slow spell of
    the host well shorter than a round hits at most one pass of each job.
    """
    durations: list[list[float]] = [[] for _ in jobs]
    rounds = []
    while due := [i for i, made in enumerate(durations) if wants_pass(made, passes, budget_s)]:
        started = time.monotonic()
        for i in due:
            durations[i].append(make_pass(jobs[i]))
        rounds.append(time.monotonic() - started)
    return rounds


def summarise_run(run: Run, results: Sequence[FrameResult], costs: Sequence[tuple[dict, dict]],
                  requests: Sequence[Request], labels: np.ndarray, master_labels: np.ndarray) -> dict[str, Any]:
    latency = np.array([r.timings_ms["total"] for r in results])
    energy = np.array([sum(e.values()) for _, e in costs])
    fallbacks: Counter = Counter()
    for r in results:
        fallbacks.update(r.fallbacks)
    answered = np.array([r.label for r in results])
    ok = [r for r in requests if r.ok]
    return {
        "run": run.key,
        "frames": len(results),
        "minion_systems": dict(Counter(r.system for r in results if r.decision.runs_minions)),
        "accuracy": float(np.mean(answered == labels)),
        "master_accuracy": float(np.mean(master_labels == labels)),
        "latency_ms": _stats(latency),
        "energy_mj_per_frame": float(energy.mean()),
        "recovery_rate": float(np.mean([r.recovered for r in results])),
        "path_counts": dict(Counter(r.path for r in results)),
        "fallbacks": dict(fallbacks),
        "unverified": int(sum(not r.verified for r in results)),
        "breakdown": {
            "latency_ms": {part: float(np.mean([c[0][part] for c in costs])) for part in LATENCY_PARTS},
            "energy_mj": {part: float(np.mean([c[1][part] for c in costs])) for part in ENERGY_PARTS},
        },
        "cloud_requests": {
            "count": len(requests),
            "failed": len(requests) - len(ok),
            "duration_ms_mean": float(np.mean([r.duration_ms for r in ok])) if ok else None,
            "duration_ms_p50": float(np.median([r.duration_ms for r in ok])) if ok else None,
            "server_ms_mean": float(np.mean([r.server_ms for r in ok])) if ok else None,
            "up_bytes_mean": float(np.mean([r.up_bytes for r in ok])) if ok else None,
            "down_bytes_mean": float(np.mean([r.down_bytes for r in ok])) if ok else None,
        },
    }
