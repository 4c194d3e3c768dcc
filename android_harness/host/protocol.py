"""The host side of the host <-> app protocol (``android_harness/PROTOCOL.md``, version 1).

Paths on the phone, the run request the host writes, and checks of the status and result documents
the app writes (JSON Schemas in ``android_harness/host/schemas/``). Pure: nothing here talks to adb.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from mmnet.format.checks import check_int, check_number
from mmnet.format.documents import validate_document
from mmnet.format.errors import ConfigError
from mmnet.format.runtime_config import MODES
from mmnet.harness.errors import ResultError

__all__ = [
    "PROTOCOL_VERSION",
    "APP_PACKAGE",
    "APP_ACTIVITY",
    "CANCEL_ACTION",
    "DELEGATES",
    "RUN_KINDS",
    "FINAL_STATES",
    "DEVICE_ROOT",
    "APP_RUNS_ROOT",
    "EnergySettings",
    "ThermalSettings",
    "RunSettings",
    "SystemSettings",
    "RunRequest",
    "RunStatus",
    "bundle_dir_on_device",
    "run_dir_on_device",
    "app_run_dir_on_device",
    "new_run_id",
    "bundle_id_for",
    "validate_host_document",
    "parse_status",
    "check_app_result",
]

PROTOCOL_VERSION = 1
APP_PACKAGE = "org.mmnet.harness"
APP_ACTIVITY = f"{APP_PACKAGE}/.HarnessActivity"
CANCEL_ACTION = f"{APP_PACKAGE}.CANCEL"
DELEGATES = ("cpu", "xnnpack", "gpu", "nnapi")
RUN_KINDS = ("profile", "system")
FINAL_STATES = ("done", "failed", "cancelled")
DEVICE_ROOT = "/data/local/tmp/mmnet"
APP_RUNS_ROOT = f"/sdcard/Android/data/{APP_PACKAGE}/files/runs"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_id(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ConfigError(f"{where} is {value!r}; expected letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def bundle_dir_on_device(bundle_id: str) -> str:
    return f"{DEVICE_ROOT}/bundles/{_check_id('bundle id', bundle_id)}"


def run_dir_on_device(run_id: str) -> str:
    """Where the host pushes request.json (and the test set) for run ``run_id``."""
    return f"{DEVICE_ROOT}/runs/{_check_id('run id', run_id)}"


def app_run_dir_on_device(run_id: str) -> str:
    """Where the app writes status.json, result.json and traces/ for run ``run_id``."""
    return f"{APP_RUNS_ROOT}/{_check_id('run id', run_id)}"


def new_run_id(now: float | None = None, token: str | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-xxxx``: the UTC start time and 4 random hex digits (both injectable)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return _check_id("run id", f"{stamp}-{token if token is not None else secrets.token_hex(2)}")


def bundle_id_for(name: str, manifest_sha256: str) -> str:
    """``<bundle name>-<first 12 hex digits of the manifest's sha256>``: a new build is a new directory."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._") or "bundle"
    return _check_id("bundle id", f"{safe}-{manifest_sha256[:12]}")


@dataclass(frozen=True)
class EnergySettings:
    """How the app samples power: ``sample_hz`` (the issue asks >= 10 Hz) after an idle baseline."""

    sample_hz: float = 20.0
    idle_baseline_s: float = 10.0

    def __post_init__(self) -> None:
        hz = check_number("energy.sample_hz", self.sample_hz, positive=True)
        if not 10.0 <= hz <= 1000.0:
            raise ConfigError(f"energy.sample_hz is {self.sample_hz!r}; expected 10..1000 Hz")
        check_number("energy.idle_baseline_s", self.idle_baseline_s, high=3600.0)

    def to_json(self) -> dict[str, Any]:
        return {"sample_hz": self.sample_hz, "idle_baseline_s": self.idle_baseline_s}


@dataclass(frozen=True)
class ThermalSettings:
    """The app's thermal gate: wait (up to ``max_wait_s``) until PowerManager's status <= ``max_status``."""

    max_status: int = 1
    cooldown_s: float = 60.0
    max_wait_s: float = 600.0

    def __post_init__(self) -> None:
        check_int("thermal.max_status", self.max_status, low=0, high=6)
        check_number("thermal.cooldown_s", self.cooldown_s, high=3600.0)
        check_number("thermal.max_wait_s", self.max_wait_s, high=86_400.0)

    def to_json(self) -> dict[str, Any]:
        return {"max_status": self.max_status, "cooldown_s": self.cooldown_s, "max_wait_s": self.max_wait_s}


