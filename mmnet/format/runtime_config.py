"""``runtime_config.json``: how a bundle's models run together (schema 1.0).

Written by the pipeline (:mod:`mmnet.pipeline.configure`), read here by the runtime. ``load_runtime_config``
checks the JSON Schema and the rules it cannot express: every number is finite (a schema's bounds let
NaN through), every system named by the selection is defined, every minion has a temperature,
threshold vectors have one value per class, and (when a bundle's models are given) every model id
exists and is shipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.documents import read_json, validate_document, write_json_atomic
from mmnet.format.errors import BundleError, ConfigError
from mmnet.format.vocabulary import MASTER_ONLY, MODES, RUNTIME_CONFIG_SCHEMA_VERSION

__all__ = [
    "RUNTIME_CONFIG_SCHEMA_VERSION",
    "RUNTIME_CONFIG_FILE",
    "MODES",
    "MASTER_ONLY",
    "RuntimeConfig",
    "TEMPERATURE_RANGE",
    "check_runtime_config",
    "check_runtime_numbers",
    "load_runtime_config",
    "write_runtime_config",
]

RUNTIME_CONFIG_FILE = "runtime_config.json"

# The calibration temperatures a runtime accepts (the schema says the same). Outside them
# softmax(log p / T) is a step or a constant, and the detector's terms p^(1/T) under- or overflow.
TEMPERATURE_RANGE = (0.01, 100.0)


def _non_finite_number(doc: Any) -> str | None:
    """Where ``doc`` holds a NaN or infinite number and which (None if nowhere)."""
    stack: list[tuple[str, Any]] = [("$", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return f"{path} is {value!r}"
        if isinstance(value, dict):
            stack.extend((f"{path}[{key!r}]" if not str(key).isidentifier() else f"{path}.{key}", item)
                         for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def check_runtime_numbers(doc: Any, source: str) -> None:
    """Every number in ``doc`` is finite (a schema's bounds let NaN through: every comparison with it
    is false); else BundleError naming ``source`` and the JSON path."""
    bad = _non_finite_number(doc)
    if bad is not None:
        raise BundleError(f"{source}: {bad}; expected a finite number")


def check_runtime_config(
    doc: dict[str, Any], source: str, *, num_classes: int | None = None, shipped_models: Iterable[str] | None = None
) -> None:
    """Schema plus cross-references; BundleError naming ``source`` and the JSON path."""
    check_runtime_numbers(doc, source)
    validate_document(doc, "runtime_config", source=source)
    systems = doc["systems"]
    temperatures = doc["detector"]["temperatures"]
    for name, system in systems.items():
        for model in system["minions"]:
            if model not in temperatures:
                raise BundleError(f"{source}: $.systems[{name!r}]: minion {model!r} "
                                  f"has no temperature in $.detector.temperatures")
            if model not in doc["latency"]:
                raise BundleError(f"{source}: $.systems[{name!r}]: minion {model!r} has no entry in $.latency")
        for mode, tuned in system["modes"].items():
            if num_classes is not None and len(tuned["thresholds"]) != num_classes:
                raise BundleError(
                    f"{source}: $.systems[{name!r}].modes.{mode}.thresholds has {len(tuned['thresholds'])} values; "
                    f"expected one per class ({num_classes})"
                )
    for mode, spec in doc["modes"].items():
        if spec["minions"] != (spec["thresholds"] is not None):
            raise BundleError(f"{source}: $.modes.{mode}: a mode runs minions exactly when it names thresholds")
    if doc["default_profile"] not in doc["network_profiles"]:
        raise BundleError(f"{source}: $.default_profile {doc['default_profile']!r} "
                          f"is not one of $.network_profiles {sorted(doc['network_profiles'])}")
    for table in ("placement", "selection"):
        if set(doc[table]) != set(doc["network_profiles"]):
            raise BundleError(f"{source}: $.{table} covers profiles {sorted(doc[table])}; "
                              f"expected {sorted(doc['network_profiles'])}")
    if doc["master"]["model"] not in doc["latency"]:
        raise BundleError(f"{source}: $.master.model {doc['master']['model']!r} has no entry in $.latency")
    upload = doc["upload"]
    if (upload["encoding"] == "jpeg") != ("jpeg_quality" in upload):
        raise BundleError(f"{source}: $.upload: jpeg_quality is given exactly when encoding is 'jpeg' "
                          f"(encoding {upload['encoding']!r}, jpeg_quality {upload.get('jpeg_quality')!r})")
    for profile, modes in doc["selection"].items():
        for mode, chosen in modes.items():
            where = f"{source}: $.selection.{profile}.{mode}"
            if not doc["modes"][mode]["minions"] and chosen["system"] != MASTER_ONLY:
                raise BundleError(f"{where}: mode {mode} runs no minions, so its system must be {MASTER_ONLY!r}")
            for name in (chosen["system"], *chosen["runner_ups"]):
                if name != MASTER_ONLY and name not in systems:
                    raise BundleError(f"{where}: system {name!r} is not defined in $.systems")
                if name != MASTER_ONLY and doc["modes"][mode]["thresholds"] not in systems[name]["modes"]:
                    raise BundleError(f"{where}: system {name!r} has no thresholds for mode {doc['modes'][mode]['thresholds']!r}")
            if not doc["modes"][mode]["cloud"] and chosen["placement"] != "device":
                raise BundleError(f"{where}: mode {mode} never leaves the device, so the master must be placed on the device")
    if shipped_models is not None:
        shipped = set(shipped_models)
        used = {doc["master"]["model"], *temperatures, *doc["latency"]}
        missing = sorted(used - shipped)
        if missing:
            raise BundleError(f"{source}: models {missing} are not shipped in the bundle")


@dataclass(frozen=True)
class RuntimeConfig:
    """A validated runtime config document with typed accessors."""

    document: dict[str, Any]

    @property
    def master_model(self) -> str:
        return self.document["master"]["model"]

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(self.document["network_profiles"])

    def temperature(self, model_id: str) -> float:
        try:
            return float(self.document["detector"]["temperatures"][model_id])
        except KeyError as e:
            raise ConfigError(f"no temperature for model {model_id!r}; "
                              f"calibrated minions: {sorted(self.document['detector']['temperatures'])}") from e

    def selection(self, profile: str, mode: str) -> dict[str, Any]:
        if mode not in MODES:
            raise ConfigError(f"mode is {mode!r}; expected one of {list(MODES)}")
        if profile not in self.document["selection"]:
            raise ConfigError(f"network profile is {profile!r}; expected one of {sorted(self.document['selection'])}")
        return self.document["selection"][profile][mode]

    def tuned(self, system: str, mode: str) -> dict[str, Any]:
        """The tuned detector of ``system`` in user ``mode``: per-class and disagreement thresholds, numbers."""
        tuning = self.document["modes"][mode]["thresholds"] if mode in MODES else None
        if tuning is None:
            raise ConfigError(f"mode {mode!r} runs no minions, so it has no detector; modes with minions: "
                              f"{[m for m in MODES if self.document['modes'][m]['minions']]}")
        try:
            return self.document["systems"][system]["modes"][tuning]
        except KeyError as e:
            raise ConfigError(f"system {system!r} has no {tuning} thresholds; systems: {sorted(self.document['systems'])}") from e

    def thresholds(self, system: str, mode: str) -> np.ndarray:
        """Per-class thresholds of ``system`` in user ``mode`` (normal, power_saving or private)."""
        return np.asarray(self.tuned(system, mode)["thresholds"], dtype=np.float64)


def load_runtime_config(
    path: str | Path, *, num_classes: int | None = None, shipped_models: Iterable[str] | None = None
) -> RuntimeConfig:
    path = Path(path)
    doc = read_json(path, "runtime config")
    check_runtime_config(doc, str(path), num_classes=num_classes, shipped_models=shipped_models)
    return RuntimeConfig(doc)


def write_runtime_config(
    doc: dict[str, Any], path: str | Path, *, num_classes: int | None = None, shipped_models: Iterable[str] | None = None
) -> Path:
    """Validates ``doc`` and writes it atomically; nothing is written when it is invalid."""
    path = Path(path)
    check_runtime_config(doc, str(path), num_classes=num_classes, shipped_models=shipped_models)
    return write_json_atomic(doc, path)
