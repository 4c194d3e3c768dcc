"""Bring-your-own models without training: sparse splits, no train split, label maps, photo folders.

All data is real files written into tmp_path (JPEG/PNG photos, names files); no model runs here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mmnet.format.errors import ConfigError, DataError
from mmnet.pipeline.config import config_from_mapping
from mmnet.pipeline.datasets.config import DatasetConfig, expand_variables
from mmnet.pipeline.datasets.dataset import Dataset, fingerprint
from mmnet.pipeline.datasets.loaders import load_dataset, map_to_outputs
from mmnet.pipeline.datasets.split import split_dataset
from mmnet.pipeline.datasets.store import load_splits, save_splits
from mmnet.pipeline.prepare import preprocessing_from_train


def _dataset(counts: list[int], names: tuple[str, ...] | None = None) -> Dataset:
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    frames = np.random.default_rng(1).integers(0, 256, (len(labels), 4, 4, 3), dtype=np.uint8)
    return Dataset(frames, labels, names or tuple(f"c{i}" for i in range(len(counts))), "toy")


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------
# Splits


def test_one_example_per_class_falls_back_to_a_seeded_random_split():
    sparse = _dataset([1] * 40)  # the ImageNet sample: one photo per class
    splits = split_dataset(sparse, val_fraction=0.5, test_fraction=0.5, seed=3, method="auto", train=False)
    assert splits.method == "random"
    assert splits.sizes() == {"train": 0, "val": 20, "test": 20}
    everything = np.sort(np.concatenate([splits.indices[name] for name in ("train", "val", "test")]))
    assert np.array_equal(everything, np.arange(40))
    again = split_dataset(sparse, val_fraction=0.5, test_fraction=0.5, seed=3, method="auto", train=False)
    other = split_dataset(sparse, val_fraction=0.5, test_fraction=0.5, seed=4, method="auto", train=False)
    assert np.array_equal(splits.indices["test"], again.indices["test"])
    assert not np.array_equal(splits.indices["test"], other.indices["test"])


def test_auto_stratifies_when_every_class_has_enough_and_ignores_empty_classes():
    # Class 0 has no example (ImageNet's "background" output): it takes no part.
    splits = split_dataset(_dataset([0, 10, 10, 10]), val_fraction=0.4, test_fraction=0.6, seed=0, method="auto",
                           train=False)
    assert splits.method == "stratified"
    assert np.array_equal(np.bincount(splits.test.labels, minlength=4), [0, 6, 6, 6])
    assert np.array_equal(np.bincount(splits.val.labels, minlength=4), [0, 4, 4, 4])


def test_auto_with_training_keeps_a_train_split():
    splits = split_dataset(_dataset([10, 10]), val_fraction=0.2, test_fraction=0.2, seed=0, method="auto")
    assert splits.method == "stratified" and splits.sizes() == {"train": 12, "val": 4, "test": 4}
    random = split_dataset(_dataset([10, 1]), val_fraction=0.2, test_fraction=0.2, seed=0, method="auto")
    assert random.method == "random" and random.sizes() == {"train": 7, "val": 2, "test": 2}


def test_forced_stratified_split_names_the_sparse_class_and_the_way_out():
    with pytest.raises(DataError, match=r"class 'c1' \(label 1\) has 1 example\(s\); a stratified val/test split "
                                        r"needs at least 2 per class \(dataset.split: auto or random"):
        split_dataset(_dataset([5, 1]), val_fraction=0.5, test_fraction=0.5, seed=0, method="stratified", train=False)


def test_split_artifact_keeps_the_method_and_an_empty_train_split(tmp_path):
    dataset = _dataset([1] * 10)
    splits = split_dataset(dataset, val_fraction=0.5, test_fraction=0.5, seed=0, method="auto", train=False)
    save_splits(splits, tmp_path / "data", fingerprint=fingerprint(dataset))
    loaded = load_splits(tmp_path / "data")
    assert loaded.method == "random" and len(loaded.train) == 0 and loaded.train.frame_shape == (4, 4, 3)
    assert json.loads((tmp_path / "data" / "splits.json").read_text())["method"] == "random"


def test_no_train_split_needs_fixed_preprocessing():
    splits = split_dataset(_dataset([1] * 10), val_fraction=0.5, test_fraction=0.5, seed=0, method="auto", train=False)
    config = config_from_mapping(_imported_only())
    with pytest.raises(ConfigError, match="preprocessing.mean is None; expected the mean and std the imported models"):
        preprocessing_from_train(splits, config)
    fixed = config_from_mapping({**_imported_only(), "preprocessing": {"mean": [128] * 3, "std": [128] * 3}})
    assert preprocessing_from_train(splits, fixed).mean == (128.0, 128.0, 128.0)


# ------------------------------------------------------------------------------------------
# What trains, and config checks


def _imported_only(**dataset) -> dict:
    return {
        "name": "byo",
        "dataset": {"source": "npz:x.npz", **dataset},
        "master": {"import": "master.tflite"},
        "minions": {"families": [], "imported": [{"path": "a.tflite", "name": "a"}]},
    }


def test_all_data_may_go_to_val_and_test_when_nothing_trains():
    config = config_from_mapping(_imported_only(val_fraction=0.5, test_fraction=0.5))
    assert not config.trains
    training = {**_imported_only(val_fraction=0.5, test_fraction=0.5), "minions": {"families": ["mobilenet_v1"],
                                                                                     "alphas": [0.25],
                                                                                     "resolutions": [8]}}
    with pytest.raises(ConfigError, match="dataset.val_fraction \\+ dataset.test_fraction is 1.0; expected a sum "
                                          "below 1 so that training data is left"):
        config_from_mapping(training)


def test_unlabeled_photos_need_the_master_as_reference():
    mapping = {**_imported_only(), "dataset": {"source": "photos:pics"}}
    with pytest.raises(ConfigError, match="dataset.photo_labels is None; expected a class-names file: unlabeled "
                                          "photos need runtime.reference: master"):
        config_from_mapping(mapping)
    assert not config_from_mapping({**mapping, "runtime": {"reference": "master"}}).dataset.labeled


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"source": "npz:a.npz", "photo_labels": "wnids.txt"}, "dataset.photo_labels is 'wnids.txt'; expected None: only photos:"),
    ({"source": "npz:a.npz", "label_offset": 1}, "dataset.label_offset is 1; expected None unless dataset.output_labels"),
    ({"source": "npz:a.npz", "resize_policy": "stretch"},
     "dataset.resize_policy is 'stretch'; expected one of ['center_crop', 'squash']"),
    ({"source": "npz:a.npz", "split": "kfold"}, "dataset.split is 'kfold'; expected one of ['auto', 'stratified', 'random']"),
    ({"source": "photos:pics", "class_names": ("a", "b")}, "photos: through dataset.photo_labels"),
])
def test_dataset_config_rejects(kwargs, fragment):
    with pytest.raises(ConfigError) as raised:
        DatasetConfig(**kwargs)
    assert fragment in str(raised.value)


def test_paths_take_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("MMNET_TEST_DATA", str(tmp_path))
    monkeypatch.delenv("MMNET_TEST_UNSET", raising=False)
    assert expand_variables("f", "${MMNET_TEST_DATA}/a") == f"{tmp_path}/a"
    assert expand_variables("f", "${MMNET_TEST_UNSET:-../data}/a") == "../data/a"
    with pytest.raises(ConfigError, match=r"f: environment variable MMNET_TEST_UNSET in '\$\{MMNET_TEST_UNSET\}/a' is not set"):
        expand_variables("f", "${MMNET_TEST_UNSET}/a")
    config = config_from_mapping({**_imported_only(), "dataset": {"source": "npz:${MMNET_TEST_DATA}/x.npz"}},
                                 base_dir=tmp_path / "configs")
    assert config.dataset.source == f"npz:{tmp_path}/x.npz"


# ------------------------------------------------------------------------------------------
# Label maps


def test_offset_maps_classes_into_the_model_outputs(tmp_path):
    outputs = _write_lines(tmp_path / "labels.txt", ["background", "tench", "crane", "goldfish", "crane"])
    dataset = _dataset([2, 1, 1])
    mapped = map_to_outputs(dataset, DatasetConfig("npz:x.npz", output_labels=str(outputs), label_offset=1))
    assert np.array_equal(mapped.labels, dataset.labels + 1)
    assert mapped.class_names == ("background", "tench", "crane", "goldfish", "crane (output 4)")


def test_offset_beyond_the_outputs_is_an_error(tmp_path):
    outputs = _write_lines(tmp_path / "labels.txt", ["background", "a", "b"])
    with pytest.raises(DataError, match=r"dataset.label_offset: 3 classes \+ offset 1 need 4 outputs, but .* names 3"):
        map_to_outputs(_dataset([1, 1, 1]), DatasetConfig("npz:x.npz", output_labels=str(outputs), label_offset=1))


def test_names_match_outputs_or_their_first_synonym(tmp_path):
    outputs = _write_lines(tmp_path / "labels.txt", ["background", "tench, Tinca tinca", "goldfish, Carassius auratus"])
    dataset = _dataset([1, 2], ("goldfish", "tench, Tinca tinca"))
    mapped = map_to_outputs(dataset, DatasetConfig("npz:x.npz", output_labels=str(outputs)))
    assert mapped.labels.tolist() == [2, 1, 1]


def test_unmatched_names_are_listed_with_their_count(tmp_path):
    outputs = _write_lines(tmp_path / "labels.txt", ["background", "tench", "goldfish"])
    dataset = _dataset([1, 1, 1, 1, 1], ("tench", "cat", "dog", "emu", "yak"))
    with pytest.raises(DataError) as raised:
        map_to_outputs(dataset, DatasetConfig("npz:x.npz", output_labels=str(outputs)))
    message = str(raised.value)
    assert "4 of 5 dataset classes match no output name" in message
    assert "(e.g. 'cat', 'dog', 'emu')" in message and "yak" not in message
    assert "or set dataset.label_offset" in message


# ------------------------------------------------------------------------------------------
# Photo folders


def _photo(path, size, color=(0, 0, 200), band=None):
    """A photo of ``size`` (width, height); ``band`` paints the leftmost columns red."""
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[...] = color
    if band:
        pixels[:, :band] = (255, 0, 0)
    Image.fromarray(pixels).save(path, quality=95)
    return path


def test_photos_are_labeled_by_file_name_and_mapped_to_outputs(tmp_path):
    pics = tmp_path / "pics"
    pics.mkdir()
    _photo(pics / "n02_goldfish.JPEG", (300, 200))
    _photo(pics / "n01_tench.jpg", (120, 160))
    _photo(pics / "n01.png", (64, 64))
    (pics / "notes.txt").write_text("not a photo")
    wnids = _write_lines(tmp_path / "wnids.txt", ["n01", "n02"])
    outputs = _write_lines(tmp_path / "labels.txt", ["background", "tench", "goldfish"])
    dataset = load_dataset(DatasetConfig(f"photos:{pics}", photo_labels=str(wnids), output_labels=str(outputs),
                                         label_offset=1, image_size=32, resize_policy="center_crop"))
    assert dataset.frames.shape == (3, 32, 32, 3)
    assert dataset.labels.tolist() == [1, 1, 2]  # n01.png, n01_tench.jpg, n02_goldfish.JPEG
    assert dataset.class_names == ("background", "tench", "goldfish")


def test_a_photo_naming_no_class_is_an_error(tmp_path):
    pics = tmp_path / "pics"
    pics.mkdir()
    _photo(pics / "n01_a.jpg", (40, 40))
    _photo(pics / "zz_b.jpg", (40, 40))
    wnids = _write_lines(tmp_path / "wnids.txt", ["n01", "n02"])
    with pytest.raises(DataError, match=r"dataset.photo_labels: 1 of 2 photos name no class of .*wnids.txt "
                                        r"\(e.g. zz_b.jpg\); expected file names '<class>_anything.jpg'"):
        load_dataset(DatasetConfig(f"photos:{pics}", photo_labels=str(wnids), image_size=16))


def test_center_crop_keeps_the_centre_and_squash_keeps_everything(tmp_path):
    pics = tmp_path / "pics"
    pics.mkdir()
    # 400x200: the red band (60 columns) lies outside the central 200x200 square.
    _photo(pics / "a_wide.jpg", (400, 200), band=60)
    _photo(pics / "b_wide.jpg", (400, 200), band=60)
    wnids = _write_lines(tmp_path / "wnids.txt", ["a", "b"])
    frames = {policy: load_dataset(DatasetConfig(f"photos:{pics}", photo_labels=str(wnids), image_size=50,
                                                 resize_policy=policy)).frames
              for policy in ("center_crop", "squash")}
    assert frames["center_crop"][:, :, :3, 0].max() < 40  # no red at the left edge
    assert frames["squash"][:, :, :3, 0].min() > 200  # the band squashed into the left edge


def test_unlabeled_photos_take_the_labelers_answers(tmp_path):
    pics = tmp_path / "pics"
    pics.mkdir()
    for index in range(4):
        _photo(pics / f"{index}.jpg", (30 + index, 40), color=(60 * index, 0, 0))
    outputs = _write_lines(tmp_path / "labels.txt", ["background", "dark", "light"])

    def labeler(frames):  # a stand-in master: "light" when the red channel is bright
        scores = np.zeros((len(frames), 3), dtype=np.float32)
        scores[np.arange(len(frames)), 1 + (frames[..., 0].mean(axis=(1, 2)) > 100)] = 1.0
        return scores

    config = DatasetConfig(f"photos:{pics}", output_labels=str(outputs), image_size=16)
    dataset = load_dataset(config, labeler)
    assert dataset.labels.tolist() == [1, 1, 2, 2]
    assert dataset.class_names == ("background", "dark", "light")
    with pytest.raises(DataError, match="the photos are unlabeled .* and nothing labels them"):
        load_dataset(config)


def test_quantization_aware_fine_tuning_needs_something_that_trains():
    with pytest.raises(ConfigError, match="export.qat_epochs is 2; expected 0 when nothing trains"):
        config_from_mapping({**_imported_only(), "export": {"qat_epochs": 2}})