@dataclass(frozen=True)
class RunSettings:
    """What the app measures per model: delegate, threads, warm-up, runs or a duration, pacing.

    Exactly one of ``runs`` and ``duration_s`` is set. ``models`` empty: every blessed model.
    ``frame_interval_ms`` None runs back to back; 33.3 paces runs like a 30 fps camera.
    """

    delegate: str = "xnnpack"
    threads: int = 4
    warmup_runs: int = 20
    runs: int | None = 200
    duration_s: float | None = None
    frame_interval_ms: float | None = None
    models: tuple[str, ...] = ()
    energy: EnergySettings = field(default_factory=EnergySettings)
    thermal: ThermalSettings = field(default_factory=ThermalSettings)

    def __post_init__(self) -> None:
        if self.delegate not in DELEGATES:
            raise ConfigError(f"delegate is {self.delegate!r}; expected one of {list(DELEGATES)}")
        check_int("threads", self.threads, low=1, high=64)
        check_int("warmup_runs", self.warmup_runs, low=0, high=1_000_000)
        if (self.runs is None) == (self.duration_s is None):
            raise ConfigError(f"runs is {self.runs!r} and duration_s is {self.duration_s!r}; expected exactly one of them set")
        if self.runs is not None:
            check_int("runs", self.runs, low=1, high=10_000_000)
        if self.duration_s is not None:
            check_number("duration_s", self.duration_s, high=86_400.0, positive=True)
        if self.frame_interval_ms is not None:
            check_number("frame_interval_ms", self.frame_interval_ms, high=60_000.0, positive=True)
        if not isinstance(self.models, tuple):
            raise ConfigError(f"models is {self.models!r}; expected a tuple of model ids")
        for i, model in enumerate(self.models):
            _check_id(f"models[{i}]", model)
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"models {list(self.models)} name a model twice; expected each model once")
        if not isinstance(self.energy, EnergySettings) or not isinstance(self.thermal, ThermalSettings):
            raise ConfigError("energy and thermal must be EnergySettings and ThermalSettings")


@dataclass(frozen=True)
class SystemSettings:
    """A system run: the bundle's runtime over the pushed test set, per user mode, and mobile-only;
    cloud-only too when ``master_url`` is given. ``limit`` caps how many test frames are pushed."""

    modes: tuple[str, ...] = ("normal",)
    network: str = "lte"
    master_url: str | None = None
    frame_interval_ms: float = 1000.0
    limit: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.modes, tuple) or not self.modes:
            raise ConfigError(f"system modes is {self.modes!r}; expected a non-empty tuple of {list(MODES)}")
        for mode in self.modes:
            if mode not in MODES:
                raise ConfigError(f"system mode {mode!r} is unknown; expected one of {list(MODES)}")
        if len(set(self.modes)) != len(self.modes):
            raise ConfigError(f"system modes {list(self.modes)} name a mode twice")
        _check_id("network", self.network)
        if self.master_url is not None and (
            not isinstance(self.master_url, str) or not re.match(r"^https?://[^\s/]+", self.master_url)
        ):
            raise ConfigError(f"master_url is {self.master_url!r}; expected an http:// or https:// URL")
        check_number("system frame_interval_ms", self.frame_interval_ms, high=60_000.0, positive=True)
        if self.limit is not None:
            check_int("limit", self.limit, low=1, high=10_000_000)


