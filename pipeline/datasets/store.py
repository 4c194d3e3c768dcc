"""The split artifact on disk: train/val/test ``.npz`` files and the ``splits.json`` manifest.

The manifest records every file's sha256 and the data's fingerprint; loading verifies both, so a
stage never trains or evaluates on data other than the split it names. Writes are byte-reproducible
(fixed zip timestamps) and the manifest goes last, atomically: its presence means the artifact is
complete.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from mmnet.format.bundle import sha256_file
from mmnet.format.errors import DataError
from mmnet.pipeline.datasets.dataset import SPLIT_NAMES, Dataset, Splits

# save_splits takes a keyword argument named ``fingerprint``, so the function goes by another name here.
from mmnet.pipeline.datasets.dataset import fingerprint as fingerprint_of

__all__ = ["save_splits", "load_splits"]

logger = logging.getLogger(__name__)

_MANIFEST_NAME = "splits.json"
_ARTIFACT_KIND = "mmnet.splits"
_ARTIFACT_VERSION = 1
_FINGERPRINT_RE = re.compile(r"sha256:[0-9a-f]{64}")
# The earliest timestamp a zip entry can carry; see _write_npz.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _reassemble(splits: Splits, where: str) -> Dataset:
    """The dataset the splits were cut from, rebuilt from their indices."""
    total = sum(splits.sizes().values())
    order = np.concatenate([splits.indices[name] for name in SPLIT_NAMES])
    if not np.array_equal(np.sort(order), np.arange(total)):
        raise DataError(f"{where}: the split indices do not cover 0..{total - 1} exactly once")
    frames = np.empty((total, *splits.train.frame_shape), dtype=np.uint8)
    labels = np.empty(total, dtype=np.int64)
    for name in SPLIT_NAMES:
        subset, indices = getattr(splits, name), splits.indices[name]
        if subset.frame_shape != splits.train.frame_shape:
            raise DataError(
                f"{where}: {name} frames are {subset.frame_shape} but train frames are {splits.train.frame_shape}"
            )
        frames[indices] = subset.frames
        labels[indices] = subset.labels
    return Dataset(frames, labels, splits.train.class_names, splits.train.source)



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
    actual = fingerprint_of(_reassemble(splits, str(directory)))
    if actual != fingerprint:
        raise DataError(
            f"save_splits fingerprint: {fingerprint} does not match the data in these splits ({actual}); "
            "pass fingerprint(dataset) of the dataset that was split"
        )
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name in SPLIT_NAMES:
        subset = getattr(splits, name)
        path = directory / f"{name}.npz"
        _write_npz(path, {"frames": subset.frames, "labels": subset.labels, "indices": splits.indices[name]})
        checksums[path.name] = sha256_file(path)
    manifest = {
        "artifact": _ARTIFACT_KIND,
        "version": _ARTIFACT_VERSION,
        "source": splits.train.source,
        "fingerprint": fingerprint,
        "seed": splits.seed,
        "method": splits.method,
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
        "method": str,
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
    for name in SPLIT_NAMES:
        path = directory / f"{name}.npz"
        expected = manifest["sha256"].get(path.name)
        if not path.is_file():
            raise DataError(f"{path}: missing; the split artifact in {directory} is incomplete")
        actual = sha256_file(path)
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
    splits = Splits(subsets["train"], subsets["val"], subsets["test"], manifest["seed"], indices, manifest["method"])
    actual_fingerprint = fingerprint_of(_reassemble(splits, str(directory)))
    if actual_fingerprint != manifest["fingerprint"]:
        raise DataError(
            f"{manifest_path}: fingerprint is {manifest['fingerprint']} but the split files hold data with "
            f"fingerprint {actual_fingerprint}"
        )
    return splits
