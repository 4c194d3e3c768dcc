"""The test set in the protocol's binary layout (``testset/``: frames.bin, labels.bin, testset.json).

``frames.bin`` holds uint8 frames N x H x W x C row-major, ``labels.bin`` int32 little-endian labels,
``testset.json`` ``{"count", "height", "width", "channels", "dtype": "uint8"}`` — plain files the
app reads with a ByteBuffer, no npz parser on the phone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.errors import DataError

__all__ = ["TESTSET_FILES", "write_testset", "read_testset"]

TESTSET_FILES = ("frames.bin", "labels.bin", "testset.json")


def write_testset(frames: np.ndarray, labels: np.ndarray, out_dir: str | Path) -> list[Path]:
    """Write ``frames`` (uint8 N,H,W,C) and ``labels`` (ints, N) into ``out_dir``; the three paths."""
    frames, labels = np.asarray(frames), np.asarray(labels)
    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise DataError(f"test frames are {frames.dtype} {frames.shape}; expected uint8 (N, H, W, C)")
    if labels.ndim != 1 or len(labels) != len(frames) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"test labels are {labels.dtype} {labels.shape}; expected {len(frames)} integers")
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.int32).max):
        raise DataError(f"test labels range {labels.min()}..{labels.max()}; expected 0..{np.iinfo(np.int32).max}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    count, height, width, channels = frames.shape
    paths = [out / name for name in TESTSET_FILES]
    paths[0].write_bytes(np.ascontiguousarray(frames).tobytes(order="C"))
    paths[1].write_bytes(labels.astype("<i4").tobytes())
    header = {"count": int(count), "height": int(height), "width": int(width), "channels": int(channels), "dtype": "uint8"}
    paths[2].write_text(json.dumps(header) + "\n", encoding="utf-8")
    return paths


def read_testset(folder: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Frames, labels and header back from ``folder``; DataError when the files do not agree."""
    folder = Path(folder)
    try:
        header = json.loads((folder / "testset.json").read_text(encoding="utf-8"))
        raw_frames = (folder / "frames.bin").read_bytes()
        raw_labels = (folder / "labels.bin").read_bytes()
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{folder}: not a test set: {e}") from e
    try:
        shape = tuple(int(header[k]) for k in ("count", "height", "width", "channels"))
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{folder}/testset.json is {header!r}; expected count, height, width, channels") from e
    if header.get("dtype") != "uint8" or len(raw_frames) != int(np.prod(shape)) or len(raw_labels) != 4 * shape[0]:
        raise DataError(f"{folder}: {len(raw_frames)} frame bytes and {len(raw_labels)} label bytes do not match "
                        f"header {header}; expected uint8 {shape} and {shape[0]} int32 labels")
    frames = np.frombuffer(raw_frames, dtype=np.uint8).reshape(shape)
    labels = np.frombuffer(raw_labels, dtype="<i4").astype(np.int64)
    return frames, labels, header