@dataclass(frozen=True)
class RunRequest:
    """The request.json of one run (protocol: "request.json")."""

    run_id: str
    kind: str
    bundle_id: str
    settings: RunSettings
    system: SystemSettings | None = None

    def __post_init__(self) -> None:
        _check_id("run_id", self.run_id)
        _check_id("bundle_id", self.bundle_id)
        if self.kind not in RUN_KINDS:
            raise ConfigError(f"kind is {self.kind!r}; expected one of {list(RUN_KINDS)}")
        if (self.kind == "system") != (self.system is not None):
            raise ConfigError(f"a {self.kind!r} run has system settings {self.system!r}; expected them exactly for kind 'system'")

    @property
    def bundle_dir(self) -> str:
        return bundle_dir_on_device(self.bundle_id)

    @property
    def run_dir(self) -> str:
        return run_dir_on_device(self.run_id)

    @property
    def app_run_dir(self) -> str:
        return app_run_dir_on_device(self.run_id)

    @property
    def testset_dir(self) -> str:
        return f"{self.run_dir}/testset"

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        system = None
        if self.system is not None:
            system = {"testset_dir": self.testset_dir, "modes": list(self.system.modes), "network": self.system.network,
                      "master_url": self.system.master_url, "frame_interval_ms": self.system.frame_interval_ms}
        return {
            "protocol_version": PROTOCOL_VERSION,
            "run_id": self.run_id,
            "kind": self.kind,
            "bundle_dir": self.bundle_dir,
            "models": list(s.models),
            "delegate": s.delegate,
            "threads": s.threads,
            "warmup_runs": s.warmup_runs,
            "runs": s.runs,
            "duration_s": s.duration_s,
            "frame_interval_ms": s.frame_interval_ms,
            "energy": s.energy.to_json(),
            "thermal": s.thermal.to_json(),
            "system": system,
        }

    @classmethod
    def from_json(cls, doc: Any, *, source: str) -> RunRequest:
        """Back from ``to_json`` (e.g. a run's saved request.json); ConfigError naming ``source``."""
        try:
            bundle_dir = doc["bundle_dir"]
            prefix = f"{DEVICE_ROOT}/bundles/"
            if not isinstance(bundle_dir, str) or not bundle_dir.startswith(prefix):
                raise ConfigError(f"bundle_dir is {bundle_dir!r}; expected {prefix}<bundle_id>")
            system = doc["system"]
            return cls(
                run_id=doc["run_id"],
                kind=doc["kind"],
                bundle_id=bundle_dir[len(prefix):],
                settings=RunSettings(
                    delegate=doc["delegate"], threads=doc["threads"], warmup_runs=doc["warmup_runs"], runs=doc["runs"],
                    duration_s=doc["duration_s"], frame_interval_ms=doc["frame_interval_ms"],
                    models=tuple(doc["models"]), energy=EnergySettings(**doc["energy"]),
                    thermal=ThermalSettings(**doc["thermal"]),
                ),
                system=None if system is None else SystemSettings(
                    modes=tuple(system["modes"]), network=system["network"], master_url=system["master_url"],
                    frame_interval_ms=system["frame_interval_ms"]),
            )
        except (KeyError, TypeError) as e:
            raise ConfigError(f"{source}: not a run request: missing or malformed {e}") from e
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from e


def validate_host_document(doc: Any, schema_name: str, *, source: str) -> None:
    """ResultError ``"<source>: <json path>: <message>"`` on the most relevant violation of the host
    schema ``schema_name`` (``app_result``, ``app_status`` or ``harness_result``)."""
    validate_document(doc, schema_name, source=source, package="mmnet.harness", error=ResultError)


@dataclass(frozen=True)
class RunStatus:
    """One reading of the app's status.json."""

    state: str
    progress: float | None
    message: str | None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def describe(self) -> str:
        pct = "" if self.progress is None else f" {100 * self.progress:.0f}%"
        return f"{self.state}{pct}" + (f" ({self.message})" if self.message else "")


def parse_status(text: str, *, run_id: str, source: str) -> RunStatus:
    """The status.json ``text`` as a RunStatus; ResultError when it breaks the protocol."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ResultError(f"{source}: not valid JSON ({e}); expected the app's status document") from e
    validate_host_document(doc, "app_status", source=source)
    if doc["run_id"] != run_id:
        raise ResultError(f"{source}: $.run_id is {doc['run_id']!r}; expected {run_id!r}")
    return RunStatus(state=doc["state"], progress=doc["progress"], message=doc["message"])


def check_app_result(doc: Any, *, source: str, run_id: str | None = None) -> None:
    """ResultError unless ``doc`` is a protocol-conformant result.json (of ``run_id`` when given)."""
    validate_host_document(doc, "app_result", source=source)
    if run_id is not None and doc["run_id"] != run_id:
        raise ResultError(f"{source}: $.run_id is {doc['run_id']!r}; expected {run_id!r}")
    if (doc["kind"] == "system") != (doc["system"] is not None):
        raise ResultError(f"{source}: $.system is {'null' if doc['system'] is None else 'set'} for kind "
                          f"{doc['kind']!r}; expected it exactly for kind 'system'")
    seen = set()
    for i, model in enumerate(doc["models"]):
        if model["model_id"] in seen:
            raise ResultError(f"{source}: $.models[{i}].model_id {model['model_id']!r} appears twice; expected each model once")
        seen.add(model["model_id"])
