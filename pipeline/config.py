"""The build configuration: one frozen dataclass per section, each validating itself.

A config file (YAML or JSON) maps onto :class:`BuildConfig`. Unknown keys, wrong types and
out-of-range values raise :class:`ConfigError` with the dotted path of the field, the value found and
what is expected, in the style of :mod:`mmnet.format.checks`, e.g.
``training.augmentation.zoom is 0.7; expected a finite number in [0, 0.5]``.

Loading a config imports no TensorFlow, Keras or Beam (``mmnet configure`` runs without them).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmnet.format.checks import check_bool, check_choice, check_int, check_number, check_text, fail, is_int
from mmnet.format.errors import ConfigError
from mmnet.pipeline.datasets.config import DatasetConfig, check_fractions, expand_variables
from mmnet.pipeline.pruning.config import PRUNING_BASELINES
from mmnet.pipeline.pruning.scores import IMPORTANCE_METRICS
from mmnet.pipeline.sieve.native import NATIVE_SIEVE_MODELS, NativeSearchConfig
from mmnet.pipeline.sieve.search import MODEL_NAMES as SIEVE_MODELS
from mmnet.pipeline.sieve.search import SearchConfig
from mmnet.pipeline.zoo.spec import PRECISIONS, VariantSpec
from mmnet.runtime.learned_detector import DETECTOR_KINDS

__all__ = [
    "AugmentationConfig",
    "DistillationConfig",
    "TrainingConfig",
    "MasterConfig",
    "ImportedMinion",
    "MinionGridConfig",
    "ExportConfig",
    "BeamConfig",
    "CompressionConfig",
    "SieveConfig",
    "PreprocessingOverride",
    "TargetsConfig",
    "ServerLoadConfig",
    "DetectorConfig",
    "EpsilonConfig",
    "RuntimeSettings",
    "BuildConfig",
    "load_config",
    "config_from_mapping",
]

_IMPORTABLE_SUFFIXES = (".keras", ".h5", ".tflite")


@dataclass(frozen=True)
class AugmentationConfig:
    """Random training-time augmentation (never part of an exported model)."""

    translate: float = 0.1  # fraction of height/width
    rotate_degrees: float = 10.0
    zoom: float = 0.1
    horizontal_flip: bool = False  # off by default: digits are not mirror-symmetric

    def __post_init__(self) -> None:
        check_number("training.augmentation.translate", self.translate, high=0.5)
        check_number("training.augmentation.rotate_degrees", self.rotate_degrees, high=180.0)
        check_number("training.augmentation.zoom", self.zoom, high=0.5)
        check_bool("training.augmentation.horizontal_flip", self.horizontal_flip)


@dataclass(frozen=True)
class DistillationConfig:
    """Knowledge distillation of minions from the master's soft labels (Hinton et al. 2015)."""

    enabled: bool = False
    temperature: float = 4.0
    weight: float = 0.7  # share of the soft-label loss; 1 - weight goes to the hard labels

    def __post_init__(self) -> None:
        check_bool("training.distillation.enabled", self.enabled)
        check_number("training.distillation.temperature", self.temperature, positive=True, high=100.0)
        check_number("training.distillation.weight", self.weight, high=1.0)


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
        check_int("training.epochs", self.epochs, low=1, high=10_000)
        check_int("training.master_epochs", self.master_epochs, low=1, high=10_000)
        check_int("training.batch_size", self.batch_size, low=1, high=65_536)
        check_number("training.learning_rate", self.learning_rate, positive=True, high=10.0)
        check_int("training.early_stopping_patience", self.early_stopping_patience, low=1, high=10_000)
        check_number("training.label_smoothing", self.label_smoothing, high=0.5)
        if not (is_int(self.seed) and 0 <= self.seed < 2**31):
            raise fail("training.seed", self.seed, "an int in [0, 2**31 - 1]")


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
        check_text("master.import", self.import_path)
        if Path(self.import_path).suffix not in (*_IMPORTABLE_SUFFIXES, ""):
            raise fail("master.import", self.import_path, "a .keras, .h5 or .tflite file, or a SavedModel directory")

    def variant(self) -> VariantSpec:
        try:
            return VariantSpec(self.family, self.alpha, self.resolution)
        except ConfigError as e:
            raise ConfigError(f"master: {e}") from e

    def resolved(self, base_dir: Path) -> MasterConfig:
        if self.import_path is None:
            return self
        path = expand_variables("master.import", self.import_path)
        return dataclasses.replace(self, import_path=str((base_dir / path).resolve()))


