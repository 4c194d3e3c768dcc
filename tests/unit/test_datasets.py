"""Tests of mmnet.pipeline.datasets: the TF-free sources, the split, the fingerprint and the split artifact.

All data is real: scikit-learn's digits and PNG/JPEG/npz files written into tmp_path here. The
TFRecord, TFDS and MNIST sources are tested in tests/integration/test_datasets.py.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmnet.format.errors import ConfigError, DataError
from mmnet.pipeline.datasets.config import DatasetConfig
from mmnet.pipeline.datasets.dataset import Dataset, Splits, fingerprint
from mmnet.pipeline.datasets.loaders import load_dataset
from mmnet.pipeline.datasets.split import split_dataset
from mmnet.pipeline.datasets.store import load_splits, save_splits


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset(DatasetConfig("builtin:digits"))


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _toy_dataset(counts: list[int], names: tuple[str, ...] | None = None, shape=(4, 4, 1)) -> Dataset:
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    frames = np.random.default_rng(0).integers(0, 256, (len(labels), *shape), dtype=np.uint8)
    return Dataset(frames, labels, names or tuple(str(i) for i in range(len(counts))), "toy")


# ------------------------------------------------------------------------------------------
# DatasetConfig


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"source": "foo:x"}, "dataset.source is 'foo:x'; expected one of builtin:digits, builtin:mnist5k, folder:PATH"),
        ({"source": "digits"}, "dataset.source is 'digits'; expected one of builtin:digits"),
        ({"source": "builtin:cifar"}, "dataset.source is 'builtin:cifar'; expected one of builtin:digits, builtin:mnist5k"),
        ({"source": "folder:"}, "dataset.source is 'folder:'; expected one of"),
        ({"source": "tfds:mnist:"}, "dataset.source is 'tfds:mnist:'; expected tfds:NAME or tfds:NAME:SPLIT"),
        ({"source": 7}, "dataset.source is 7; expected one of"),
        ({"source": "builtin:digits", "val_fraction": 0.0},
         "dataset.val_fraction is 0.0; expected a finite number in (0, 1)"),
        ({"source": "builtin:digits", "test_fraction": 1.5}, "dataset.test_fraction is 1.5; expected a finite number in (0, 1)"),
        ({"source": "builtin:digits", "test_fraction": True}, "dataset.test_fraction is True; expected a finite number"),
        ({"source": "builtin:digits", "channels": 2}, "dataset.channels is 2; expected 1, 3 or None"),
        ({"source": "builtin:digits", "channels": 1.0}, "dataset.channels is 1.0; expected 1, 3 or None"),
        ({"source": "builtin:digits", "image_size": 3}, "dataset.image_size is 3; expected an int in [4, 1024] or None"),
        ({"source": "builtin:digits", "image_size": 2048}, "dataset.image_size is 2048; expected an int in [4, 1024]"),
        ({"source": "builtin:digits", "image_size": 16.0}, "dataset.image_size is 16.0; expected an int"),
        ({"source": "builtin:digits", "seed": -1}, "dataset.seed is -1; expected an int in [0, 2**32 - 1]"),
        ({"source": "npz:a.npz", "npz_x_key": ""}, "dataset.npz_x_key is ''; expected a non-empty string"),
        (
            {"source": "folder:imgs", "class_names": ("a", "b")},
            "dataset.class_names is ['a', 'b']; expected None: only npz:, tfrecord: and tfds: sources use it",
        ),
        ({"source": "npz:a.npz", "class_names": ("a", "b", "a")},
         "dataset.class_names is ['a', 'b', 'a']; expected unique names (['a'] appear more than once)"),
        ({"source": "npz:a.npz", "class_names": ("a",)}, "dataset.class_names is ['a']; expected at least 2 names"),
        ({"source": "npz:a.npz", "class_names": ("a", "")}, "dataset.class_names[1] is ''; expected a non-empty string"),
        ({"source": "npz:a.npz", "tfds_data_dir": "/data"},
         "dataset.tfds_data_dir is '/data'; expected None: only tfds: sources use it"),
    ],
)
def test_config_rejects_invalid_fields(kwargs, fragment):
    with pytest.raises(ConfigError) as raised:
        DatasetConfig(**kwargs)
    assert fragment in str(raised.value)


def test_config_accepts_every_scheme_without_the_data_present():
    for source in ("builtin:digits", "builtin:mnist5k", "folder:nope", "npz:nope.npz", "tfrecord:nope/*.tfr",
                   "tfds:mnist", "tfds:mnist:test[:10%]"):
        assert DatasetConfig(source).source == source


def test_config_stores_class_names_from_a_list_as_a_tuple():
    config = DatasetConfig("npz:a.npz", class_names=["zero", "one"])
    assert config.class_names == ("zero", "one")


def test_resolved_makes_relative_paths_absolute(tmp_path):
    base = tmp_path / "configs"
    assert DatasetConfig("folder:data/imgs").resolved(base).source == f"folder:{base / 'data' / 'imgs'}"
    assert DatasetConfig("tfrecord:recs/*.tfrecord").resolved(base).source == f"tfrecord:{base / 'recs' / '*.tfrecord'}"
    assert DatasetConfig("npz:/abs/x.npz").resolved(base).source == "npz:/abs/x.npz"
    assert DatasetConfig("builtin:digits").resolved(base).source == "builtin:digits"
    tfds_config = DatasetConfig("tfds:mnist", tfds_data_dir="tfds_data").resolved(base)
    assert (tfds_config.source, tfds_config.tfds_data_dir) == ("tfds:mnist", str(base / "tfds_data"))


def test_missing_paths_raise_at_load_time_not_at_validation(tmp_path):
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_file.npz").write_bytes(b"")
    cases = [
        (DatasetConfig(f"folder:{tmp_path / 'missing'}"), f"dataset.source: path does not exist: {tmp_path / 'missing'}"),
        (DatasetConfig(f"folder:{tmp_path / 'a_file.npz'}"), "is not a folder"),
        (DatasetConfig(f"npz:{tmp_path / 'missing.npz'}"), "dataset.source: path does not exist:"),
        (DatasetConfig(f"npz:{tmp_path / 'a_dir'}"), "is not a file"),
        (DatasetConfig(f"tfrecord:{tmp_path / '*.tfrecord'}"), "dataset.source: path does not exist: no file matches"),
        (DatasetConfig(f"tfrecord:{tmp_path / 'a_dir'}"), "is a folder; tfrecord: expects a file or a glob"),
        (DatasetConfig("tfds:mnist", tfds_data_dir=str(tmp_path / "nope")), "dataset.tfds_data_dir: path does not exist"),
    ]
    for config, fragment in cases:
        with pytest.raises(ConfigError) as raised:
            load_dataset(config)
        assert fragment in str(raised.value)


# ------------------------------------------------------------------------------------------
# Dataset invariants


def test_dataset_rejects_non_canonical_arrays():
    frames = np.zeros((3, 4, 4, 1), np.uint8)
    labels = np.array([0, 1, 0], np.int64)
    with pytest.raises(DataError, match="Dataset.frames: got float32 array"):
        Dataset(frames.astype(np.float32), labels, ("a", "b"), "t")
    with pytest.raises(DataError, match=r"Dataset.frames: got uint8 array of shape \(3, 4, 4, 2\)"):
        Dataset(np.zeros((3, 4, 4, 2), np.uint8), labels, ("a", "b"), "t")
    with pytest.raises(DataError, match="Dataset.labels: got int32 array"):
        Dataset(frames, labels.astype(np.int32), ("a", "b"), "t")
    with pytest.raises(DataError, match=r"expected an int64 array of shape \(3,\)"):
        Dataset(frames, labels[:2], ("a", "b"), "t")
    with pytest.raises(DataError, match=r"Dataset.labels\[1\]: 1 is out of range; expected 0..0"):
        Dataset(frames, labels, ("a",), "t")
    with pytest.raises(DataError, match="Dataset.class_names"):
        Dataset(frames, labels, ["a", "b"], "t")


def test_dataset_properties():
    dataset = _toy_dataset([3, 4], shape=(5, 6, 3))
    assert (len(dataset), dataset.num_classes, dataset.frame_shape) == (7, 2, (5, 6, 3))


# ------------------------------------------------------------------------------------------
# Builtin sources


def test_builtin_digits(digits):
    from sklearn.datasets import load_digits

    reference = load_digits()
    assert digits.frames.shape == (1797, 8, 8, 1) and digits.frames.dtype == np.uint8
    assert digits.labels.dtype == np.int64 and np.array_equal(digits.labels, reference.target)
    assert digits.class_names == tuple("0123456789") and digits.source == "builtin:digits"
    # round(v * 255 / 16) for v = 0..16, by hand: 8 -> 127.5 -> 128, 9 -> 143.4 -> 143, 16 -> 255.
    assert sorted(np.unique(digits.frames).tolist()) == [
        0, 16, 32, 48, 64, 80, 96, 112, 128, 143, 159, 175, 191, 207, 223, 239, 255
    ]
    # The mapping is monotonic and per pixel: every ink count maps to exactly one pixel value.
    for count in range(17):
        assert len(np.unique(digits.frames[..., 0][reference.images == count])) == 1
    # load_digits is nearly balanced: 174..183 examples per class.
    assert np.bincount(digits.labels).min() >= 174 and np.bincount(digits.labels).max() <= 183


def test_builtin_resize_and_channels(digits):
    resized = load_dataset(DatasetConfig("builtin:digits", image_size=16, channels=3))
    assert resized.frames.shape == (1797, 16, 16, 3)
    # Gray to RGB replicates the gray value into all three channels.
    assert np.array_equal(resized.frames[..., 0], resized.frames[..., 1])
    assert np.array_equal(resized.frames[..., 0], resized.frames[..., 2])
    # Bilinear upsampling keeps the overall brightness of each digit (within 3 pixel units).
    difference = resized.frames[..., 0].mean(axis=(1, 2)) - digits.frames[..., 0].mean(axis=(1, 2))
    assert np.abs(difference).max() < 3
    assert np.array_equal(resized.labels, digits.labels)


# ------------------------------------------------------------------------------------------
# Folder source


def _gray_folder(root: Path) -> dict[str, list[np.ndarray]]:
    """Three classes of 6x5 grayscale PNGs plus files and folders the loader must ignore."""
    rng = np.random.default_rng(7)
    written: dict[str, list[np.ndarray]] = {}
    for name, count in (("emu", 3), ("cat", 2), ("dog", 4)):  # written unsorted on purpose
        folder = root / name
        folder.mkdir(parents=True)
        written[name] = []
        for index in range(count):
            pixels = rng.integers(0, 256, (6, 5), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{index:03d}.png")
            written[name].append(pixels)
        (folder / "notes.txt").write_text("not an image")
        (folder / ".DS_Store").write_bytes(b"\0\1")
    (root / ".cache").mkdir()
    (root / "README.md").write_text("top-level files are not classes")
    return written


def test_folder_grayscale_png(tmp_path):
    written = _gray_folder(tmp_path / "imgs")
    dataset = load_dataset(DatasetConfig(f"folder:{tmp_path / 'imgs'}"))
    assert dataset.class_names == ("cat", "dog", "emu")
    assert dataset.labels.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2]
    expected = np.stack([p for name in ("cat", "dog", "emu") for p in written[name]])[..., np.newaxis]
    assert dataset.frames.dtype == np.uint8 and np.array_equal(dataset.frames, expected)  # PNG is lossless


def test_folder_rgb_jpeg_resized(tmp_path):
    colours = {"blue": (0, 0, 255), "red": (255, 0, 0)}
    for name, colour in colours.items():
        (tmp_path / name).mkdir()
        for index, size in enumerate([(20, 12), (9, 31)]):  # different sizes: image_size unifies them
            Image.new("RGB", size, colour).save(tmp_path / name / f"{index}.JPG", quality=95)
    dataset = load_dataset(DatasetConfig(f"folder:{tmp_path}", image_size=8))
    assert dataset.frames.shape == (4, 8, 8, 3) and dataset.class_names == ("blue", "red")
    # A solid colour stays that colour through JPEG and bilinear resizing (JPEG error < 8 units).
    for frame, label in zip(dataset.frames, dataset.labels):
        target = np.array(colours[dataset.class_names[label]])
        assert np.abs(frame.reshape(-1, 3).astype(int) - target).max() < 8


def test_folder_resize_is_bilinear(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.array([[0, 255], [0, 255]], np.uint8)).save(tmp_path / name / "ramp.png")
    dataset = load_dataset(DatasetConfig(f"folder:{tmp_path}", image_size=4))
    # Upscaling 2 -> 4 puts output centres at 0.25, 0.75, 1.25, 1.75 input pixels; the triangle
    # filter then weighs the two inputs (centres 0.5, 1.5) as 1:0, 3:1, 1:3, 0:1, by hand
    # 0, 63.75, 191.25, 255 -> 0, 64, 191, 255 (nearest-neighbour would give 0, 0, 255, 255).
    assert dataset.frames[0, :, :, 0].tolist() == [[0, 64, 191, 255]] * 4


def test_folder_mixed_gray_and_rgb_infers_three_channels(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.new("L", (4, 4), 77).save(tmp_path / "a" / "gray.png")
    Image.new("RGB", (4, 4), (10, 20, 30)).save(tmp_path / "b" / "rgb.png")
    dataset = load_dataset(DatasetConfig(f"folder:{tmp_path}"))
    assert dataset.frames.shape == (2, 4, 4, 3)
    assert dataset.frames[0].reshape(-1, 3).tolist() == [[77, 77, 77]] * 16
    assert dataset.frames[1].reshape(-1, 3).tolist() == [[10, 20, 30]] * 16


def test_folder_channels_1_converts_colour_to_luma(tmp_path):
    for name, colour in (("r", (255, 0, 0)), ("g", (0, 255, 0))):
        (tmp_path / name).mkdir()
        Image.new("RGB", (3, 3), colour).save(tmp_path / name / "x.png")
    dataset = load_dataset(DatasetConfig(f"folder:{tmp_path}", channels=1))
    # ITU-R 601-2 luma, by hand: 0.587 * 255 = 149.7 -> 150 (green), 0.299 * 255 = 76.2 -> 76 (red).
    assert dataset.class_names == ("g", "r")
    assert dataset.frames.shape == (2, 3, 3, 1)
    assert np.unique(dataset.frames[0]).tolist() == [150] and np.unique(dataset.frames[1]).tolist() == [76]


def test_folder_frames_of_different_sizes_need_image_size(tmp_path):
    for name, size in (("a", (4, 4)), ("b", (5, 4))):
        (tmp_path / name).mkdir()
        Image.new("L", size).save(tmp_path / name / "x.png")
    with pytest.raises(DataError) as raised:
        load_dataset(DatasetConfig(f"folder:{tmp_path}"))
    message = str(raised.value)
    assert str(tmp_path / "b" / "x.png") in message and "5x4" in message and "4x4" in message
    assert "dataset.image_size" in message


def test_folder_errors(tmp_path):
    empty_root = tmp_path / "empty_root"
    empty_root.mkdir()
    (empty_root / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="no class sub-folders"):
        load_dataset(DatasetConfig(f"folder:{empty_root}"))

    single = tmp_path / "single"
    (single / "only").mkdir(parents=True)
    Image.new("L", (4, 4)).save(single / "only" / "x.png")
    with pytest.raises(DataError, match="only one class sub-folder \\('only'\\)"):
        load_dataset(DatasetConfig(f"folder:{single}"))

    root = tmp_path / "root"
    _gray_folder(root)
    (root / "zebra").mkdir()
    (root / "zebra" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError) as raised:
        load_dataset(DatasetConfig(f"folder:{root}"))
    assert f"{root / 'zebra'}: class folder 'zebra' holds no image files" in str(raised.value)


@pytest.mark.parametrize(
    ("content", "mode"),
    [
        (b"definitely not a png" * 4, None),
        ("truncated", None),
        ("sixteen_bit", "I;16"),
    ],
)
def test_folder_undecodable_image_names_the_file(tmp_path, content, mode):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("L", (8, 8), 5).save(tmp_path / name / "good.png")
    bad = tmp_path / "b" / "bad.png"
    if content == "truncated":
        noisy = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
        bad.write_bytes(_png_bytes(noisy)[:600])
    elif content == "sixteen_bit":
        Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(bad)
    else:
        bad.write_bytes(content)
    with pytest.raises(DataError) as raised:
        load_dataset(DatasetConfig(f"folder:{tmp_path}"))
    message = str(raised.value)
    assert message.startswith(f"{bad}: ")
    assert (f"image mode {mode!r} is not supported" if mode else "cannot decode image") in message


# ------------------------------------------------------------------------------------------
# npz source


def test_npz_uint8_three_and_four_dimensional(tmp_path):
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (6, 7, 5), dtype=np.uint8)
    np.savez(tmp_path / "gray.npz", x=gray, y=np.array([0, 1, 2, 0, 1, 2]))
    dataset = load_dataset(DatasetConfig(f"npz:{tmp_path / 'gray.npz'}"))
    assert np.array_equal(dataset.frames, gray[..., np.newaxis]) and dataset.class_names == ("0", "1", "2")
    assert dataset.labels.dtype == np.int64 and dataset.labels.tolist() == [0, 1, 2, 0, 1, 2]

    rgb = rng.integers(0, 256, (4, 3, 3, 3), dtype=np.uint8)
    np.savez(tmp_path / "rgb.npz", images=rgb, targets=np.array([[1], [0], [1], [0]], np.int32))
    config = DatasetConfig(
        f"npz:{tmp_path / 'rgb.npz'}", npz_x_key="images", npz_y_key="targets", class_names=("no", "yes")
    )
    dataset = load_dataset(config)
    assert np.array_equal(dataset.frames, rgb) and dataset.class_names == ("no", "yes")
    assert dataset.labels.tolist() == [1, 0, 1, 0]


def test_npz_float_pixels_are_scaled_or_rounded(tmp_path):
    # [0, 1] floats are scaled by 255, by hand: 0.5 -> 127.5 -> 128 (round half to even), 0.2 -> 51.
    unit = np.array([0.0, 0.5, 1.0, 0.2], np.float32).reshape(4, 1, 1)
    np.savez(tmp_path / "unit.npz", x=unit, y=np.array([0.0, 1.0, 0.0, 1.0]))
    dataset = load_dataset(DatasetConfig(f"npz:{tmp_path / 'unit.npz'}"))
    assert dataset.frames.ravel().tolist() == [0, 128, 255, 51]
    assert dataset.labels.tolist() == [0, 1, 0, 1]
    # [0, 255] floats are rounded: 3.4 -> 3, 200.6 -> 201.
    pixels = np.array([3.4, 200.6, 255.0, 1.5], np.float64).reshape(4, 1, 1, 1)
    np.savez(tmp_path / "pixels.npz", x=pixels, y=np.array([1, 0, 1, 0]))
    assert load_dataset(DatasetConfig(f"npz:{tmp_path / 'pixels.npz'}")).frames.ravel().tolist() == [3, 201, 255, 2]
    # Wider integer types within 0..255 are kept exactly.
    np.savez(tmp_path / "ints.npz", x=np.array([0, 255, 17, 9], np.int64).reshape(4, 1, 1), y=np.array([1, 0, 1, 0]))
    assert load_dataset(DatasetConfig(f"npz:{tmp_path / 'ints.npz'}")).frames.ravel().tolist() == [0, 255, 17, 9]


def test_npz_conversion_to_three_channels_and_resizing(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.full((2, 4, 4), 90, np.uint8), y=np.array([0, 1]))
    dataset = load_dataset(DatasetConfig(f"npz:{tmp_path / 'd.npz'}", channels=3, image_size=6))
    assert dataset.frames.shape == (2, 6, 6, 3) and np.unique(dataset.frames).tolist() == [90]


@pytest.mark.parametrize(
    ("arrays", "kwargs", "fragments"),
    [
        ({"x": np.zeros((5, 4, 4), np.uint8), "y": np.zeros(4)}, {}, ["x has 5 examples but y has 4 labels"]),
        ({"images": np.zeros((2, 4, 4)), "y": np.zeros(2)}, {}, ["no array named 'x' (dataset.npz_x_key)",
                                                                  "arrays present: ['images', 'y']"]),
        ({"x": np.zeros((2, 4, 4)), "y": np.zeros(2)}, {"npz_y_key": "labels"},
         ["no array named 'labels' (dataset.npz_y_key)", "arrays present: ['x', 'y']"]),
        ({"x": np.zeros((5, 16), np.uint8), "y": np.zeros(5)}, {}, ["x has shape (5, 16)", "expected (N, H, W)"]),
        ({"x": np.zeros((5, 4, 4, 2), np.uint8), "y": np.zeros(5)}, {}, ["x has shape (5, 4, 4, 2)"]),
        ({"x": np.linspace(-1, 2, 32).reshape(2, 4, 4), "y": np.array([0, 1])}, {},
         ["x values range from -1.0 to 2.0", "expected pixels in [0, 1] or [0, 255]"]),
        ({"x": np.full((2, 2, 2), 300, np.int32), "y": np.array([0, 1])}, {}, ["x values range from 300 to 300"]),
        ({"x": np.array([0.1, 0.2, np.nan, 0.3]).reshape(4, 1, 1), "y": np.array([0, 1, 0, 1])}, {},
         ["x[2] holds NaN or infinite values"]),
        ({"x": np.zeros((4, 2, 2), np.uint8), "y": np.array([0, 1, 0, -1])}, {},
         ["index 3: label -1 is negative; expected a class index >= 0"]),
        ({"x": np.zeros((4, 2, 2), np.uint8), "y": np.array([0, 1, 3, 2])}, {"class_names": ("a", "b", "c")},
         ["index 2: label 3 is out of range; expected 0..2 (dataset.class_names has 3 names)"]),
        ({"x": np.zeros((3, 2, 2), np.uint8), "y": np.array([0.0, 1.5, 1.0])}, {},
         ["y[1] is 1.5; expected whole-number class indices"]),
        ({"x": np.zeros((3, 2, 2), np.uint8), "y": np.eye(3)}, {}, ["y has shape (3, 3)", "y.argmax(axis=1)"]),
        ({"x": np.zeros((3, 2, 2), np.uint8), "y": np.zeros(3, np.int64)}, {}, ["every label is 0"]),
        ({"x": np.zeros((0, 2, 2), np.uint8), "y": np.zeros(0)}, {}, ["x and y are empty"]),
    ],
)
def test_npz_errors(tmp_path, arrays, kwargs, fragments):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as raised:
        load_dataset(DatasetConfig(f"npz:{path}", **kwargs))
    message = str(raised.value)
    assert message.startswith(str(path)) or message.startswith(f"npz:{path}")
    for fragment in fragments:
        assert fragment in message


def test_npz_unreadable_files(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(DataError, match=f"{garbage}: cannot read as a .npz archive"):
        load_dataset(DatasetConfig(f"npz:{garbage}"))
    single = tmp_path / "single.npz"
    with single.open("wb") as stream:
        np.save(stream, np.zeros((2, 2)))
    with pytest.raises(DataError, match=f"{single}: holds a single array"):
        load_dataset(DatasetConfig(f"npz:{single}"))


# ------------------------------------------------------------------------------------------
# Split


def test_split_is_deterministic_per_seed(digits):
    first = split_dataset(digits, val_fraction=0.2, test_fraction=0.2, seed=5)
    again = split_dataset(digits, val_fraction=0.2, test_fraction=0.2, seed=5)
    other = split_dataset(digits, val_fraction=0.2, test_fraction=0.2, seed=6)
    for name in ("train", "val", "test"):
        assert np.array_equal(first.indices[name], again.indices[name])
        assert not np.array_equal(first.indices[name], other.indices[name])
    assert first.seed == 5 and other.seed == 6


@pytest.mark.parametrize(("val_fraction", "test_fraction", "seed"), [(0.2, 0.2, 0), (0.1, 0.3, 1), (0.25, 0.15, 2)])
def test_split_is_stratified_disjoint_and_complete(digits, val_fraction, test_fraction, seed):
    splits = split_dataset(digits, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    everything = np.concatenate([splits.indices[name] for name in ("train", "val", "test")])
    assert np.array_equal(np.sort(everything), np.arange(len(digits)))  # no overlap, full coverage
    assert splits.sizes() == {name: len(splits.indices[name]) for name in ("train", "val", "test")}
    per_class = np.bincount(digits.labels)
    # val and test come out of one stratified draw each, so every class is within 1 example of its
    # share; train is what remains after both draws and carries both roundings (within 2).
    for name, share, tolerance in (("val", val_fraction, 1), ("test", test_fraction, 1),
                                   ("train", 1 - val_fraction - test_fraction, 2)):
        subset = getattr(splits, name)
        assert np.array_equal(subset.frames, digits.frames[splits.indices[name]])
        assert np.array_equal(subset.labels, digits.labels[splits.indices[name]])
        counts = np.bincount(subset.labels, minlength=10)
        assert np.abs(counts - per_class * share).max() <= tolerance, (name, counts, per_class * share)


def test_split_names_a_class_with_too_few_examples():
    with pytest.raises(DataError, match=r"class 'rare' \(label 2\) has 2 example\(s\); .* at least 3 per class"):
        split_dataset(_toy_dataset([10, 10, 2], ("common", "usual", "rare")), val_fraction=0.2, test_fraction=0.2,
                      seed=0)
    # A class without any example (a model output the data does not cover) takes no part.
    splits = split_dataset(_toy_dataset([10, 0, 10], ("a", "b", "c")), val_fraction=0.2, test_fraction=0.2, seed=0)
    assert splits.method == "stratified" and sum(splits.sizes().values()) == 20


def test_split_too_small_for_the_fractions():
    # 3 classes of 3: a 0.1 test split is 1 example, fewer than the 3 classes it must stratify.
    with pytest.raises(DataError, match="cannot take a stratified test split of 0.1 from 9 examples of 3 classes"):
        split_dataset(_toy_dataset([3, 3, 3]), val_fraction=0.1, test_fraction=0.1, seed=0)


def test_split_validates_fractions(digits):
    with pytest.raises(ConfigError, match=r"dataset.test_fraction is 0; expected a finite number in \(0, 1\)"):
        split_dataset(digits, val_fraction=0.2, test_fraction=0, seed=0)


# ------------------------------------------------------------------------------------------
# Fingerprint


def test_fingerprint_depends_on_data_not_on_source(tmp_path, digits):
    value = fingerprint(digits)
    assert value.startswith("sha256:") and len(value) == len("sha256:") + 64
    copy = Dataset(digits.frames.copy(), digits.labels.copy(), digits.class_names, "npz:/elsewhere/digits.npz")
    assert fingerprint(copy) == value
    # The same pixels through two different real loaders give the same fingerprint.
    frames = digits.frames[:12]
    for index, (frame, label) in enumerate(zip(frames, digits.labels[:12])):
        folder = tmp_path / "imgs" / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame[..., 0]).save(folder / f"{index:02d}.png")
    from_folder = load_dataset(DatasetConfig(f"folder:{tmp_path / 'imgs'}"))
    np.savez(tmp_path / "same.npz", x=from_folder.frames, y=from_folder.labels)
    from_npz = load_dataset(
        DatasetConfig(f"npz:{tmp_path / 'same.npz'}", class_names=from_folder.class_names)
    )
    assert from_npz.source != from_folder.source and fingerprint(from_npz) == fingerprint(from_folder)


def test_fingerprint_changes_with_any_pixel_label_name_or_shape(digits):
    value = fingerprint(digits)
    pixel = digits.frames.copy()
    pixel[1796, 7, 7, 0] ^= 1
    label = digits.labels.copy()
    label[0] = (label[0] + 1) % 10
    renamed = ("zero", *digits.class_names[1:])
    reshaped = digits.frames.reshape(1797, 4, 16, 1)  # same bytes, different shape
    variants = [
        Dataset(pixel, digits.labels, digits.class_names, "x"),
        Dataset(digits.frames, label, digits.class_names, "x"),
        Dataset(digits.frames, digits.labels, renamed, "x"),
        Dataset(reshaped, digits.labels, digits.class_names, "x"),
    ]
    fingerprints = {fingerprint(variant) for variant in variants}
    assert len(fingerprints) == 4 and value not in fingerprints


# ------------------------------------------------------------------------------------------
# Split artifact


@pytest.fixture()
def saved(tmp_path, digits) -> tuple[Splits, Path, str]:
    splits = split_dataset(digits, val_fraction=0.2, test_fraction=0.2, seed=3)
    digest = fingerprint(digits)
    directory = save_splits(splits, tmp_path / "data", fingerprint=digest)
    return splits, directory, digest


def test_save_and_load_round_trip(saved, digits):
    splits, directory, digest = saved
    assert directory == saved[1] and sorted(p.name for p in directory.iterdir()) == [
        "splits.json", "test.npz", "train.npz", "val.npz"
    ]
    manifest = json.loads((directory / "splits.json").read_text())
    assert manifest["fingerprint"] == digest and manifest["seed"] == 3
    assert manifest["class_names"] == list(digits.class_names) and manifest["source"] == "builtin:digits"
    assert manifest["sizes"] == splits.sizes() and manifest["frame_shape"] == [8, 8, 1]
    for name in ("train", "val", "test"):
        assert manifest["sha256"][f"{name}.npz"] == hashlib.sha256((directory / f"{name}.npz").read_bytes()).hexdigest()
        with np.load(directory / f"{name}.npz") as archive:  # plain npz, readable without mmnet
            assert np.array_equal(archive["frames"], getattr(splits, name).frames)
            assert np.array_equal(archive["labels"], getattr(splits, name).labels)
    loaded = load_splits(directory)
    assert loaded.seed == 3 and loaded.sizes() == splits.sizes()
    for name in ("train", "val", "test"):
        original, restored = getattr(splits, name), getattr(loaded, name)
        assert np.array_equal(restored.frames, original.frames) and np.array_equal(restored.labels, original.labels)
        assert restored.class_names == digits.class_names and restored.source == "builtin:digits"
        assert np.array_equal(loaded.indices[name], splits.indices[name])


def test_saved_artifact_is_byte_reproducible(saved, tmp_path):
    splits, directory, digest = saved
    again = save_splits(splits, tmp_path / "again", fingerprint=digest)
    for name in ("train.npz", "val.npz", "test.npz", "splits.json"):
        assert (again / name).read_bytes() == (directory / name).read_bytes()


def test_load_detects_a_tampered_file(saved):
    _, directory, _ = saved
    path = directory / "val.npz"
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(DataError, match=f"{path}: sha256 is [0-9a-f]{{64}} but .*splits.json records"):
        load_splits(directory)


def test_load_detects_rewritten_data_even_with_a_matching_checksum(saved):
    # Someone rewrote test.npz with other labels and "fixed" its checksum: the fingerprint catches it.
    _, directory, digest = saved
    path = directory / "test.npz"
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["labels"] = (arrays["labels"] + 1) % 10
    np.savez(path, **arrays)
    manifest_path = directory / "splits.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"]["test.npz"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=f"fingerprint is {digest} but the split files hold data with fingerprint"):
        load_splits(directory)


def test_load_reports_missing_or_foreign_artifacts(saved, tmp_path):
    _, directory, _ = saved
    with pytest.raises(DataError, match=f"{tmp_path / 'nothing' / 'splits.json'}: not found"):
        load_splits(tmp_path / "nothing")
    (directory / "test.npz").unlink()
    with pytest.raises(DataError, match=f"{directory / 'test.npz'}: missing"):
        load_splits(directory)
    (directory / "splits.json").write_text(json.dumps({"artifact": "something.else"}))
    with pytest.raises(DataError, match="artifact is 'something.else'; expected 'mmnet.splits'"):
        load_splits(directory)


def test_save_rejects_a_fingerprint_of_other_data(digits, tmp_path):
    splits = split_dataset(digits, val_fraction=0.2, test_fraction=0.2, seed=0)
    other = fingerprint(_toy_dataset([3, 3]))
    with pytest.raises(DataError, match="does not match the data in these splits"):
        save_splits(splits, tmp_path / "out", fingerprint=other)
    with pytest.raises(DataError, match="expected 'sha256:' and 64 hex digits"):
        save_splits(splits, tmp_path / "out", fingerprint="md5:abc")
    assert not (tmp_path / "out").exists()
