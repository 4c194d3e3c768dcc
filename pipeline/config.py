"""The build configuration: one frozen dataclass per section, each validating itself.

A config file (YAML or JSON) maps onto :class:`BuildConfig`. Unknown keys, wrong types and
out-of-range values raise :class:`ConfigError` with the dotted path of the field, the value found and
what is expected, e.g. ``minions.alphas[1]: alpha must be > 0, got -0.5``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from mmnet.format.errors import ConfigError
from mmnet.pipeline.datasets import DatasetConfig
from mmnet.pipeline.zoo.spec import PRECISIONS, VariantSpec

__all__ = [
    "AugmentationConfig",
    "DistillationConfig",
    "TrainingConfig",
    "MasterConfig",
    "ImportedMinion",
    "MinionGridConfig",
    "ExportConfig",
    "BeamConfig",
    "PreprocessingOverride",
    "TargetsConfig",
    "ServerLoadConfig",
    "ThresholdFloorConfig",
    "RuntimeSettings",
    "BuildConfig",
    "load_config",
    "config_from_mapping",
]

_IMPORTABLE_SUFFIXES = (".keras", ".h5", ".tflite")


def _require_number(path: str, value: Any, *, low: float, high: float, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    below = value <= low if low_open else value < low
    if below or value > high:
        bracket = "(" if low_open else "["
        raise ConfigError(f"{path}: expected a number in {bracket}{low}, {high}], got {value!r}")


def _require_int(path: str, value: Any, *, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{path}: expected an integer in [{low}, {high}], got {value}")


@dataclass(frozen=True)
class AugmentationConfig:
    """Random training-time augmentation (never part of an exported model)."""

    translate: float = 0.1  # fraction of height/width
    rotate_degrees: float = 10.0
    zoom: float = 0.1
    horizontal_flip: bool = False  # off by default: digits are not mirror-symmetric

    def __post_init__(self) -> None:
        _require_number("training.augmentation.translate", self.translate, low=0.0, high=0.5)
        _require_number("training.augmentation.rotate_degrees", self.rotate_degrees, low=0.0, high=180.0)
        _require_number("training.augmentation.zoom", self.zoom, low=0.0, high=0.5)
        if not isinstance(self.horizontal_flip, bool):
            raise ConfigError(f"training.augmentation.horizontal_flip: expected true/false, got {self.horizontal_flip!r}")


@dataclass(frozen=True)
class DistillationConfig:
    """Knowledge distillation of minions from the master's soft labels (Hinton et al. 2015)."""

    enabled: bool = False
    temperature: float = 4.0
    weight: float = 0.7  # share of the soft-label loss; 1 - weight goes to the hard labels

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"training.distillation.enabled: expected true/false, got {self.enabled!r}")
        _require_number("training.distillation.temperature", self.temperature, low=0.0, high=100.0, low_open=True)
        _require_number("training.distillation.weight", self.weight, low=0.0, high=1.0)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 30
    master_epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 5e-3
    early_stopping_patience: int = 8
    label_smoothing: float = 0.0
    seed: int = 0
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    distillation: DistillationConfig = field(default_factory=DistillationConfig)

    def __post_init__(self) -> None:
        _require_int("training.epochs", self.epochs, low=1, high=10_000)
        _require_int("training.master_epochs", self.master_epochs, low=1, high=10_000)
        _require_int("training.batch_size", self.batch_size, low=1, high=65_536)
        _require_number("training.learning_rate", self.learning_rate, low=0.0, high=10.0, low_open=True)
        _require_int("training.early_stopping_patience", self.early_stopping_patience, low=1, high=10_000)
        _require_number("training.label_smoothing", self.label_smoothing, low=0.0, high=0.5)
        _require_int("training.seed", self.seed, low=0, high=2**31 - 1)