@dataclass(frozen=True)
class ImportedMinion:
    """A team's own .tflite classifier used as a minion as-is."""

    path: str
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.endswith(".tflite"):
            raise fail("minions.imported.path", self.path, "a .tflite file")
        if not isinstance(self.name, str) or not self.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise fail("minions.imported.name", self.name, "a non-empty name of letters, digits, '-', '_' or '.'")


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
                raise fail(f"minions.{name}", values, "a list")
            if len(set(values)) != len(values):
                raise fail(f"minions.{name}", list(values), "a list without duplicate entries")
        if self.families and not self.alphas:
            raise fail("minions.alphas", [], "at least one alpha for minions.families")
        if self.families and not self.resolutions:
            raise fail("minions.resolutions", [], "at least one resolution for minions.families")
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
            raise fail("export.precisions", self.precisions, "a non-empty list")
        for i, precision in enumerate(self.precisions):
            check_choice(f"export.precisions[{i}]", precision, PRECISIONS)
        check_int("export.representative_samples", self.representative_samples, low=1, high=100_000)
        check_int("export.qat_epochs", self.qat_epochs, low=0, high=1_000)
        check_choice("export.int8_granularity", self.int8_granularity, ("per_tensor", "per_channel"))
        check_number("export.parity_margin_points", self.parity_margin_points, high=100.0, nullable=True)
        check_int("export.latency_runs", self.latency_runs, low=50, high=100_000)
        check_int("export.latency_warmup", self.latency_warmup, low=1, high=10_000)
        check_bool("export.tflite_metadata", self.tflite_metadata)


@dataclass(frozen=True)
class CompressionConfig:
    """Pruning after training (dissertation ch. 7), before export, so the pruned model is what ships.

    ``double_shot`` prunes each layer to SNIP's per-layer ``sparsity`` budget by ``metric`` of the
    initial and trained weights and retrains with the masks fixed; ``channels`` removes whole output
    channels (every Conv2D/Dense layer but the classifier keeps ``channel_keep`` of them) and
    retrains the narrower network. Applies to the trained models of ``roles``, and of those only to
    ``variants`` when that list is not empty. The retraining (``epochs``, ``batch_size``,
    ``learning_rate``, Adam on the hard labels) follows the pruning module's recipe.

    ``baselines`` (double_shot only): the methods double-shot is compared with at the same sparsity
    (``snip``, ``local_random``), each pruned from the same initial weights and retrained the same way,
    over ``seeds`` seeds (SNIP's minibatch and the training order); the shipped model is the first
    seed's double-shot one. The bundle report shows the comparison.
    """

    enabled: bool = False
    method: str = "double_shot"
    metric: str = "weighted_movement"
    sparsity: float = 0.9
    channel_keep: float = 0.5
    roles: tuple[str, ...] = ("minion",)
    variants: tuple[str, ...] = ()
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    baselines: tuple[str, ...] = ()
    seeds: int = 1

    def __post_init__(self) -> None:
        check_bool("compression.enabled", self.enabled)
        check_choice("compression.method", self.method, ("double_shot", "channels"))
        check_choice("compression.metric", self.metric, IMPORTANCE_METRICS)
        check_number("compression.sparsity", self.sparsity, low=0.0, high=1.0, high_open=True)
        check_number("compression.channel_keep", self.channel_keep, positive=True, high=1.0)
        for name, values in (("roles", self.roles), ("variants", self.variants), ("baselines", self.baselines)):
            if not isinstance(values, tuple):
                raise fail(f"compression.{name}", values, "a list")
        if not self.roles:
            raise fail("compression.roles", [], "at least one of 'master', 'minion'")
        for i, role in enumerate(self.roles):
            check_choice(f"compression.roles[{i}]", role, ("master", "minion"))
        for i, variant in enumerate(self.variants):
            check_text(f"compression.variants[{i}]", variant)
        check_int("compression.epochs", self.epochs, low=1, high=10_000)
        check_int("compression.batch_size", self.batch_size, low=1, high=65_536)
        check_number("compression.learning_rate", self.learning_rate, positive=True, high=10.0)
        for i, baseline in enumerate(self.baselines):
            check_choice(f"compression.baselines[{i}]", baseline, PRUNING_BASELINES)
        if len(set(self.baselines)) != len(self.baselines):
            raise fail("compression.baselines", list(self.baselines), "each method at most once")
        if self.baselines and self.method != "double_shot":
            raise fail("compression.baselines", list(self.baselines),
                       "no baselines with method 'channels' (they compare unstructured pruning at equal sparsity)")
        check_int("compression.seeds", self.seeds, low=1, high=100)

    def applies_to(self, variant: str, role: str) -> bool:
        """Whether the trained model ``variant`` of ``role`` is pruned."""
        return self.enabled and role in self.roles and (not self.variants or variant in self.variants)


