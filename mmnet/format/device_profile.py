"""Device profiles: what one device measured, per model (schema ``device_profile``, version 1.0).

A device profile is a JSON file holding the device's description, the average active power of its
compute unit, and per model the inference latency (and energy, when it was measured) plus the
frame preprocessing time per input resolution. The Android harness writes profiles from phones;
``host_device_profile`` makes the default one from the build host's latencies in a bundle
manifest. The runtime reads a profile to estimate on-device latency (L_m) and energy (E_m).
"""

from __future__ import annotations

import os
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmnet.format.checks import check_int, check_number, check_text
from mmnet.format.documents import read_json, validate_document, write_json_atomic
from mmnet.format.errors import BundleError, ConfigError
from mmnet.format.vocabulary import DEVICE_PROFILE_SCHEMA_VERSION

__all__ = [
    "DEVICE_PROFILE_SCHEMA_VERSION",
    "DEVICE_KINDS",
    "ENERGY_SOURCES",
    "DEFAULT_HOST_POWER_W",
    "DeviceInfo",
    "ProfileSource",
    "ComputePower",
    "ModelTiming",
    "DeviceProfile",
    "load_device_profile",
    "write_device_profile",
    "host_device_profile",
    "match_profile_to_bundle",
]

DEVICE_KINDS = ("host", "android", "other")
ENERGY_SOURCES = ("measured", "estimated")

# The build hosts have no power counters (no RAPL), and a server CPU's power would not stand for a
# phone's anyway, so the host profile assumes a phone-like figure.
DEFAULT_HOST_POWER_W = 2.0
_DEFAULT_HOST_POWER_SOURCE = (
    "assumed, not measured: 2 W, an order-of-magnitude typical active power of a mobile big-core "
    "CPU cluster running inference (no specific measurement cited); the build host has no power "
    "counters, so energies derived from it are estimates"
)

_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UTC = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _key_path(parent: str, key: str) -> str:
    """JSON path of ``parent[key]`` written the way jsonschema writes it."""
    return f"{parent}.{key}" if _IDENTIFIER.match(key) else f"{parent}[{key!r}]"


@dataclass(frozen=True)
class DeviceInfo:
    """The ``device`` object: which machine the measurements come from."""

    name: str
    kind: str
    manufacturer: str | None = None
    model: str | None = None
    os: str | None = None
    soc: str | None = None
    cpu_cores: int | None = None

    def __post_init__(self) -> None:
        check_text("device.name", self.name)
        if self.kind not in DEVICE_KINDS:
            raise ConfigError(f"device.kind is {self.kind!r}; expected one of {list(DEVICE_KINDS)}")
        for name in ("manufacturer", "model", "os", "soc"):
            check_text(f"device.{name}", getattr(self, name), nullable=True)
        check_int("device.cpu_cores", self.cpu_cores, low=1, nullable=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "os": self.os,
            "soc": self.soc,
            "cpu_cores": self.cpu_cores,
        }


@dataclass(frozen=True)
class ProfileSource:
    """The ``source`` object: which tool wrote the profile, when, and free notes."""

    tool: str
    created_utc: str
    notes: str = ""

    def __post_init__(self) -> None:
        check_text("source.tool", self.tool)
        if not isinstance(self.created_utc, str) or not _UTC.match(self.created_utc):
            raise ConfigError(
                f"source.created_utc is {self.created_utc!r}; expected UTC time "
                "'YYYY-MM-DDTHH:MM:SSZ'"
            )
        if not isinstance(self.notes, str):
            raise ConfigError(f"source.notes is {self.notes!r}; expected a string")

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "created_utc": self.created_utc, "notes": self.notes}


@dataclass(frozen=True)
class ComputePower:
    """The ``compute_power_w`` object: average active power of the compute unit.

    Turns latency into energy for models without a recorded energy; ``source`` says where the
    value comes from and ``measured`` whether it was measured on this device.
    """

    value_w: float
    measured: bool
    source: str

    def __post_init__(self) -> None:
        check_number("compute_power_w.value", self.value_w, positive=True)
        if not isinstance(self.measured, bool):
            raise ConfigError(f"compute_power_w.measured is {self.measured!r}; expected a bool")
        check_text("compute_power_w.source", self.source)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value_w, "measured": self.measured, "source": self.source}


