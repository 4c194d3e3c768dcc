"""The names and numbers the Python code and the Java core (``android_harness/core``) share.

This module is their one definition. Python reads them from here (the modules that own a name bind
it from here: ``mmnet.format.bundle.MANIFEST_SCHEMA_VERSION``, ``mmnet.runtime.detector.NEVER``, ...);
the Java core's ``org.mmnet.core.Vocabulary`` and ``org.mmnet.core.select.ReasonCode`` are written
from here by ``python -m android_harness.parity.java_vocabulary``, and ``tests/unit/test_vocabulary.py``
fails when the committed Java differs from what that generator writes, or when the Java enums
``Mode``, ``Placement`` and ``FramePath`` name other values than :data:`MODES`, :data:`PLACEMENTS` and
:data:`PATHS`. Change a value here, run the generator, commit both.

:class:`ReasonCode` is the selector's vocabulary of *why*: a code per rule a decision can hit, each
with the template its sentence is rendered from. A template's fields name the values the reason
records (``{L_t:.2f}``); the format specs are limited to ``''``, ``.0f``, ``.1f``, ``.2f`` and ``g``,
the ones the Java renderer (``org.mmnet.core.select.Reason``) implements the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

__all__ = [
    "MANIFEST_SCHEMA_VERSION",
    "RUNTIME_CONFIG_SCHEMA_VERSION",
    "DEVICE_PROFILE_SCHEMA_VERSION",
    "NEVER",
    "MASTER_ONLY",
    "MODES",
    "PATHS",
    "PLACEMENTS",
    "ReasonCode",
]

MANIFEST_SCHEMA_VERSION = "1.0"
RUNTIME_CONFIG_SCHEMA_VERSION = "1.0"
DEVICE_PROFILE_SCHEMA_VERSION = "1.0"

# A detector threshold no probability reaches: the class is always recovered.
NEVER = 1.01

# The system name of the master alone, where a config names a minion system.
MASTER_ONLY = "master-only"
# The user modes (dissertation §5.2.2), keys of runtime_config.json's "modes" table.
MODES = ("normal", "power_saving", "private", "mission_critical")
# The path a frame takes: the minions with the detector, the minions unchecked (history rule 1),
# the master alone on the device or in the cloud.
PATHS = ("minions", "minions_unchecked", "master_device", "master_cloud")
# Where the master runs.
PLACEMENTS = ("device", "cloud")


class ReasonCode(str, Enum):
    """Why a selector decision went as it did: one code per rule, in the order the rules apply.

    A member is its JSON name (a ``str``); ``template`` renders its sentence from the reason's
    values (:meth:`render`) and ``meaning`` says what it records.
    """

    template: str
    meaning: str

    def __new__(cls, code: str, template: str, meaning: str) -> ReasonCode:
        member = str.__new__(cls, code)
        member._value_ = code
        member.template = template
        member.meaning = meaning
        return member

    MODE = ("mode", "mode {mode}", "Always first: the user mode.")
    MODE_DEVICE_ONLY = (
        "mode_device_only", "mode {mode} never leaves the device: master on device",
        "The mode never leaves the device: master on device.")
    PLACEMENT_OVERRIDE = (
        "placement_override", "placement forced to {placement} by override (L_t {L_t:.2f} ms vs L_m {L_m:.2f} ms)",
        "The placement override decided where the master runs.")
    OVERRIDE_DESPITE_OVERLOAD = (
        "override_despite_overload", "server overloaded, but the override decides the placement",
        "The server is overloaded, but the override decides the placement.")
    SERVER_OVERLOADED = (
        "server_overloaded",
        "server overloaded (request latency {L_t:.1f} ms > L_m {L_m:.1f} ms): master on device",
        "Server-load back-off: cloud requests take longer than the device master; master on device.")
    CLOUD_FASTER = (
        "cloud_faster", "L_t {L_t:.2f} ms < L_m {L_m:.2f} ms: master in the cloud",
        "L_t < L_m: master in the cloud.")
    DEVICE_FASTER = (
        "device_faster", "L_t {L_t:.2f} ms >= L_m {L_m:.2f} ms: master on device",
        "L_t >= L_m: master on device.")
    MASTER_ALONE_MODE = (
        "master_alone_mode", "mode {mode} runs the master alone",
        "The mode runs the master alone.")
    NO_MINION_SYSTEM = (
        "no_minion_system", "no minion system is configured for profile {profile} in mode {mode}: master alone",
        "No minion system is configured for this profile and mode.")
    MINIONS_NOT_WORTH_IT = (
        "minions_not_worth_it",
        "minions not worth it: best system {system} expects {expected_ms:.2f} ms >= master alone {master_ms:.2f} ms "
        "on {placement}",
        "Even the cheapest minion system is no faster than the master alone.")
    CONFIGURED_SYSTEM = (
        "configured_system", "system {system}: expected {expected_ms:.2f} ms < master alone {master_ms:.2f} ms on {placement}",
        "The configured system is the cheapest.")
    RUNNER_UP = (
        "runner_up",
        "runner-up {system} (expected {expected_ms:.2f} ms) replaces the configured {configured} ({configured_ms:.2f} ms) "
        "with the master on {placement}",
        "A runner-up is cheaper than the configured system with the current placement.")
    HISTORY_EXPIRED = (
        "history_expired",
        "no history effect: previous frame {dt_ms:.0f} ms ago, beyond the temporal distance {temporal_distance_ms:g} ms",
        "The previous frame is beyond the temporal distance: no history effect.")
    HISTORY_AGREED = (
        "history_agreed",
        "history rule 1: previous frame ({dt_ms:.0f} ms ago) was recovered and the master agreed with the minions "
        "(class {master_answer}): minions without detection or recovery",
        "History rule 1: the master agreed with the minions on the previous frame.")
    HISTORY_CORRECTED = (
        "history_corrected",
        "history rule 2: previous frame ({dt_ms:.0f} ms ago) was corrected by the master (minions {minion_answer}, "
        "master {master_answer}): straight to the master",
        "History rule 2: the master corrected the minions on the previous frame.")
    PROBE_SERVER_OVERLOADED = (
        "probe_server_overloaded", "probe: server overloaded; one master call to the cloud every {probe_interval_s:g} s",
        "A server-load probe: one master call to the cloud while overloaded.")
    PROBE_LIVE_LINK = (
        "probe_live_link",
        "probe: the live link estimates (L_t {L_t:.2f} ms) keep the master off the cloud, the profile's "
        "({L_t_nominal:.2f} ms) would not; re-measuring every {probe_interval_s:g} s",
        "A probe because the live link estimates, not the profile, keep the master off the cloud.")

    def render(self, values: Mapping[str, Any]) -> str:
        """The sentence of a reason with these values (keyed by the template's field names)."""
        return self.template.format_map(values)

    def __str__(self) -> str:
        return self.value