@dataclass(frozen=True)
class SieveConfig:
    """SIEVE speculative models (dissertation ch. 4), made from the trained master with no retraining.

    With ``enabled``, the format search (``search``: §4.4.1's thresholds and the repair's bounds) runs
    on the master, and each of ``models`` (exact / accurate / approximate) is exported as a float32
    TFLite minion whose activations are rounded in the graph; ``pack_weights`` ships its kernels packed
    at their formats' widths (unpacked at load). Each goes through the parity gate against its Keras
    model and, blessed, becomes a one-minion candidate system. ``accurate_native`` / ``approximate_native``
    in ``models`` run the per-layer search over formats LiteRT executes natively (``native``) instead, and
    ship the master's float TFLite quantised per layer by ai-edge-quantizer, gated against the master's
    Keras model.

    ``search_fraction`` of the val frames (seeded, recorded in each model's manifest record) choose the
    formats; the detectors of the systems with a SIEVE model are fitted on the other val frames only.
    The formats are chosen to keep val accuracy, so on the frames that chose them the model agrees with
    its master more than on fresh frames, and a detector fitted there recovers too few; 1.0: one val set
    for both, as the paper.
    """

    enabled: bool = False
    models: tuple[str, ...] = SIEVE_MODELS
    pack_weights: bool = True
    search_fraction: float = 0.5
    search: SearchConfig = field(default_factory=SearchConfig)
    native: NativeSearchConfig = field(default_factory=NativeSearchConfig)

    def __post_init__(self) -> None:
        check_bool("sieve.enabled", self.enabled)
        check_bool("sieve.pack_weights", self.pack_weights)
        check_number("sieve.search_fraction", self.search_fraction, positive=True, high=1.0)
        if not isinstance(self.models, tuple) or not self.models:
            raise fail("sieve.models", self.models, f"a non-empty list of {list(SIEVE_MODELS + NATIVE_SIEVE_MODELS)}")
        for i, name in enumerate(self.models):
            check_choice(f"sieve.models[{i}]", name, SIEVE_MODELS + NATIVE_SIEVE_MODELS)
        if len(set(self.models)) != len(self.models):
            raise fail("sieve.models", list(self.models), "a list without duplicate entries")
        if not isinstance(self.search, SearchConfig):
            raise fail("sieve.search", self.search, "a mapping of the format search's settings")
        if not isinstance(self.native, NativeSearchConfig):
            raise fail("sieve.native", self.native, "a mapping of the native search's settings")


@dataclass(frozen=True)
class BeamConfig:
    """Which Beam runner executes the pipeline; ``options`` are passed through as Beam flags."""

    runner: str = "DirectRunner"
    num_workers: int | None = None  # DirectRunner only; None: one per core
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_text("beam.runner", self.runner)
        check_int("beam.num_workers", self.num_workers, low=1, high=256, nullable=True)
        for i, option in enumerate(self.options):
            if not isinstance(option, str) or not option.startswith("--"):
                raise fail(f"beam.options[{i}]", option, "a flag like '--name=value'")

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
            given, missing = ("mean", "std") if self.std is None else ("std", "mean")
            raise fail(f"preprocessing.{missing}", None, f"a list beside preprocessing.{given} (give both, or neither)")
        for i, value in enumerate(self.mean or ()):
            check_number(f"preprocessing.mean[{i}]", value, low=-1e6, high=1e6)
        for i, value in enumerate(self.std or ()):
            check_number(f"preprocessing.std[{i}]", value, positive=True, high=1e6)
        check_choice("preprocessing.resize_method", self.resize_method, ("bilinear", "nearest"))


@dataclass(frozen=True)
class TargetsConfig:
    """Accuracy targets of the threshold-tuned modes, as fractions of the master's accuracy."""

    normal: float = 1.0
    power_saving: float = 0.99

    def __post_init__(self) -> None:
        check_number("runtime.targets.normal", self.normal, positive=True, high=1.0)
        check_number("runtime.targets.power_saving", self.power_saving, positive=True, high=1.0)
        if self.power_saving > self.normal:
            raise fail("runtime.targets.power_saving", self.power_saving, f"at most runtime.targets.normal ({self.normal:g})")