@dataclass(frozen=True)
class MasterConfig:
    """Either a built-in architecture to train, or a model file to import (``import_path``)."""

    family: str = "resnet"
    alpha: float = 1.0
    resolution: int = 16
    import_path: str | None = None

    def __post_init__(self) -> None:
        if self.import_path is None:
            self.variant()  # validates family, alpha and resolution with field names
            return
        if not isinstance(self.import_path, str) or not self.import_path:
            raise ConfigError(f"master.import: expected a path, got {self.import_path!r}")
        path = Path(self.import_path)
        if path.suffix not in _IMPORTABLE_SUFFIXES and path.suffix != "":
            raise ConfigError(
                f"master.import: unsupported model file {self.import_path!r}; expected a .keras, .h5 "
                "or .tflite file, or a SavedModel directory"
            )

    def variant(self) -> VariantSpec:
        try:
            return VariantSpec(self.family, self.alpha, self.resolution)
        except ConfigError as e:
            raise ConfigError(f"master: {e}") from e

    def resolved(self, base_dir: Path) -> "MasterConfig":
        if self.import_path is None:
            return self
        return dataclasses.replace(self, import_path=str((base_dir / self.import_path).resolve()))


@dataclass(frozen=True)
class ImportedMinion:
    """A team's own .tflite classifier used as a minion as-is."""

    path: str
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.endswith(".tflite"):
            raise ConfigError(f"minions.imported.path: expected a .tflite file, got {self.path!r}")
        if not isinstance(self.name, str) or not self.name or not self.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(
                f"minions.imported.name: expected a non-empty name of letters, digits, '-', '_' or '.', got {self.name!r}"
            )


@dataclass(frozen=True)
class MinionGridConfig:
    """The variant grid: every (family, alpha, resolution) combination is built."""

    families: tuple[str, ...] = ("mobilenet_v2", "mnasnet")
    alphas: tuple[float, ...] = (0.25, 0.5)
    resolutions: tuple[int, ...] = (8, 12)
    imported: tuple[ImportedMinion, ...] = ()

    def __post_init__(self) -> None:
        for name, values in (("families", self.families), ("alphas", self.alphas), ("resolutions", self.resolutions)):
            if not isinstance(values, tuple):
                raise ConfigError(f"minions.{name}: expected a list, got {values!r}")
            if len(set(values)) != len(values):
                raise ConfigError(f"minions.{name}: duplicate entries in {list(values)}")
        if not self.families and not self.imported:
            raise ConfigError("minions: expected at least one family or imported minion, got none")
        if self.families and (not self.alphas or not self.resolutions):
            raise ConfigError("minions: families need at least one alpha and one resolution")
        self.variants()  # validates every entry with its position

    def variants(self) -> tuple[VariantSpec, ...]:
        specs = []
        for fi, family in enumerate(self.families):
            for ai, alpha in enumerate(self.alphas):
                for ri, resolution in enumerate(self.resolutions):
                    try:
                        specs.append(VariantSpec(family, alpha, resolution))
                    except ConfigError as e:
                        where = _grid_position(e, fi, ai, ri)
                        raise ConfigError(f"{where}: {e}") from e
        return tuple(specs)


def _grid_position(error: ConfigError, fi: int, ai: int, ri: int) -> str:
    message = str(error)
    if "family" in message:
        return f"minions.families[{fi}]"
    if "alpha" in message:
        return f"minions.alphas[{ai}]"
    return f"minions.resolutions[{ri}]"


