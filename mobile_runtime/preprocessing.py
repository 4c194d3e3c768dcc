"""Frame preprocessing shared by the pipeline, the runtime and (ported) the Android app.

A frame is a raw camera/dataset image in pixel units (0..255, ``uint8`` or float). A model of
resolution ``r`` takes ``(resize(frame, r) - mean) / std`` with per-channel mean and std in pixel
units. Resizing mirrors TensorFlow's ``tf.image.resize(..., antialias=False)`` so that what the
runtime feeds a TFLite model is what the model saw during training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmnet.format.checks import is_int
from mmnet.format.errors import ConfigError, DataError
from mmnet.format.preprocessing import RESIZE_METHODS, PreprocessingSpec

__all__ = [
    "resize_frames",
    "validate_frames",
    "preprocess",
]

def _bilinear_axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(src)
    lower = np.maximum(floor, 0).astype(np.intp)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.intp)
    return lower, upper, (src - floor).astype(np.float32)


def _nearest_axis(in_size: int, out_size: int) -> np.ndarray:
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale
    return np.minimum(np.floor(src), in_size - 1).astype(np.intp)


def resize_frames(frames: np.ndarray, size: int, method: str = "bilinear") -> np.ndarray:
    """Resize a batch ``(N, H, W, C)`` to ``(N, size, size, C)`` float32, like TensorFlow.

    All arithmetic is float32. Per output axis with input length ``n`` and output length ``m``,
    ``scale = n / m`` and for output index ``i``:

    * bilinear (``tf.image.resize(method="bilinear", antialias=False)``, half-pixel centres)::

        s     = (i + 0.5) * scale - 0.5
        lo    = max(floor(s), 0);  hi = min(ceil(s), n - 1);  t = s - floor(s)

      and with (y_lo, y_hi, t_y) for the output row and (x_lo, x_hi, t_x) for the output column::

        top    = in[y_lo][x_lo] + (in[y_lo][x_hi] - in[y_lo][x_lo]) * t_x
        bottom = in[y_hi][x_lo] + (in[y_hi][x_hi] - in[y_hi][x_lo]) * t_x
        out    = top + (bottom - top) * t_y

    * nearest (``method="nearest"``, half-pixel centres)::

        src = min(floor((i + 0.5) * scale), n - 1);  out = in[src]

    When ``H == W == size`` the frames are returned unchanged (as a float32 copy).
    """
    if not is_int(size) or size < 1:
        raise ConfigError(f"resize size is {size!r}; expected a positive int")
    if method not in RESIZE_METHODS:
        raise ConfigError(f"resize method is {method!r}; expected one of {list(RESIZE_METHODS)}")
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise DataError(
            f"resize_frames got an array of shape {frames.shape}; expected (N, H, W, C)"
        )
    _, height, width, _ = frames.shape
    if height < 1 or width < 1:
        raise DataError(f"resize_frames got frames of shape {frames.shape}; expected H, W >= 1")
    x = frames.astype(np.float32, copy=True)
    if height == size and width == size:
        return x
    if method == "nearest":
        x = np.take(x, _nearest_axis(height, size), axis=1)
        return np.take(x, _nearest_axis(width, size), axis=2)
    y_lo, y_hi, t_y = _bilinear_axis(height, size)
    x_lo, x_hi, t_x = _bilinear_axis(width, size)
    # Interpolating along x on every input row first gives the same top/bottom rows as the
    # formula (each output row only reads input rows y_lo and y_hi) and gathers 4x less data.
    left = np.take(x, x_lo, axis=2)
    rows = left + (np.take(x, x_hi, axis=2) - left) * t_x[None, None, :, None]
    top = np.take(rows, y_lo, axis=1)
    return top + (np.take(rows, y_hi, axis=1) - top) * t_y[None, :, None, None]


def validate_frames(frames: Any, spec: PreprocessingSpec) -> np.ndarray:
    """Check raw frames against ``spec`` and return them as a batch ``(N, H, W, C)``.

    Accepts one frame ``(H, W, C)`` (or ``(H, W)`` when the spec has one channel) or a batch
    ``(N, H, W, C)``, ``uint8`` or float in pixel units. Any H and W are allowed: frames are
    resized later. The dtype is kept.
    """
    arr = np.asarray(frames)
    channels = spec.channels
    if arr.dtype != np.uint8 and not np.issubdtype(arr.dtype, np.floating):
        raise DataError(
            f"frames have dtype {arr.dtype}; expected uint8 or a float dtype (pixel units 0..255)"
        )
    if arr.ndim == 2 and channels == 1:
        arr = arr[None, :, :, None]
    elif arr.ndim == 3:
        arr = arr[None]
    elif arr.ndim != 4:
        accepted = "(H, W, C), (N, H, W, C)" + (" or (H, W)" if channels == 1 else "")
        raise DataError(
            f"frames have rank {arr.ndim} (shape {arr.shape}); expected {accepted} "
            f"with C={channels}"
        )
    if arr.shape[3] != channels:
        raise DataError(
            f"frames have {arr.shape[3]} channels (shape {arr.shape}); expected {channels}"
        )
    if arr.shape[1] < 1 or arr.shape[2] < 1:
        raise DataError(f"frames have shape {arr.shape}; expected H >= 1 and W >= 1")
    if arr.dtype != np.uint8 and arr.size:
        finite = np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1)
        if not finite.all():
            index = int(np.argmin(finite))
            kind = "NaN" if np.isnan(arr[index]).any() else "inf"
            raise DataError(
                f"frame {index} contains {kind} values; expected finite pixel values in 0..255"
            )
    return arr


def preprocess(frames: Any, spec: PreprocessingSpec, resolution: int) -> np.ndarray:
    """Validate, resize to ``resolution`` and normalise: float32 ``(N, r, r, C)``."""
    batch = resize_frames(validate_frames(frames, spec), resolution, spec.resize_method)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return (batch - mean) / std