@dataclass(frozen=True)
class ModelTiming:
    """One entry of ``models``: latency of one inference (batch 1) and, when known, its energy.

    ``energy_mj`` and ``energy_source`` are both None (energy unknown: estimated on demand from
    ``compute_power_w``) or both set.
    """

    median_ms: float
    p90_ms: float
    mean_ms: float
    runs: int
    min_ms: float | None = None
    energy_mj: float | None = None
    energy_source: str | None = None
    sha256: str | None = None
    delegate: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("median_ms", "p90_ms", "mean_ms"):
            check_number(f"latency_ms.{name[:-3]}", getattr(self, name))
        check_int("latency_ms.runs", self.runs, low=1)
        if self.min_ms is not None:
            check_number("latency_ms.min", self.min_ms)
            if self.min_ms > self.median_ms or self.min_ms > self.mean_ms:
                raise ConfigError(
                    f"latency_ms.min is {self.min_ms!r}, above median {self.median_ms!r} or "
                    f"mean {self.mean_ms!r}; expected min <= median and min <= mean"
                )
        if self.median_ms > self.p90_ms:
            raise ConfigError(
                f"latency_ms.median is {self.median_ms!r}, above p90 {self.p90_ms!r}; "
                "expected median <= p90"
            )
        if (self.energy_mj is None) != (self.energy_source is None):
            raise ConfigError(
                f"energy_mj is {self.energy_mj!r} and energy_source is {self.energy_source!r}; "
                "expected both null or both set"
            )
        if self.energy_mj is not None:
            check_number("energy_mj", self.energy_mj)
            if self.energy_source not in ENERGY_SOURCES:
                raise ConfigError(
                    f"energy_source is {self.energy_source!r}; expected one of "
                    f"{list(ENERGY_SOURCES)} or None"
                )
        if self.sha256 is not None and (
            not isinstance(self.sha256, str) or not _SHA256.match(self.sha256)
        ):
            raise ConfigError(
                f"sha256 is {self.sha256!r}; expected 64 lowercase hex digits or None"
            )
        check_text("delegate", self.delegate, nullable=True)
        check_int("threads", self.threads, low=1, nullable=True)

    def to_json(self) -> dict[str, Any]:
        latency: dict[str, Any] = {
            "median": self.median_ms,
            "p90": self.p90_ms,
            "mean": self.mean_ms,
            "runs": self.runs,
        }
        if self.min_ms is not None:
            latency["min"] = self.min_ms
        return {
            "sha256": self.sha256,
            "latency_ms": latency,
            "energy_mj": self.energy_mj,
            "energy_source": self.energy_source,
            "delegate": self.delegate,
            "threads": self.threads,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ModelTiming:
        """From a schema-valid ``models`` entry."""
        latency = doc["latency_ms"]
        return cls(
            median_ms=latency["median"],
            p90_ms=latency["p90"],
            mean_ms=latency["mean"],
            runs=latency["runs"],
            min_ms=latency.get("min"),
            energy_mj=doc["energy_mj"],
            energy_source=doc["energy_source"],
            sha256=doc["sha256"],
            delegate=doc["delegate"],
            threads=doc["threads"],
        )


@dataclass(frozen=True)
class DeviceProfile:
    """A validated device profile. Read one with ``load_device_profile``.

    ``preprocessing`` maps a model input resolution to the frame decode/resize/normalise time (ms).
    """

    device: DeviceInfo
    source: ProfileSource
    compute_power: ComputePower
    models: dict[str, ModelTiming]
    preprocessing: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, cls in (
            ("device", DeviceInfo),
            ("source", ProfileSource),
            ("compute_power", ComputePower),
        ):
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise ConfigError(
                    f"DeviceProfile.{name} is a {type(value).__name__}; expected a {cls.__name__}"
                )
        if not isinstance(self.models, dict) or not self.models:
            raise ConfigError(
                f"DeviceProfile.models is {self.models!r}; expected a non-empty dict of "
                "model id -> ModelTiming"
            )
        for model_id, timing in self.models.items():
            if not isinstance(model_id, str) or not _MODEL_ID.match(model_id):
                raise ConfigError(
                    f"DeviceProfile.models has id {model_id!r}; expected letters, digits, '.', "
                    "'_' or '-', starting with a letter or digit"
                )
            if not isinstance(timing, ModelTiming):
                raise ConfigError(
                    f"DeviceProfile.models[{model_id!r}] is a {type(timing).__name__}; "
                    "expected a ModelTiming"
                )
        if not isinstance(self.preprocessing, dict):
            raise ConfigError(
                f"DeviceProfile.preprocessing is a {type(self.preprocessing).__name__}; "
                "expected a dict of resolution -> ms"
            )
        for resolution, ms in self.preprocessing.items():
            check_int("preprocessing_ms resolution", resolution, low=1)
            check_number(f"preprocessing_ms[{resolution}]", ms)
        # Private copies: the caller's dicts must not change a frozen profile behind its back.
        object.__setattr__(self, "models", dict(self.models))
        object.__setattr__(self, "preprocessing", dict(self.preprocessing))

    @property
    def name(self) -> str:
        return self.device.name

    def has_model(self, model_id: str) -> bool:
        return model_id in self.models

    def timing(self, model_id: str) -> ModelTiming:
        if model_id not in self.models:
            raise ConfigError(
                f"device profile {self.name!r} has no model {model_id!r}; known ids: "
                f"{list(self.models)}"
            )
        return self.models[model_id]

    def latency_ms(self, model_id: str) -> float:
        """Median latency (ms) of one inference of ``model_id``."""
        return self.timing(model_id).median_ms

    def energy_mj(self, model_id: str) -> tuple[float, str]:
        """Energy (mJ) of one inference of ``model_id`` and where the number comes from.

        A recorded energy gives ``(mJ, "measured")`` or ``(mJ, "estimated: recorded in the
        profile")``; otherwise compute power x median latency gives
        ``(mJ, "estimated: <power> W x <latency> ms")`` (W x ms = mJ).
        """
        timing = self.timing(model_id)
        if timing.energy_mj is not None:
            if timing.energy_source == "measured":
                return timing.energy_mj, "measured"
            return timing.energy_mj, "estimated: recorded in the profile"
        power_w = self.compute_power.value_w
        return power_w * timing.median_ms, f"estimated: {power_w:g} W x {timing.median_ms:g} ms"

    def preprocessing_ms(self, resolution: int) -> float | None:
        """Frame preprocessing time (ms) for model input ``resolution``; None when not measured."""
        return self.preprocessing.get(resolution)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": DEVICE_PROFILE_SCHEMA_VERSION,
            "device": self.device.to_json(),
            "source": self.source.to_json(),
            "compute_power_w": self.compute_power.to_json(),
            "models": {model_id: t.to_json() for model_id, t in self.models.items()},
            "preprocessing_ms": {
                str(res): ms for res, ms in sorted(self.preprocessing.items())
            },
        }

    @classmethod
    def from_json(cls, doc: Any, *, source: str = "device profile") -> DeviceProfile:
        """Validate ``doc`` (schema, then the rules the schema cannot express) and build a profile.

        BundleError ``"<source>: <json path>: <message>"`` on the first violation.
        """
        validate_document(doc, "device_profile", source=source)
        models = {}
        for model_id, entry in doc["models"].items():
            try:
                models[model_id] = ModelTiming.from_json(entry)
            except ConfigError as e:
                raise BundleError(f"{source}: {_key_path('$.models', model_id)}: {e}") from e
        # The schema already guarantees everything else these constructors check.
        power = doc["compute_power_w"]
        return cls(
            device=DeviceInfo(**doc["device"]),
            source=ProfileSource(**doc["source"]),
            compute_power=ComputePower(
                value_w=power["value"], measured=power["measured"], source=power["source"]
            ),
            models=models,
            preprocessing={int(res): ms for res, ms in doc.get("preprocessing_ms", {}).items()},
        )


