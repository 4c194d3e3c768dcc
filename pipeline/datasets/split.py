"""The deterministic, stratified train/val/test split of a loaded dataset (scikit-learn).

The same data and seed always give the same split; every class keeps its share in every subset.
"""

from __future__ import annotations

import numpy as np

from mmnet.format.errors import DataError
from mmnet.pipeline.datasets.config import check_fractions
from mmnet.pipeline.datasets.dataset import Dataset, Splits

__all__ = ["split_dataset"]


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
    check_fractions(val_fraction, test_fraction)
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
        train=dataset.subset(train),
        val=dataset.subset(val),
        test=dataset.subset(test),
        seed=seed,
        indices=indices,
    )
