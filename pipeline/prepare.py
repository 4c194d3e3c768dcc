"""Data stage: load the dataset, split it, fingerprint it and fix the preprocessing.

When nothing trains (only imported models) there is no train split, and the preprocessing must be
fixed in the config. Unlabeled photos are labeled here by the imported master's answers (the
reference of ``runtime.reference: master``).

Artifact on disk (``data/`` in the build's ``stages/prepare/<key>/`` cache entry): the split artifact
of :func:`mmnet.pipeline.datasets.store.save_splits` (``train.npz``, ``val.npz``, ``test.npz``,
``splits.json``) plus ``prepared.json`` (the :class:`PreparedData` record: fingerprint, sizes, class
names and the preprocessing spec).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mmnet.format.checks import fail
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.pipeline.config import BuildConfig
from mmnet.pipeline.datasets.dataset import Splits, fingerprint
from mmnet.pipeline.datasets.loaders import Labeler, load_dataset
from mmnet.pipeline.datasets.split import split_dataset
from mmnet.pipeline.datasets.store import load_splits, save_splits

__all__ = ["PreparedData", "prepare_data", "preprocessing_from_train", "load_prepared_splits"]

# A channel whose pixels barely vary would blow its normalised values up; 1 pixel unit is the floor.
_MIN_STD = 1.0


@dataclass(frozen=True)
class PreparedData:
    directory: str
    source: str
    fingerprint: str
    sizes: dict
    seed: int
    class_names: tuple[str, ...]
    frame_shape: tuple[int, int, int]
    preprocessing: dict  # PreprocessingSpec.to_json()
    split_method: str = "stratified"  # "stratified" or "random" (sparse classes)
    labels_from: str = "dataset"  # "dataset", or "master": the imported master's answers label unlabeled photos

    def spec(self) -> PreprocessingSpec:
        return PreprocessingSpec.from_json(self.preprocessing)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> PreparedData:
        return cls(**{**data, "class_names": tuple(data["class_names"]), "frame_shape": tuple(data["frame_shape"])})


def preprocessing_from_train(splits: Splits, config: BuildConfig) -> PreprocessingSpec:
    """Per-channel mean/std of the train frames (pixel units), unless the config fixes them."""
    override = config.preprocessing
    frame_shape = tuple(int(d) for d in splits.train.frame_shape)
    if override.mean is not None:
        mean, std = tuple(override.mean), tuple(override.std)
    elif len(splits.train) == 0:
        raise fail("preprocessing.mean", None, "the mean and std the imported models were trained with "
                   "(preprocessing: {mean: [...], std: [...]}): nothing trains here, so there is no train split to "
                   "measure them on")
    else:
        pixels = splits.train.frames.reshape(-1, frame_shape[2]).astype(np.float64)
        mean = tuple(float(round(m, 4)) for m in pixels.mean(axis=0))
        std = tuple(float(round(max(s, _MIN_STD), 4)) for s in pixels.std(axis=0))
    return PreprocessingSpec(frame_shape=frame_shape, mean=mean, std=std, resize_method=override.resize_method,
                             resize_policy=config.dataset.resize_policy)


def _fixed_preprocessing(config: BuildConfig, frame_shape: tuple[int, int, int]) -> PreprocessingSpec:
    override = config.preprocessing
    if override.mean is None:
        raise fail("preprocessing.mean", None, "the mean and std the imported master was trained with: "
                   "unlabeled photos are labeled by its answers before any statistics exist")
    return PreprocessingSpec(frame_shape=frame_shape, mean=tuple(override.mean), std=tuple(override.std),
                             resize_method=override.resize_method, resize_policy=config.dataset.resize_policy)


def master_labeler(config: BuildConfig) -> Labeler:
    """The imported master's scores on frames: what labels unlabeled photos."""
    def label(frames: np.ndarray) -> np.ndarray:
        from mmnet.runtime.interpreter import TFLiteClassifier
        from mmnet.runtime.preprocessing import preprocess

        spec = _fixed_preprocessing(config, tuple(int(d) for d in frames.shape[1:]))
        path = str(config.master.import_path)
        if path.endswith(".tflite"):
            model = TFLiteClassifier(path)
            return model.predict(preprocess(frames, spec, model.input_shape[0]))
        from mmnet.pipeline.train import load_keras_model

        keras_model = load_keras_model(path)
        return keras_model.predict(preprocess(frames, spec, int(keras_model.input_shape[1])), verbose=0)
    return label


def prepare_data(config: BuildConfig, work_dir: Path) -> PreparedData:
    labeled = config.dataset.labeled
    dataset = load_dataset(config.dataset, None if labeled else master_labeler(config))
    splits = split_dataset(
        dataset,
        val_fraction=config.dataset.val_fraction,
        test_fraction=config.dataset.test_fraction,
        seed=config.dataset.seed,
        method=config.dataset.split,
        train=config.trains,
    )
    digest = fingerprint(dataset)
    directory = work_dir / "data"
    save_splits(splits, directory, fingerprint=digest)
    prepared = PreparedData(
        directory=str(directory),
        source=dataset.source,
        fingerprint=digest,
        sizes=splits.sizes(),
        seed=config.dataset.seed,
        class_names=tuple(dataset.class_names),
        frame_shape=tuple(int(d) for d in dataset.frame_shape),
        preprocessing=preprocessing_from_train(splits, config).to_json(),
        split_method=splits.method,
        labels_from="dataset" if labeled else "master",
    )
    (directory / "prepared.json").write_text(json.dumps(prepared.to_json(), indent=2), encoding="utf-8")
    return prepared


_SPLITS_CACHE: dict[str, Splits] = {}


def load_prepared_splits(prepared: PreparedData) -> Splits:
    """The splits, loaded (and checksummed) once per worker process."""
    if prepared.directory not in _SPLITS_CACHE:
        _SPLITS_CACHE[prepared.directory] = load_splits(prepared.directory)
    return _SPLITS_CACHE[prepared.directory]