def load_device_profile(path: str | Path) -> DeviceProfile:
    """Read and validate the device profile JSON at ``path``; BundleError naming file and path."""
    return DeviceProfile.from_json(read_json(path, "device profile"), source=str(path))


def write_device_profile(profile: DeviceProfile, path: str | Path) -> None:
    """Validate ``profile`` and write it as pretty JSON to ``path`` atomically.

    Nothing is written when validation fails.
    """
    if not isinstance(profile, DeviceProfile):
        raise ConfigError(f"profile is a {type(profile).__name__}; expected a DeviceProfile")
    path = Path(path)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write device profile {path}: {path.parent} is not a directory")
    doc = profile.to_json()
    validate_document(doc, "device_profile", source=str(path))
    write_json_atomic(doc, path)


def _manifest_models(manifest: Any) -> list[dict[str, Any]]:
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), list):
        raise BundleError("manifest has no 'models' list; expected a bundle manifest object")
    models = manifest["models"]
    for i, model in enumerate(models):
        if not isinstance(model, dict) or not isinstance(model.get("id"), str):
            raise BundleError(f"manifest $.models[{i}] has no string 'id'; expected a model object")
    return models


def host_device_profile(
    manifest: dict[str, Any],
    *,
    preprocessing_ms: dict[int, float] | None = None,
    compute_power_w: float = DEFAULT_HOST_POWER_W,
    created_utc: str | None = None,
) -> DeviceProfile:
    """The default device profile: the build host's latencies from a bundle manifest.

    Models without ``host_latency_ms`` are left out. Energies are not recorded, so
    ``DeviceProfile.energy_mj`` estimates them from ``compute_power_w``, which is an assumption
    (``measured`` false). ``created_utc`` defaults to now.
    """
    models: dict[str, ModelTiming] = {}
    for i, model in enumerate(_manifest_models(manifest)):
        latency = model.get("host_latency_ms")
        if latency is None:
            continue
        where = f"manifest $.models[{i}] ({model['id']!r})"
        try:
            models[model["id"]] = ModelTiming(
                median_ms=latency["median"],
                p90_ms=latency["p90"],
                mean_ms=latency["mean"],
                runs=latency["runs"],
                min_ms=latency.get("min"),
                sha256=model["sha256"],
                delegate="xnnpack" if latency["xnnpack"] else None,
                threads=latency["threads"],
            )
        except KeyError as e:
            raise BundleError(f"{where} has no key {e.args[0]!r}") from e
        except ConfigError as e:
            raise BundleError(f"{where}: {e}") from e
    if not models:
        raise BundleError(
            f"manifest of bundle {manifest.get('name', '?')!r} has no model with host_latency_ms; "
            "a host device profile needs at least one measured latency"
        )
    if compute_power_w == DEFAULT_HOST_POWER_W:
        power_source = _DEFAULT_HOST_POWER_SOURCE
    else:
        power_source = (
            f"assumed, not measured: {compute_power_w!r} W given to host_device_profile; the "
            "build host has no power counters"
        )
    system = f"{platform.system()} {platform.release()}".strip()
    return DeviceProfile(
        device=DeviceInfo(
            name=platform.node() or "build host",
            kind="host",
            os=system or None,
            soc=platform.processor() or platform.machine() or None,
            cpu_cores=os.cpu_count(),
        ),
        source=ProfileSource(
            tool="mmnet.format.device_profile.host_device_profile",
            created_utc=created_utc or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            notes=(
                f"latencies of bundle {manifest.get('name', '?')!r} measured on the build host "
                "(manifest host_latency_ms), not on a phone"
            ),
        ),
        compute_power=ComputePower(value_w=compute_power_w, measured=False, source=power_source),
        models=models,
        preprocessing=dict(preprocessing_ms or {}),
    )