@dataclass(frozen=True)
class EpsilonConfig:
    """Per tuned mode, the extra-error budget ε: accepted wrong answers the master had right, per frame."""

    normal: float = 0.003
    power_saving: float = 0.01

    def __post_init__(self) -> None:
        check_number("runtime.detector.epsilon.normal", self.normal, positive=True, high=0.5)
        check_number("runtime.detector.epsilon.power_saving", self.power_saving, positive=True, high=0.5)


@dataclass(frozen=True)
class DetectorConfig:
    """The misspeculation detectors tried per system and mode, and how their thresholds are chosen
    (:mod:`mmnet.pipeline.detectors`, :mod:`mmnet.pipeline.risk`)."""

    members: tuple[str, ...] = DETECTOR_KINDS
    # point: keep the target share of the master's right answers on held-out val scores; guaranteed:
    # extra-error rate <= epsilon with probability >= 1 - delta (Learn-then-Test), or no speculation
    threshold_mode: str = "point"
    delta: float = 0.1
    epsilon: EpsilonConfig = field(default_factory=EpsilonConfig)
    window_frames: int = 0  # guaranteed mode: the promise covers the extra errors of this many frames (0: the long-run rate)
    prior_frames: float = 10.0  # per-class thresholds shrink toward the global one with this weight in frames
    folds: int = 5  # cross-fitting folds of the val split
    regularization: float = 1.0  # the logistic regression's C on standardised features

    def __post_init__(self) -> None:
        if not isinstance(self.members, tuple) or not self.members:
            raise fail("runtime.detector.members", self.members, f"a non-empty list of {list(DETECTOR_KINDS)}")
        for i, member in enumerate(self.members):
            check_choice(f"runtime.detector.members[{i}]", member, DETECTOR_KINDS)
        if len(set(self.members)) != len(self.members):
            raise fail("runtime.detector.members", list(self.members), "each detector at most once")
        check_choice("runtime.detector.threshold_mode", self.threshold_mode, ("point", "guaranteed"))
        check_number("runtime.detector.delta", self.delta, positive=True, high=0.5)
        check_number("runtime.detector.prior_frames", self.prior_frames, high=1e6)
        check_int("runtime.detector.folds", self.folds, low=2, high=20)
        check_int("runtime.detector.window_frames", self.window_frames, low=0, high=10**9)
        check_number("runtime.detector.regularization", self.regularization, positive=True, high=1e6)