@dataclass(frozen=True)
class ExportConfig:
    precisions: tuple[str, ...] = PRECISIONS
    representative_samples: int = 200
    qat_epochs: int = 0  # > 0: the int8 artifact comes from quantization-aware fine-tuning
    # Per-channel int8 stores a float32 scale and an int64 zero point per output channel of every
    # weight and bias; on thin minions (alpha 0.25) that alone is ~25% of the file, so per-tensor
    # is the default. The parity gate still rejects an artifact that loses accuracy for it.
    int8_granularity: str = "per_tensor"
    parity_margin_points: float | None = 1.0  # None: no gate, artifacts are still measured
    latency_runs: int = 50
    latency_warmup: int = 10
    tflite_metadata: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.precisions, tuple) or not self.precisions:
            raise ConfigError(f"export.precisions: expected a non-empty list, got {self.precisions!r}")
        for i, precision in enumerate(self.precisions):
            if precision not in PRECISIONS:
                raise ConfigError(f"export.precisions[{i}]: unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
        _require_int("export.representative_samples", self.representative_samples, low=1, high=100_000)
        _require_int("export.qat_epochs", self.qat_epochs, low=0, high=1_000)
        if self.int8_granularity not in ("per_tensor", "per_channel"):
            raise ConfigError(f"export.int8_granularity: expected 'per_tensor' or 'per_channel', got {self.int8_granularity!r}")
        if self.parity_margin_points is not None:
            _require_number("export.parity_margin_points", self.parity_margin_points, low=0.0, high=100.0)
        _require_int("export.latency_runs", self.latency_runs, low=50, high=100_000)
        _require_int("export.latency_warmup", self.latency_warmup, low=1, high=10_000)
        if not isinstance(self.tflite_metadata, bool):
            raise ConfigError(f"export.tflite_metadata: expected true/false, got {self.tflite_metadata!r}")


@dataclass(frozen=True)
class BeamConfig:
    """Which Beam runner executes the pipeline; ``options`` are passed through as Beam flags."""

    runner: str = "DirectRunner"
    num_workers: int | None = None  # DirectRunner only; None: one per core
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.runner, str) or not self.runner:
            raise ConfigError(f"beam.runner: expected a runner name, got {self.runner!r}")
        if self.num_workers is not None:
            _require_int("beam.num_workers", self.num_workers, low=1, high=256)
        for i, option in enumerate(self.options):
            if not isinstance(option, str) or not option.startswith("--"):
                raise ConfigError(f"beam.options[{i}]: expected a flag like '--name=value', got {option!r}")

    def workers(self) -> int:
        return self.num_workers or max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class PreprocessingOverride:
    """Fixed normalisation, for imported models trained with their own; default: train-split stats."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize_method: str = "bilinear"

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise ConfigError("preprocessing: give both mean and std, or neither")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values is not None:
                for i, v in enumerate(values):
                    _require_number(f"preprocessing.{name}[{i}]", v, low=-1e6, high=1e6)
        if self.std is not None and any(v <= 0 for v in self.std):
            raise ConfigError(f"preprocessing.std: every value must be > 0, got {list(self.std)}")
        if self.resize_method not in ("bilinear", "nearest"):
            raise ConfigError(f"preprocessing.resize_method: expected 'bilinear' or 'nearest', got {self.resize_method!r}")


@dataclass(frozen=True)
class TargetsConfig:
    """Accuracy targets of the threshold-tuned modes, as fractions of the master's accuracy."""

    normal: float = 1.0
    power_saving: float = 0.99

    def __post_init__(self) -> None:
        _require_number("runtime.targets.normal", self.normal, low=0.0, high=1.0, low_open=True)
        _require_number("runtime.targets.power_saving", self.power_saving, low=0.0, high=1.0, low_open=True)
        if self.power_saving > self.normal:
            raise ConfigError(f"runtime.targets.power_saving: expected at most targets.normal ({self.normal}), got {self.power_saving}")


@dataclass(frozen=True)
class ThresholdFloorConfig:
    """Per tuned mode, a share q: every per-class threshold is at least the q-quantile of the calibrated
    confidences of the val frames the agreeing minions answered right. A margin against the minions'
    rare confident errors, which a small val split may not hold at all (then the §6.4.2 fit is 0)."""

    normal: float = 0.05
    power_saving: float = 0.0

    def __post_init__(self) -> None:
        _require_number("runtime.threshold_floor.normal", self.normal, low=0.0, high=0.5)
        _require_number("runtime.threshold_floor.power_saving", self.power_saving, low=0.0, high=0.5)


@dataclass(frozen=True)
class ServerLoadConfig:
    """Server-load detection: a smoothed RTT this many times above its estimate keeps the master local."""

    rtt_ratio: float = 3.0
    probe_interval_s: float = 5.0
    rtt_smoothing: float = 0.2  # weight of a new RTT sample in the exponential moving average

    def __post_init__(self) -> None:
        _require_number("runtime.server_load.rtt_ratio", self.rtt_ratio, low=1.0, high=1000.0, low_open=True)
        _require_number("runtime.server_load.probe_interval_s", self.probe_interval_s, low=0.0, high=86_400.0, low_open=True)
        _require_number("runtime.server_load.rtt_smoothing", self.rtt_smoothing, low=0.0, high=1.0, low_open=True)


_NETWORK_PROFILE_NAMES = ("3g", "lte", "wifi")