def match_profile_to_bundle(profile: DeviceProfile, manifest: dict[str, Any]) -> list[str]:
    """Warnings about using ``profile`` for the bundle of ``manifest``; empty when it fits.

    Only shipped models (``file`` not null) are checked: they are the ones a device can run. A
    warning names a model the profile lacks, or one whose sha256 differs from the bundle's (the
    profile was measured on a different file).
    """
    if not isinstance(profile, DeviceProfile):
        raise ConfigError(f"profile is a {type(profile).__name__}; expected a DeviceProfile")
    bundle = manifest.get("name", "?") if isinstance(manifest, dict) else "?"
    warnings = []
    for model in _manifest_models(manifest):
        if model.get("file") is None:
            continue
        model_id = model["id"]
        if not profile.has_model(model_id):
            warnings.append(
                f"device profile {profile.name!r} has no model {model_id!r} of bundle {bundle!r}"
            )
            continue
        measured_sha = profile.models[model_id].sha256
        if measured_sha is not None and measured_sha != model.get("sha256"):
            warnings.append(
                f"device profile {profile.name!r} measured model {model_id!r} with sha256 "
                f"{measured_sha}, but bundle {bundle!r} ships sha256 {model.get('sha256')} "
                "(measured on a different file)"
            )
    return warnings