@dataclass(frozen=True)
class ServerLoadConfig:
    """Server-load detection: a smoothed request latency above L_m keeps the master local (§5.2.1)."""

    probe_interval_s: float = 5.0
    rtt_smoothing: float = 0.2  # weight of a new RTT sample in the exponential moving average

    def __post_init__(self) -> None:
        check_number("runtime.server_load.probe_interval_s", self.probe_interval_s, positive=True, high=86_400.0)
        check_number("runtime.server_load.rtt_smoothing", self.rtt_smoothing, positive=True, high=1.0)


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
    upload_encoding: str = "png"  # how a frame travels to the cloud master: "png", "jpeg" or "raw"
    upload_jpeg_quality: int = 90  # JPEG quality (1-95) when upload_encoding is "jpeg"
    cloud_server_ms: float = 0.0  # the master's time on the server (the paper neglects it)
    device_profile: str | None = None  # a device profile JSON (e.g. from the Android harness); default: host timings
    temporal_distance_ms: float = 100.0  # speculation history: frames closer than this are "the same view"
    server_load: ServerLoadConfig = field(default_factory=ServerLoadConfig)
    # M&MNet runs a pair: the agreement rule filters errors before thresholds do. Single minions are
    # always evaluated and reported; selecting them is opt-in because per-class thresholds fitted on
    # a small val split generalise worse without agreement (measured on digits; see BUILD.md).
    single_minion_systems: bool = False
    detector: DetectorConfig = field(default_factory=DetectorConfig)
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
        check_choice("runtime.reference", self.reference, ("labels", "master"))
        check_choice("runtime.minion_execution", self.minion_execution, ("serial", "parallel"))
        if not isinstance(self.network_profiles, tuple) or not self.network_profiles:
            raise fail("runtime.network_profiles", self.network_profiles, "a non-empty list of profile names")
        for i, name in enumerate(self.network_profiles):
            check_text(f"runtime.network_profiles[{i}]", name)
            if self.network_profiles_file is None and name not in _NETWORK_PROFILE_NAMES:
                raise fail(f"runtime.network_profiles[{i}]", name, f"one of {list(_NETWORK_PROFILE_NAMES)!r}, "
                           "or a profile defined in runtime.network_profiles_file")
        check_choice("runtime.default_profile", self.default_profile, self.network_profiles)
        check_choice("runtime.upload_encoding", self.upload_encoding, ("png", "jpeg", "raw"))
        check_int("runtime.upload_jpeg_quality", self.upload_jpeg_quality, low=1, high=95)
        check_number("runtime.cloud_server_ms", self.cloud_server_ms, high=1e6)
        for name in ("device_profile", "network_profiles_file"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.endswith(".json")):
                raise fail(f"runtime.{name}", value, "a .json file or null")
        check_number("runtime.temporal_distance_ms", self.temporal_distance_ms, high=1e7)
        check_int("runtime.calibration_bins", self.calibration_bins, low=2, high=100)
        for name in ("power_saving_disagreement", "odd_correct_credit", "single_minion_systems", "latency_model"):
            check_bool(f"runtime.{name}", getattr(self, name))

    def resolved(self, base_dir: Path) -> RuntimeSettings:
        return dataclasses.replace(self, **{
            name: str((base_dir / getattr(self, name)).resolve())
            for name in ("device_profile", "network_profiles_file") if getattr(self, name) is not None
        })

    def check_paths(self) -> None:
        for name in ("device_profile", "network_profiles_file"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                raise fail(f"runtime.{name}", value, "an existing file (no such file)")


@dataclass(frozen=True)
class BuildConfig:
    name: str
    dataset: DatasetConfig
    master: MasterConfig = field(default_factory=MasterConfig)
    minions: MinionGridConfig = field(default_factory=MinionGridConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    sieve: SieveConfig = field(default_factory=SieveConfig)
    beam: BeamConfig = field(default_factory=BeamConfig)
    preprocessing: PreprocessingOverride = field(default_factory=PreprocessingOverride)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise fail("name", self.name, "a non-empty bundle name without '/'")
        if self.trains:
            check_fractions(self.dataset.val_fraction, self.dataset.test_fraction)
        elif self.export.qat_epochs:
            raise fail("export.qat_epochs", self.export.qat_epochs,
                       "0 when nothing trains (only imported models): there is no train split to fine-tune on")
        if not self.dataset.labeled and (self.runtime.reference != "master" or self.master.import_path is None):
            raise fail("dataset.photo_labels", None,
                       "a class-names file: unlabeled photos need runtime.reference: master and an imported "
                       "master (master.import), whose answers label them")
        if not self.minions.families and not self.minions.imported and not self.sieve.enabled:
            raise fail("minions.families", [], "at least one family, or at least one minion in minions.imported, "
                       "or sieve.enabled (SIEVE models of the master as the only minions)")
        if self.sieve.enabled and self.master.import_path is not None and not self.master.import_path.endswith(".keras"):
            raise fail("sieve.enabled", True, "a trained master or an imported .keras master: the format search "
                       f"needs the float Keras model, and master.import is {self.master.import_path!r}")
        self._check_compressed_variants()

    def _check_compressed_variants(self) -> None:
        """Every variant named in compression.variants is one this config trains in a role it prunes."""
        trained = {spec.name for spec in self.minions.variants()} if "minion" in self.compression.roles else set()
        if "master" in self.compression.roles and self.master.import_path is None:
            trained.add(self.master.variant().name)
        for i, variant in enumerate(self.compression.variants):
            if variant not in trained:
                raise fail(f"compression.variants[{i}]", variant,
                           f"the name of a trained {' or '.join(self.compression.roles)} ({sorted(trained)})")

    @property
    def trains(self) -> bool:
        """Whether any model is trained here; with only imported models there is no train split."""
        return self.master.import_path is None or bool(self.minions.families)

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
        raise fail(path or "config", data, "a mapping")
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
        raise fail(path, value, "a list")
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
                    dataclasses.replace(
                        m, path=str((base_dir / expand_variables("minions.imported.path", m.path)).resolve()))
                    for m in config.minions.imported
                ),
            ),
        )
    return config


def load_config(path: str | os.PathLike[str]) -> BuildConfig:
    """Reads a YAML (``.yaml``/``.yml``) or JSON (``.json``) build config."""
    config_path = Path(path)
    if not config_path.is_file():
        raise fail("--config", str(config_path), "an existing file (no such file)")
    text = config_path.read_text(encoding="utf-8")
    try:
        if config_path.suffix == ".json":
            data = json.loads(text)
        elif config_path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise fail("--config", str(config_path), "a .yaml, .yml or .json file")
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{config_path}: not valid {config_path.suffix[1:].upper()}: {e}") from e
    try:
        return config_from_mapping(data, base_dir=config_path.resolve().parent)
    except ConfigError as e:
        raise ConfigError(f"{config_path}: {e}") from e
