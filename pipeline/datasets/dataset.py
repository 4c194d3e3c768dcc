"""The canonical in-memory dataset, its train/val/test subsets and its fingerprint.

Frames are uint8 arrays (N, H, W, C) in pixel units 0..255, labels int64 (N,) in 0..K-1, class
names a tuple of K strings; both types check that on construction. The fingerprint identifies the
data itself (never where it was read from), so a bundle can name the data it was built from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from mmnet.format.errors import DataError

__all__ = ["SPLIT_NAMES", "Dataset", "Splits", "describe_array", "fingerprint"]

SPLIT_NAMES = ("train", "val", "test")


def describe_array(value: object) -> str:
    """``uint8 array of shape (3, 4)`` for an array, else the type's name (for error messages)."""
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
                f"Dataset.frames: got {describe_array(frames)}; expected a uint8 array (N, H, W, C) with C 1 or 3"
            )
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.shape != frames.shape[:1]:
            raise DataError(
                f"Dataset.labels: got {describe_array(labels)}; expected an int64 array of shape ({frames.shape[0]},)"
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

    def subset(self, indices: np.ndarray) -> Dataset:
        """The examples at ``indices``, in that order, with the same class names and source."""
        return Dataset(self.frames[indices], self.labels[indices], self.class_names, self.source)


@dataclass(frozen=True, eq=False)
class Splits:
    """Train/val/test subsets of one loaded dataset; ``indices`` index into that dataset.

    The train subset is empty when nothing trains (only imported models)."""

    train: Dataset
    val: Dataset
    test: Dataset
    seed: int
    indices: dict[str, np.ndarray]
    method: str = "stratified"  # how the subsets were drawn: "stratified" or "random"

    def __post_init__(self) -> None:
        if self.method not in ("stratified", "random"):
            raise DataError(f"Splits.method: {self.method!r}; expected 'stratified' or 'random'")
        if set(self.indices) != set(SPLIT_NAMES):
            raise DataError(f"Splits.indices: keys {sorted(self.indices)}; expected {list(SPLIT_NAMES)}")
        for name in SPLIT_NAMES:
            subset, indices = getattr(self, name), self.indices[name]
            if not isinstance(indices, np.ndarray) or indices.ndim != 1 or len(indices) != len(subset):
                raise DataError(
                    f"Splits.indices[{name!r}]: got {describe_array(indices)}; expected {len(subset)} indices, "
                    f"one per example of the {name} split"
                )
            if subset.class_names != self.train.class_names:
                raise DataError(
                    f"Splits.{name}.class_names: {subset.class_names!r} differ from the train split's "
                    f"{self.train.class_names!r}"
                )

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SPLIT_NAMES}


def fingerprint(dataset: Dataset) -> str:
    """``sha256:<hex>`` of the data (shape, dtype, pixels, labels, class names), never of its source."""
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