@dataclass(frozen=True)
class RuntimeSettings:
    """How the Configure runtime stage calibrates, tunes thresholds and pairs minions."""

    reference: str = "labels"  # "master": unlabeled calibration against the master's own answers
    targets: TargetsConfig = field(default_factory=TargetsConfig)
    minion_execution: str = "serial"  # the paper runs the two minions one after the other
    network_profiles: tuple[str, ...] = _NETWORK_PROFILE_NAMES
    network_profiles_file: str | None = None  # JSON with extra or overriding profiles
    default_profile: str = "lte"
    upload_encoding: str = "png"  # how a frame travels to the cloud master: "png" or "raw"
    cloud_server_ms: float = 0.0  # the master's time on the server (the paper neglects it)
    device_profile: str | None = None  # a device profile JSON (e.g. from the Android harness); default: host timings
    temporal_distance_ms: float = 100.0  # speculation history: frames closer than this are "the same view"
    server_load: ServerLoadConfig = field(default_factory=ServerLoadConfig)
    # M&MNet runs a pair: the agreement rule filters errors before thresholds do. Single minions are
    # always evaluated and reported; selecting them is opt-in because per-class thresholds fitted on
    # a small val split generalise worse without agreement (measured on digits; see BUILD.md).
    single_minion_systems: bool = False
    threshold_step: float = 0.01  # how far the per-class thresholds are lowered together per step
    threshold_bootstrap: int = 20  # bootstrap rounds of the per-class heuristic (0: the plain heuristic)
    # The §6.4.2 fit only sees the errors the val split happens to hold. On digits (360 val frames)
    # val held no correctable agreed error, the fit chose thresholds of 0, and test then held two.
    threshold_floor: ThresholdFloorConfig = field(default_factory=ThresholdFloorConfig)
    # The paper lets the master's own val errors that a minion gets right (odd corrects) pay for
    # accepted minion errors. On a small val split those few frames are noise, so by default an
    # accepted answer counts as correct only where the master is right too.
    odd_correct_credit: bool = False
    # Power-saving "relaxes the misspeculation detector" (§5.2.2): when the minions disagree, the more
    # confident one may answer above a threshold fitted within the mode's accuracy budget. Off by
    # default: on digits it cut the test P_r from 8.3% to 5.8% but spent the whole val budget and
    # fell below the 99% target on test (98.6% vs a 100% master).
    power_saving_disagreement: bool = False
    calibration_bins: int = 10
    latency_model: bool = True  # fit and report the per-layer latency regression

    def __post_init__(self) -> None:
        if self.reference not in ("labels", "master"):
            raise ConfigError(f"runtime.reference: expected 'labels' or 'master', got {self.reference!r}")
        if self.minion_execution not in ("serial", "parallel"):
            raise ConfigError(f"runtime.minion_execution: expected 'serial' or 'parallel', got {self.minion_execution!r}")
        if not isinstance(self.network_profiles, tuple) or not self.network_profiles:
            raise ConfigError(f"runtime.network_profiles: expected a non-empty list, got {self.network_profiles!r}")
        for i, name in enumerate(self.network_profiles):
            if not isinstance(name, str) or not name:
                raise ConfigError(f"runtime.network_profiles[{i}]: expected a profile name, got {name!r}")
            if self.network_profiles_file is None and name not in _NETWORK_PROFILE_NAMES:
                raise ConfigError(f"runtime.network_profiles[{i}]: unknown profile {name!r}; expected one of "
                                  f"{', '.join(_NETWORK_PROFILE_NAMES)} or a network_profiles_file that defines it")
        if self.default_profile not in self.network_profiles:
            raise ConfigError(f"runtime.default_profile: expected one of {list(self.network_profiles)}, got {self.default_profile!r}")
        if self.upload_encoding not in ("png", "raw"):
            raise ConfigError(f"runtime.upload_encoding: expected 'png' or 'raw', got {self.upload_encoding!r}")
        _require_number("runtime.cloud_server_ms", self.cloud_server_ms, low=0.0, high=1e6)
        for name in ("device_profile", "network_profiles_file"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.endswith(".json")):
                raise ConfigError(f"runtime.{name}: expected a .json file, got {value!r}")
        _require_number("runtime.temporal_distance_ms", self.temporal_distance_ms, low=0.0, high=1e7)
        _require_number("runtime.threshold_step", self.threshold_step, low=0.0, high=0.5, low_open=True)
        _require_int("runtime.calibration_bins", self.calibration_bins, low=2, high=100)
        _require_int("runtime.threshold_bootstrap", self.threshold_bootstrap, low=0, high=1000)
        if not isinstance(self.power_saving_disagreement, bool):
            raise ConfigError(f"runtime.power_saving_disagreement: expected true/false, got {self.power_saving_disagreement!r}")
        if not isinstance(self.odd_correct_credit, bool):
            raise ConfigError(f"runtime.odd_correct_credit: expected true/false, got {self.odd_correct_credit!r}")
        if not isinstance(self.single_minion_systems, bool):
            raise ConfigError(f"runtime.single_minion_systems: expected true/false, got {self.single_minion_systems!r}")
        if not isinstance(self.latency_model, bool):
            raise ConfigError(f"runtime.latency_model: expected true/false, got {self.latency_model!r}")

    def resolved(self, base_dir: Path) -> "RuntimeSettings":
        return dataclasses.replace(self, **{
            name: str((base_dir / getattr(self, name)).resolve())
            for name in ("device_profile", "network_profiles_file") if getattr(self, name) is not None
        })

    def check_paths(self) -> None:
        for name in ("device_profile", "network_profiles_file"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"runtime.{name}: no such file: {value}")


