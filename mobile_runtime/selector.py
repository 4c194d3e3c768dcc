"""The runtime selector: which path a frame takes and where the master runs (dissertation §5.2).

One call per frame, :func:`decide`, maps the config's :class:`SelectorTables`, an explicit,
immutable :class:`SelectorState` (what the runtime believes about the link, the server and the
previous frame), the user mode and the time to a :class:`Decision` that records *why*: a
:class:`Reason` per rule hit, fallback or override, each a machine-readable
:class:`~mmnet.format.vocabulary.ReasonCode` with the values it compared, and the estimates
compared. Nothing here reads a clock, the network or a file: the runtime injects ``now_s`` and its
measurements (:func:`observe_rtt`, :func:`observe_bandwidth`, :func:`after_frame`), each of which
returns a new state.

The rules, in the order :func:`decide` applies them:

1. **User mode** (§5.2.2 "User Preferences", read from the config's ``modes`` table): a mode
   without minions (mission_critical) runs the master alone; a mode without the cloud (private)
   keeps the master on the device; a mode with minions names the tuned thresholds its detector
   uses ("normal" or "power_saving").
2. **Master placement** (§5.2.1): the master goes to the cloud when the live transfer estimate
   L_t (:func:`master_cloud_ms`, :func:`mmnet.runtime.network.cloud_latency_ms` of the *current*
   link numbers) is below L_m, the device latency of the master from the config's ``latency``
   table. ``placement_override`` forces either place (never the cloud in a mode without the cloud).
3. **Server-load back-off** (§5.2.1, last paragraph): the server counts as overloaded when the
   measured request latency (smoothed) exceeds L_m (see :func:`observe_rtt`); while it is, the
   master stays on the device, and once every ``probe_interval_s`` a master call goes to the
   cloud as a probe.
4. **Minions or the master alone** (§5.2.2 "Input Data and Environmental Conditions"): the mode's
   configured system and its runner-ups are re-costed as
   ``L_m1 + L_m2 + P_r × L_master(placement)`` (``max(L_m1, L_m2)`` for parallel minions) with the
   current placement and L_t, each resolution's preprocessing counted once (the runtime prepares
   a frame once per resolution: a second minion, or the device master, at a resolution already
   prepared skips it; the config's ``latency`` entries name their ``resolution``); the cheapest is
   run, and when even it is no faster than the master alone, the master runs alone. This is how a
   runner-up replaces the configured system when the network changes.
5. **Speculation history** (§5.2.2 "Speculation History"), for a frame within
   ``temporal_distance_ms`` of the previous one, when the previous frame was recovered by the
   master: the master agreed with the minions → this frame runs the minions unchecked (no
   detection, no recovery); the master disagreed → this frame goes straight to the master.

SIEVE's selector (§4.2, the dissertation's earlier system) follows the same rules for a single
speculative CNN; this module implements the M&MNet form. The Java core's
``org.mmnet.core.select.Selector`` mirrors it function by function.

Speed: :func:`decide` runs once per frame. Everything it needs from the config document is
derived once into a frozen :class:`SelectorTables` (``SelectorTables.from_config``, once per loaded
config; the document is treated as immutable from then on). Rules 1-4 change only when the mode,
the override, the link estimate or the server state does; a caller deciding frame after frame
passes a :class:`CostingCache`, which holds their last result, so a frame then pays for the probe
check and the history rules only. Reasons keep their values and are rendered to sentences only
when read (:attr:`Reason.text`). States and history entries are NamedTuples, a new one per frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, NamedTuple

from mmnet.format.checks import check_number, fail
from mmnet.format.errors import ConfigError
from mmnet.format.runtime_config import RuntimeConfig
from mmnet.format.vocabulary import MASTER_ONLY, MODES, PLACEMENTS, ReasonCode
from mmnet.runtime.network import cloud_latency_ms

__all__ = [
    "LinkEstimate",
    "HistoryEntry",
    "SelectorState",
    "Reason",
    "Decision",
    "SelectorTables",
    "CostingCache",
    "initial_state",
    "master_cloud_ms",
    "rtt_from_request_ms",
    "decide",
    "decide_trusted",
    "observe_rtt",
    "observe_bandwidth",
    "after_frame",
    "after_frame_trusted",
]

# --------------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class LinkEstimate:
    """What the runtime currently believes about the network of one config profile."""

    profile: str  # a profile name of the config's network_profiles
    rtt_ms: float  # smoothed measured RTT; starts at the profile's rtt_ms
    uplink_mbps: float  # starts at the profile's value; the runtime may update it (observe_bandwidth)
    downlink_mbps: float

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str) or not self.profile:
            raise fail("LinkEstimate.profile", self.profile, "a profile name of the config")
        check_number("LinkEstimate.rtt_ms", self.rtt_ms)
        check_number("LinkEstimate.uplink_mbps", self.uplink_mbps, positive=True)
        check_number("LinkEstimate.downlink_mbps", self.downlink_mbps, positive=True)


class HistoryEntry(NamedTuple):
    """What happened to the previous frame (for the speculation-history rules, §5.2.2).

    A NamedTuple, not a self-checking dataclass: one is made per frame, and building a frozen
    dataclass costs more than the rules it feeds. :func:`after_frame` checks its fields.
    """

    timestamp_s: float  # the frame's time on the clock ``decide`` gets as ``now_s``
    minion_answer: int | None  # None when the minions did not run
    master_answer: int | None  # None when the master did not run
    recovered: bool  # the detector sent the frame to the master


def _check_history_entry(entry: Any) -> None:
    if type(entry) is not HistoryEntry:
        raise ConfigError(f"entry is a {type(entry).__name__}; expected a HistoryEntry")
    timestamp_s, minion_answer, master_answer, recovered = entry
    if type(timestamp_s) is not float or not math.isfinite(timestamp_s):  # float: the per-frame case
        check_number("HistoryEntry.timestamp_s", timestamp_s, low=None)
    if minion_answer is not None and type(minion_answer) is not int:
        raise fail("HistoryEntry.minion_answer", minion_answer, "a class index (int) or None")
    if master_answer is not None and type(master_answer) is not int:
        raise fail("HistoryEntry.master_answer", master_answer, "a class index (int) or None")
    if recovered is not True and recovered is not False:
        raise fail("HistoryEntry.recovered", recovered, "a bool")
    if recovered and (minion_answer is None or master_answer is None):
        raise ConfigError(
            f"HistoryEntry: recovered is True but minion_answer is {minion_answer!r} and master_answer is "
            f"{master_answer!r}; a recovered frame has both answers"
        )


class SelectorState(NamedTuple):
    """Everything :func:`decide` needs besides the tables, the mode and the time.

    ``next_probe_s`` is the earliest time of the next probe to the cloud: every
    :func:`observe_rtt` sets it to ``now_s + probe_interval_s``. A probe is only sent when the
    master is kept off the cloud by *measurements* (an overloaded server, or a live link estimate
    worse than the profile's); it is what lets those measurements recover. Counters are not kept
    here: the runtime counts.

    A NamedTuple (a new one per frame, see :class:`HistoryEntry`): the functions of this module
    build it from checked values, and :func:`decide` checks the types it reads. Change a field
    with ``state._replace(...)``.
    """

    link: LinkEstimate
    server_overloaded: bool = False
    next_probe_s: float | None = None
    last: HistoryEntry | None = None


# --------------------------------------------------------------------------------------------
# Decisions


class Reason(NamedTuple):
    """One rule a decision hit: its code and the values it compared, keyed by the code's template fields.

    ``values`` is read-only (a reason may be shared by many decisions). :attr:`text` renders the
    sentence from ``code.template``; nothing is formatted until it is read.
    """

    code: ReasonCode
    values: Mapping[str, Any]

    @property
    def text(self) -> str:
        return self.code.render(self.values)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code.value, "values": dict(self.values), "text": self.text}


def _reason(code: ReasonCode, **values: Any) -> Reason:
    return Reason(code, MappingProxyType(values))


class Decision(NamedTuple):  # immutable, and a tenth of a frozen dataclass's cost to build per frame
    """What to do with one frame, and why.

    ``path`` is one of :data:`~mmnet.format.vocabulary.PATHS`: ``minions`` (the system's minions and
    the detector; the master at ``placement`` recovers what the detector rejects),
    ``minions_unchecked`` (history rule 1: the minions' answer is accepted without detection or
    recovery), ``master_device`` / ``master_cloud`` (the master alone). ``system`` is the minion
    system to run, or ``MASTER_ONLY``. ``thresholds_mode`` names the tuned thresholds of the
    detector ("normal" / "power_saving"), None when no detector runs. ``probe`` marks a decision
    whose master call (if the frame makes one) is a server-load probe: feed its RTT to
    :func:`observe_rtt`. ``reasons`` are the rules hit, in order, the mode's first.
    ``estimates`` holds the numbers compared (ms): ``L_m``, ``L_t``, ``L_t_nominal`` (the
    profile's own numbers), ``master_ms`` (the master at the costing placement), ``expected_ms``
    per candidate system, the link numbers, and ``dt_ms`` to the previous frame (None without one).
    """

    path: str
    system: str
    placement: str
    thresholds_mode: str | None
    probe: bool
    reasons: tuple[Reason, ...]
    estimates: dict

    @property
    def reason_codes(self) -> tuple[ReasonCode, ...]:
        return tuple(reason.code for reason in self.reasons)

    @property
    def runs_minions(self) -> bool:
        return self.path == "minions" or self.path == "minions_unchecked"

    @property
    def runs_detector(self) -> bool:
        return self.path == "minions"

    def to_json(self) -> dict[str, Any]:
        """A JSON object for per-frame traces; each reason as ``{"code", "values", "text"}``."""
        return {
            "path": self.path,
            "system": self.system,
            "placement": self.placement,
            "thresholds_mode": self.thresholds_mode,
            "probe": self.probe,
            "reasons": [reason.to_json() for reason in self.reasons],
            "estimates": {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.estimates.items()},
        }


# --------------------------------------------------------------------------------------------
# Derived tables


@dataclass(frozen=True)
class _Profile:
    rtt_ms: float
    uplink_mbps: float
    downlink_mbps: float
    cloud_ms: float  # L_t at the profile's own numbers


@dataclass(frozen=True)
class _Mode:
    minions: bool
    cloud: bool
    thresholds: str | None


@dataclass(frozen=True)
class _Candidate:
    system: str
    minion_ms: float  # L_m1 + L_m2 (serial) or max(L_m1, L_m2) (parallel), each resolution's preprocessing once
    recovery_rate: float  # val P_r at the mode's tuned thresholds
    master_prepared_ms: float  # the device master's preprocessing when a minion prepares its resolution, else 0


@dataclass(frozen=True)
class _Selection:
    configured: str  # the config's choice (may be MASTER_ONLY)
    candidates: tuple[_Candidate, ...]  # configured system first (unless MASTER_ONLY), then runner-ups


@dataclass(frozen=True, eq=False)
class SelectorTables:
    """The numbers :func:`decide` needs, derived once from a validated runtime config.

    Build it once per loaded config (``SelectorTables.from_config(config)``) and pass it to every
    function of this module.
    """

    master: str
    default_profile: str
    master_ms: float  # L_m: config latency[master].total_ms (inference + preprocessing)
    upload_kbit: float  # upload.bytes × 8 / 1000: divided by Mbps gives ms
    reply_kbit: float
    server_ms: float
    execution: str  # "serial" | "parallel"
    profiles: Mapping[str, _Profile]
    modes: Mapping[str, _Mode]
    selections: Mapping[tuple[str, str], _Selection]
    temporal_distance_ms: float
    probe_interval_s: float
    rtt_smoothing: float

    @classmethod
    def from_config(cls, config: RuntimeConfig) -> SelectorTables:
        if not isinstance(config, RuntimeConfig):
            raise ConfigError(f"config is a {type(config).__name__}; expected a RuntimeConfig (load_runtime_config)")
        doc = config.document
        try:
            return cls._from_document(doc)
        except (KeyError, TypeError) as e:
            raise ConfigError(
                f"runtime config of bundle {doc.get('bundle')!r} lacks {e} needed by the selector; "
                "expected a document that passes check_runtime_config"
            ) from e

    @classmethod
    def _from_document(cls, doc: dict[str, Any]) -> SelectorTables:
        latency = doc["latency"]
        master = doc["master"]["model"]
        upload = doc["upload"]
        upload_kbit = upload["bytes"] * 8 / 1e3
        reply_kbit = upload["reply_bytes"] * 8 / 1e3
        server_ms = float(upload["server_ms"])
        execution = doc["minion_execution"]
        if execution not in ("serial", "parallel"):
            raise fail("$.minion_execution", execution, "'serial' or 'parallel'")
        profiles = {}
        for name, p in doc["network_profiles"].items():
            cloud_ms = cloud_latency_ms(upload_kbit, p["uplink_mbps"], p["rtt_ms"], reply_kbit, p["downlink_mbps"], server_ms)
            profiles[name] = _Profile(float(p["rtt_ms"]), float(p["uplink_mbps"]), float(p["downlink_mbps"]), cloud_ms)
        modes = {m: _Mode(bool(s["minions"]), bool(s["cloud"]), s["thresholds"]) for m, s in doc["modes"].items()}
        missing = [m for m in MODES if m not in modes]
        if missing:
            raise ConfigError(f"$.modes lacks {missing}; expected every mode of {list(MODES)}")
        master_prep_ms = float(latency[master]["preprocess_ms"])
        master_resolution = latency[master].get("resolution")
        selections = {}
        for profile, by_mode in doc["selection"].items():
            for mode, chosen in by_mode.items():
                tuning = modes[mode].thresholds
                names = []
                for name in (chosen["system"], *chosen["runner_ups"]):
                    if name != MASTER_ONLY and name not in names:
                        names.append(name)
                candidates = []
                if modes[mode].minions:
                    for name in names:
                        system = doc["systems"][name]
                        minion_ms, prepared = _minion_ms([latency[m] for m in system["minions"]], execution)
                        rate = float(system["modes"][tuning]["val"]["recovery_rate"])
                        saved = master_prep_ms if master_resolution is not None and master_resolution in prepared else 0.0
                        candidates.append(_Candidate(name, minion_ms, rate, saved))
                selections[(profile, mode)] = _Selection(chosen["system"], tuple(candidates))
        history = doc["speculation_history"]
        load = doc["server_load"]
        return cls(
            master=master,
            default_profile=doc["default_profile"],
            master_ms=float(latency[master]["total_ms"]),
            upload_kbit=upload_kbit,
            reply_kbit=reply_kbit,
            server_ms=server_ms,
            execution=execution,
            profiles=MappingProxyType(profiles),
            modes=MappingProxyType(modes),
            selections=MappingProxyType(selections),
            temporal_distance_ms=float(history["temporal_distance_ms"]),
            probe_interval_s=float(load["probe_interval_s"]),
            rtt_smoothing=float(load["rtt_smoothing"]),
        )

    def profile(self, name: str) -> _Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise ConfigError(f"network profile is {name!r}; expected one of {sorted(self.profiles)}") from None


def _minion_ms(entries: list[dict[str, Any]], execution: str) -> tuple[float, set[int]]:
    """The minions' latency with each resolution prepared once, and the resolutions they prepare.

    Serial minions: a minion at a resolution an earlier one prepared skips its preprocessing.
    Parallel minions each wait for their own resolution's preparation: the slowest total.
    """
    prepared: set[int] = set()
    total = 0.0
    slowest = 0.0
    for entry in entries:
        resolution = entry.get("resolution")
        shared = resolution is not None and resolution in prepared
        total += float(entry["total_ms"]) - (float(entry["preprocess_ms"]) if shared else 0.0)
        slowest = max(slowest, float(entry["total_ms"]))
        if resolution is not None:
            prepared.add(resolution)
    return (total if execution == "serial" else slowest), prepared


def _check_tables(tables: Any) -> SelectorTables:
    if type(tables) is not SelectorTables:
        raise ConfigError(
            f"tables is a {type(tables).__name__}; expected a SelectorTables (SelectorTables.from_config(config))"
        )
    return tables


# --------------------------------------------------------------------------------------------
# Estimates


def master_cloud_ms(tables: SelectorTables, link: LinkEstimate) -> float:
    """L_t (§5.2.1): the master in the cloud, from the link's *live* numbers.

    :func:`mmnet.runtime.network.cloud_latency_ms` of the config's ``upload.bytes``,
    ``upload.reply_bytes`` and ``upload.server_ms`` and the link's uplink, RTT and downlink.
    """
    t = _check_tables(tables)
    if not isinstance(link, LinkEstimate):
        raise ConfigError(f"link is a {type(link).__name__}; expected a LinkEstimate")
    return cloud_latency_ms(t.upload_kbit, link.uplink_mbps, link.rtt_ms, t.reply_kbit, link.downlink_mbps, t.server_ms)


def rtt_from_request_ms(tables: SelectorTables, link: LinkEstimate, request_ms: float) -> float:
    """The RTT part of a timed cloud request, for :func:`observe_rtt`.

    ``request_ms`` (wall time from sending the frame to having the reply) minus L_t at an RTT of
    0 (the transfer times at the link's current bandwidth estimates and the config's nominal
    ``server_ms``), at least 0. Server queueing beyond ``server_ms`` therefore counts as RTT, which
    is what the server-load detection looks for.
    """
    t = _check_tables(tables)
    request_ms = check_number("request_ms", request_ms)
    transfer = cloud_latency_ms(t.upload_kbit, link.uplink_mbps, 0.0, t.reply_kbit, link.downlink_mbps, t.server_ms)
    return max(0.0, request_ms - transfer)


# --------------------------------------------------------------------------------------------
# State transitions


def initial_state(tables: SelectorTables, profile: str | None = None) -> SelectorState:
    """The state before any measurement: the link at the profile's own numbers, no history.

    ``profile`` defaults to the config's ``default_profile``.
    """
    t = _check_tables(tables)
    if profile is None:
        profile = t.default_profile
    p = t.profile(profile)
    return SelectorState(link=LinkEstimate(profile, p.rtt_ms, p.uplink_mbps, p.downlink_mbps))


def observe_rtt(tables: SelectorTables, state: SelectorState, *, rtt_ms: float, now_s: float) -> SelectorState:
    """Feeds one measured RTT of a cloud request (§5.2.1, server-load detection).

    The paper compares the measured latency of each cloud request with L_m, the master's device
    latency: a request slower than the device means a loaded server. The request latency is L_t at
    the link's live numbers with the measured RTT (:func:`rtt_from_request_ms` took the transfer
    times out; putting them back at the same bandwidth gives the request's own latency).

    - The smoothed RTT becomes ``(1 - a) × rtt + a × rtt_ms``, ``a = server_load.rtt_smoothing``.
    - Not overloaded: the server becomes overloaded when the request latency at the *smoothed*
      RTT exceeds L_m (so one spike, e.g. a radio waking up, does not trip it). Only on a profile
      whose nominal L_t is below L_m: where the profile itself keeps the master on the device, a
      request (forced by the override) slower than L_m is what the link predicts.
    - Overloaded (only probes and forced requests reach the cloud then): a sample whose request
      latency is at or under L_m clears the overload and resets the smoothed RTT to that sample
      (the older samples describe the overloaded server); a slower sample keeps the overload.
    - ``next_probe_s`` becomes ``now_s + probe_interval_s``.

    Pass the RTT part of the request (:func:`rtt_from_request_ms`); for a failed or timed-out
    request pass the time waited, so a dead server reads as an overloaded one.
    """
    t = _check_tables(tables)
    rtt_ms = check_number("rtt_ms", rtt_ms)
    now_s = check_number("now_s", now_s, low=None)
    link = state.link
    nominal_cloud_ms = t.profile(link.profile).cloud_ms
    a = t.rtt_smoothing
    smoothed = (1.0 - a) * link.rtt_ms + a * rtt_ms
    judged_rtt = rtt_ms if state.server_overloaded else smoothed
    request_ms = cloud_latency_ms(t.upload_kbit, link.uplink_mbps, judged_rtt, t.reply_kbit, link.downlink_mbps, t.server_ms)
    # On a profile whose own numbers are slower than the device, a slow request says nothing of the server.
    overloaded = request_ms > t.master_ms and nominal_cloud_ms < t.master_ms
    new_rtt = rtt_ms if state.server_overloaded and not overloaded else smoothed
    return state._replace(
        link=replace(link, rtt_ms=new_rtt),
        server_overloaded=overloaded,
        next_probe_s=now_s + t.probe_interval_s,
    )


def observe_bandwidth(
    tables: SelectorTables, state: SelectorState, *, uplink_mbps: float | None = None, downlink_mbps: float | None = None
) -> SelectorState:
    """Sets the link's bandwidth estimates (Mbps) as given; None keeps a direction unchanged.

    No smoothing here: pass the estimate the runtime believes (a measurement or its own average).
    """
    t = _check_tables(tables)
    t.profile(state.link.profile)
    link = state.link
    if uplink_mbps is not None:
        link = replace(link, uplink_mbps=check_number("uplink_mbps", uplink_mbps, positive=True))
    if downlink_mbps is not None:
        link = replace(link, downlink_mbps=check_number("downlink_mbps", downlink_mbps, positive=True))
    return state if link is state.link else state._replace(link=link)


def after_frame(state: SelectorState, entry: HistoryEntry) -> SelectorState:
    """Records what happened to the frame just processed, for the next frame's history rules."""
    _check_history_entry(entry)
    return after_frame_trusted(state, entry)


def after_frame_trusted(state: SelectorState, entry: HistoryEntry) -> SelectorState:
    """:func:`after_frame` without checking ``entry``, for a caller that built it from checked values
    (the runtime, once per frame)."""
    return SelectorState(state.link, state.server_overloaded, state.next_probe_s, entry)


# --------------------------------------------------------------------------------------------
# The decision


class _Costing(NamedTuple):
    """Rules 1-4 for one mode, override, link estimate and server state: everything of a decision
    that does not depend on the time or the previous frame."""

    placement: str
    probe_rule: str | None  # "overloaded" | "live_estimates": the rule that may send a probe; None: no probe
    probe_reason: Reason | None
    system: str
    path: str  # "minions" or "master"
    reasons: tuple[Reason, ...]
    estimates: dict  # without dt_ms; expected_ms read-only (shared by every decision made from it)


def _cost(t: SelectorTables, spec: _Mode, mode: str, placement_override: str | None, link: LinkEstimate,
          server_overloaded: bool) -> _Costing:
    """Rules 1-4 of the module doc: where the master runs, and which system (if any) runs first."""
    profile = t.profiles.get(link.profile)
    if profile is None:
        raise ConfigError(f"state.link.profile is {link.profile!r}; expected one of {sorted(t.profiles)}")
    l_m = t.master_ms
    l_t = cloud_latency_ms(t.upload_kbit, link.uplink_mbps, link.rtt_ms, t.reply_kbit, link.downlink_mbps, t.server_ms)
    reasons = [_reason(ReasonCode.MODE, mode=mode)]
    probe_rule = None
    probe_reason = None

    # Rules 1-3: where the master runs.
    if not spec.cloud:
        if placement_override == "cloud":
            raise ConfigError(
                f"placement_override is 'cloud' in mode {mode!r}, which never leaves the device; "
                "expected 'device' or None"
            )
        placement = "device"
        reasons.append(_reason(ReasonCode.MODE_DEVICE_ONLY, mode=mode))
    elif placement_override is not None:
        placement = placement_override
        reasons.append(_reason(ReasonCode.PLACEMENT_OVERRIDE, placement=placement, L_t=l_t, L_m=l_m))
        if server_overloaded:
            reasons.append(_reason(ReasonCode.OVERRIDE_DESPITE_OVERLOAD))
    elif server_overloaded:
        placement = "device"
        reasons.append(_reason(ReasonCode.SERVER_OVERLOADED, L_t=l_t, L_m=l_m))
        probe_rule = "overloaded"
        probe_reason = _reason(ReasonCode.PROBE_SERVER_OVERLOADED, probe_interval_s=t.probe_interval_s)
    elif l_t < l_m:
        placement = "cloud"
        reasons.append(_reason(ReasonCode.CLOUD_FASTER, L_t=l_t, L_m=l_m))
    else:
        placement = "device"
        reasons.append(_reason(ReasonCode.DEVICE_FASTER, L_t=l_t, L_m=l_m))
        # The live estimates, not the profile, keep the master off the cloud: without a cloud
        # request now and then they would never be re-measured.
        if profile.cloud_ms < l_m:
            probe_rule = "live_estimates"
            probe_reason = _reason(ReasonCode.PROBE_LIVE_LINK, L_t=l_t, L_t_nominal=profile.cloud_ms,
                                   probe_interval_s=t.probe_interval_s)
    master_ms = l_t if placement == "cloud" else l_m

    # Rules 1 and 4: minions or the master alone.
    expected: dict[str, float] = {}
    system = MASTER_ONLY
    path = "master"
    if not spec.minions:
        reasons.append(_reason(ReasonCode.MASTER_ALONE_MODE, mode=mode))
    else:
        selection = t.selections[(link.profile, mode)]
        best = None
        best_ms = math.inf
        for c in selection.candidates:
            recovery_ms = master_ms - c.master_prepared_ms if placement == "device" else master_ms
            ms = c.minion_ms + c.recovery_rate * recovery_ms
            expected[c.system] = ms
            if ms < best_ms:
                best, best_ms = c, ms
        if best is None:
            reasons.append(_reason(ReasonCode.NO_MINION_SYSTEM, profile=link.profile, mode=mode))
        elif best_ms >= master_ms:
            reasons.append(_reason(ReasonCode.MINIONS_NOT_WORTH_IT, system=best.system, expected_ms=best_ms,
                                   master_ms=master_ms, placement=placement))
        else:
            system = best.system
            path = "minions"
            if best.system == selection.configured:
                reasons.append(_reason(ReasonCode.CONFIGURED_SYSTEM, system=system, expected_ms=best_ms,
                                       master_ms=master_ms, placement=placement))
            else:
                reasons.append(_reason(ReasonCode.RUNNER_UP, system=system, expected_ms=best_ms,
                                       configured=selection.configured,
                                       configured_ms=expected.get(selection.configured, master_ms), placement=placement))
    estimates = {
        "L_m": l_m,
        "L_t": l_t,
        "L_t_nominal": profile.cloud_ms,
        "master_ms": master_ms,
        "expected_ms": MappingProxyType(expected),
        "rtt_ms": link.rtt_ms,
        "uplink_mbps": link.uplink_mbps,
        "downlink_mbps": link.downlink_mbps,
    }
    return _Costing(placement, probe_rule, probe_reason, system, path, tuple(reasons), estimates)


class CostingCache:
    """The memo of rules 1-4 for one caller of :func:`decide` (a runtime): its last costing.

    Rules 1-4 depend only on the tables, the mode, the override, the link estimate and the server
    state, which change far less often than frames arrive (a new link estimate is a new object, so
    it is compared by identity). One entry: a change of any of them recomputes it. The entry is
    one tuple, replaced whole, so a reader on another thread never sees parts of two entries; it
    holds the link, which keeps that object's identity from being reused. Mutable on purpose,
    unlike everything else here: a runtime owns one beside its :class:`SelectorTables`.
    """

    __slots__ = ("_entry",)

    def __init__(self) -> None:
        # (tables, link, mode, placement_override, server_overloaded, costing)
        self._entry: tuple = (None, None, None, None, None, None)

    def costing(self, tables: SelectorTables, spec: _Mode, mode: str, placement_override: str | None,
                link: LinkEstimate, server_overloaded: bool) -> _Costing:
        """The costing of rules 1-4 for these inputs: the memo's when they are the memo's."""
        entry = self._entry
        if (entry[0] is tables and entry[1] is link and entry[2] == mode and entry[3] == placement_override
                and entry[4] is server_overloaded):
            return entry[5]
        costing = _cost(tables, spec, mode, placement_override, link, server_overloaded)
        self._entry = (tables, link, mode, placement_override, server_overloaded, costing)
        return costing


def decide(
    tables: SelectorTables,
    state: SelectorState,
    *,
    mode: str,
    now_s: float,
    placement_override: str | None = None,
    cache: CostingCache | None = None,
) -> Decision:
    """The path of the frame arriving at ``now_s`` in user ``mode`` (rules 1-5 of the module doc).

    Pure: ``state`` is not changed and no clock is read. ``placement_override`` ("device" |
    "cloud") forces the master's place, as the CLI's ``--placement`` does; forcing the cloud in a
    mode that never leaves the device is a ConfigError. ``cache`` (a :class:`CostingCache`) lets
    consecutive calls share the result of rules 1-4; the decision is the same with or without it.
    """
    t = tables if type(tables) is SelectorTables else _check_tables(tables)
    spec = t.modes.get(mode)
    if spec is None:
        raise fail("mode", mode, f"one of {list(MODES)}")
    if type(state) is not SelectorState:
        raise ConfigError(f"state is a {type(state).__name__}; expected a SelectorState (initial_state)")
    link, server_overloaded, next_probe_s, last = state
    if type(link) is not LinkEstimate:
        raise ConfigError(f"state.link is a {type(link).__name__}; expected a LinkEstimate")
    if last is not None and type(last) is not HistoryEntry:
        raise ConfigError(f"state.last is a {type(last).__name__}; expected a HistoryEntry or None")
    if server_overloaded is not True and server_overloaded is not False:
        raise fail("state.server_overloaded", server_overloaded, "a bool")
    if next_probe_s is not None and type(next_probe_s) is not float:
        check_number("state.next_probe_s", next_probe_s, low=None)
    if placement_override is not None and placement_override not in PLACEMENTS:
        raise fail("placement_override", placement_override, "'device', 'cloud' or None")
    if not (isinstance(now_s, (int, float)) and math.isfinite(now_s)):
        now_s = check_number("now_s", now_s, low=None)
    return decide_trusted(t, state, mode, now_s, placement_override, cache)


def decide_trusted(tables: SelectorTables, state: SelectorState, mode: str, now_s: float,
                   placement_override: str | None, cache: CostingCache | None) -> Decision:
    """:func:`decide` without checking its arguments, for a caller that made them with this module's
    functions and checked the rest once (the runtime: its tables, mode and override at start, each
    frame's timestamp as it arrives): the same decision, without re-checking per frame what it built."""
    spec = tables.modes[mode]
    link, server_overloaded, next_probe_s, last = state
    if cache is None:
        costing = _cost(tables, spec, mode, placement_override, link, server_overloaded)
    else:
        costing = cache.costing(tables, spec, mode, placement_override, link, server_overloaded)
    placement, probe_rule, probe_reason, system, path, reasons, estimates = costing
    estimates = {**estimates, "dt_ms": None}

    # Rule 3: a server-load or link probe when one is due.
    if probe_rule is None:
        probe_due = False
    elif probe_rule == "overloaded":
        probe_due = next_probe_s is None or now_s >= next_probe_s
    else:
        probe_due = next_probe_s is not None and now_s >= next_probe_s

    # Rule 5: speculation history.
    if spec.minions and last is not None:
        dt_ms = (now_s - last.timestamp_s) * 1e3
        estimates["dt_ms"] = dt_ms
        if dt_ms < 0:
            raise ConfigError(
                f"now_s {now_s!r} is earlier than the previous frame's timestamp_s {last.timestamp_s!r}; "
                "expected a monotonic clock"
            )
        if last.recovered and path == "minions":
            if dt_ms > tables.temporal_distance_ms:
                reasons += (_reason(ReasonCode.HISTORY_EXPIRED, dt_ms=dt_ms, temporal_distance_ms=tables.temporal_distance_ms),)
            elif last.master_answer == last.minion_answer:
                path = "minions_unchecked"
                reasons += (_reason(ReasonCode.HISTORY_AGREED, dt_ms=dt_ms, master_answer=last.master_answer),)
            else:
                path = "master"
                system = MASTER_ONLY
                reasons += (_reason(ReasonCode.HISTORY_CORRECTED, dt_ms=dt_ms, minion_answer=last.minion_answer,
                                    master_answer=last.master_answer),)

    probe = False
    if probe_due and path != "minions_unchecked" and probe_reason is not None:  # a probe rule comes with its reason
        probe = True
        placement = "cloud"
        reasons += (probe_reason,)
    if path == "master":
        path = "master_cloud" if placement == "cloud" else "master_device"
    return Decision(path, system, placement, spec.thresholds if path == "minions" else None, probe, reasons, estimates)
