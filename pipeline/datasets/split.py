"""The deterministic train/val/test split of a loaded dataset (scikit-learn).

The same data, seed and method always give the same split. ``stratified`` keeps every class's share
in every subset; ``random`` is a seeded shuffle, for data too sparse to stratify (a calibration set
of one or two photos per class); ``auto`` stratifies when every class present has enough examples
for every subset and otherwise splits at random. Classes without any example (outputs of an imported
model the data does not cover) take no part. With ``train=False`` (nothing trains) there is no
train split and val and test share the data in the ratio of their fractions.
"""

from __future__ import annotations

import numpy as np

from mmnet.format.errors import DataError
from mmnet.pipeline.datasets.config import SPLIT_METHODS, check_fractions
from mmnet.pipeline.datasets.dataset import Dataset, Splits

__all__ = ["split_dataset", "can_stratify"]


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
        if count == 1:
            raise DataError(
                f"{dataset.source}: class {dataset.class_names[label]!r} (label {label}) has {count} example(s) "
                f"{left}; a stratified split needs at least 2 per class — add examples of that class or drop it, "
                "or set dataset.split: random"
            )
    try:
        rest, chosen = train_test_split(
            indices, test_size=fraction, random_state=seed, shuffle=True, stratify=labels
        )
    except ValueError as e:
        raise DataError(
            f"{dataset.source}: cannot take a stratified {taken} split of {fraction:g} from {len(indices)} examples "
            f"of {int(np.count_nonzero(counts))} classes: {e}"
        ) from e
    return np.sort(rest), np.sort(chosen)


def _random_split(indices: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle of ``indices`` into (rest, taken), ``taken`` holding round(fraction * n), at least 1."""
    shuffled = np.random.default_rng(seed).permutation(indices)
    count = min(max(1, round(fraction * len(indices))), len(indices) - 1)
    return np.sort(shuffled[count:]), np.sort(shuffled[:count])


def _fractions(val_fraction: float, test_fraction: float, train: bool) -> list[tuple[str, float]]:
    """The draws in order (name, fraction of what is left), test first."""
    if not train:
        return [("test", test_fraction / (val_fraction + test_fraction))]
    return [("test", test_fraction), ("val", val_fraction / (1.0 - test_fraction))]


def can_stratify(dataset: Dataset, *, val_fraction: float, test_fraction: float, train: bool = True) -> bool:
    """Whether every class present has an example for every subset and every draw can hold every class."""
    counts = np.bincount(dataset.labels, minlength=dataset.num_classes)
    present = counts[counts > 0]
    subsets = 3 if train else 2
    if present.size == 0 or present.min() < subsets:
        return False
    remaining = len(dataset)
    for _, fraction in _fractions(val_fraction, test_fraction, train):
        taken = int(np.ceil(fraction * remaining))
        if taken < present.size or remaining - taken < present.size:
            return False
        remaining -= taken
    return True


def split_dataset(dataset: Dataset, *, val_fraction: float, test_fraction: float, seed: int,
                  method: str = "stratified", train: bool = True) -> Splits:
    """Train/val/test split (train empty when ``train`` is False), identical for identical data, seed and method."""
    check_fractions(val_fraction, test_fraction, training=train)
    if method not in SPLIT_METHODS:
        raise DataError(f"split method is {method!r}; expected one of {list(SPLIT_METHODS)}")
    subsets = 3 if train else 2
    if len(dataset) < subsets:
        raise DataError(f"{dataset.source}: {len(dataset)} example(s); a split needs at least {subsets}")
    if method == "auto":
        stratify = can_stratify(dataset, val_fraction=val_fraction, test_fraction=test_fraction, train=train)
        method = "stratified" if stratify else "random"
    if method == "stratified":
        counts = np.bincount(dataset.labels, minlength=dataset.num_classes)
        for label, count in enumerate(counts):
            if 0 < count < subsets:
                raise DataError(
                    f"{dataset.source}: class {dataset.class_names[label]!r} (label {label}) has {count} example(s); "
                    f"a stratified {'train/' if train else ''}val/test split needs at least {subsets} per class "
                    "(dataset.split: auto or random splits sparse data at random)"
                )
    everything = np.arange(len(dataset), dtype=np.int64)
    draws = _fractions(val_fraction, test_fraction, train)
    if method == "stratified":
        rest, test = _stratified_split(everything, dataset, draws[0][1], seed, "test", "in the dataset")
    else:
        rest, test = _random_split(everything, draws[0][1], seed)
    if not train:
        train_indices, val = np.zeros(0, dtype=np.int64), rest
    elif method == "stratified":
        # The val fraction is of the whole dataset, and the test examples are already gone.
        train_indices, val = _stratified_split(rest, dataset, draws[1][1], seed, "validation",
                                               "left after the test split")
    else:
        train_indices, val = _random_split(rest, draws[1][1], seed + 1)
    indices = {"train": train_indices, "val": val, "test": test}
    return Splits(
        train=dataset.subset(train_indices),
        val=dataset.subset(val),
        test=dataset.subset(test),
        seed=seed,
        indices=indices,
        method=method,
    )