@dataclass(frozen=True)
class BuildConfig:
    name: str
    dataset: DatasetConfig
    master: MasterConfig = field(default_factory=MasterConfig)
    minions: MinionGridConfig = field(default_factory=MinionGridConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    beam: BeamConfig = field(default_factory=BeamConfig)
    preprocessing: PreprocessingOverride = field(default_factory=PreprocessingOverride)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise ConfigError(f"name: expected a bundle name without '/', got {self.name!r}")

    def to_json(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    return value


# Config-file keys that differ from the dataclass field names.
_KEY_ALIASES = {MasterConfig: {"import": "import_path"}}


def _build(cls: type, data: Any, path: str) -> Any:
    """Builds dataclass ``cls`` from a mapping, rejecting unknown keys with their dotted path."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(data).__name__} {data!r}")
    aliases = _KEY_ALIASES.get(cls, {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = aliases.get(key, key)
        if name not in names:
            spelled = {field: key for key, field in aliases.items()}
            allowed = sorted(spelled.get(n, n) for n in names)
            raise ConfigError(f"{_join(path, key)}: unknown key; expected one of {', '.join(allowed)}")
        kwargs[name] = _convert(hints[name], value, _join(path, key))
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{path or 'config'}: {e}") from e


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _convert(annotation: Any, value: Any, path: str) -> Any:
    """YAML gives mappings and lists; frozen configs hold dataclasses and tuples."""
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, path)
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    if value is None and type(None) in options:
        return None
    sequence = next((t for t in (annotation, *options) if typing.get_origin(t) is tuple), None)
    if sequence is None:
        return value
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{path}: expected a list, got {value!r}")
    item_type = typing.get_args(sequence)[0]
    if dataclasses.is_dataclass(item_type):
        return tuple(_build(item_type, item, f"{path}[{i}]") for i, item in enumerate(value))
    return tuple(value)


def config_from_mapping(data: Mapping[str, Any], *, base_dir: Path | None = None) -> BuildConfig:
    """Builds and validates a :class:`BuildConfig`; relative paths resolve against ``base_dir``."""
    config = _build(BuildConfig, data, "")
    if base_dir is not None:
        config = dataclasses.replace(
            config,
            dataset=config.dataset.resolved(base_dir),
            master=config.master.resolved(base_dir),
            runtime=config.runtime.resolved(base_dir),
            minions=dataclasses.replace(
                config.minions,
                imported=tuple(
                    dataclasses.replace(m, path=str((base_dir / m.path).resolve())) for m in config.minions.imported
                ),
            ),
        )
    return config


def load_config(path: str | os.PathLike[str]) -> BuildConfig:
    """Reads a YAML (``.yaml``/``.yml``) or JSON (``.json``) build config."""
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(f"--config: no such file: {config_path}")
    text = config_path.read_text(encoding="utf-8")
    try:
        if config_path.suffix == ".json":
            data = json.loads(text)
        elif config_path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"--config: {config_path}: expected a .yaml, .yml or .json file")
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{config_path}: not valid {config_path.suffix[1:].upper()}: {e}") from e
    try:
        return config_from_mapping(data, base_dir=config_path.resolve().parent)
    except ConfigError as e:
        raise ConfigError(f"{config_path}: {e}") from e
