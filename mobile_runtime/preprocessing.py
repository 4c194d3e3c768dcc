"""Frame preprocessing shared by the pipeline, the runtime and (ported) the Android app.

A frame is a raw camera/dataset image in pixel units (0..255, ``uint8`` or float). Two steps:

1. :func:`conform_frame` turns a decoded image of any size into a frame of the bundle's
   ``frame_shape`` with the bundle's resize policy (``center_crop`` or ``squash``), antialiased.
   The pipeline's ingest, the runtime, the master server and the Java core all use this one
   definition, so a photo becomes the same frame wherever it enters.
2. A model of resolution ``r`` takes ``(resize(frame, r) - mean) / std`` with per-channel mean and
   std in pixel units. That resize mirrors TensorFlow's ``tf.image.resize(..., antialias=False)``
   so that what the runtime feeds a TFLite model is what the model saw during training.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from typing import Any

import numpy as np

from mmnet.format.checks import is_int
from mmnet.format.errors import ConfigError, DataError
from mmnet.format.preprocessing import RESIZE_METHODS, RESIZE_POLICIES, PreprocessingSpec

__all__ = [
    "conform_frame",
    "crop_box",
    "model_input",
    "resize_frames",
    "validate_frames",
    "preprocess",
]


def crop_box(height: int, width: int, target_height: int, target_width: int, policy: str) -> tuple[int, int, int, int]:
    """The part of a ``height`` x ``width`` frame that :func:`conform_frame` resizes, as
    ``(top, left, crop_height, crop_width)``.

    ``squash``: the whole frame. ``center_crop``: the largest centred box with the target's aspect
    ratio, its free side rounded half up in integer arithmetic (at least 1 pixel).
    """
    if policy not in RESIZE_POLICIES:
        raise ConfigError(f"resize policy is {policy!r}; expected one of {list(RESIZE_POLICIES)}")
    if policy == "squash":
        return 0, 0, height, width
    if width * target_height >= height * target_width:  # wider than the target: keep the full height
        crop_height, crop_width = height, max(1, (2 * height * target_width + target_height) // (2 * target_height))
    else:
        crop_width, crop_height = width, max(1, (2 * width * target_height + target_width) // (2 * target_width))
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


@lru_cache(maxsize=64)
def _triangle_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's antialiased bilinear (triangle) filter from ``in_size`` to ``out_size`` as a band:
    ``(indices, weights)``, both ``(taps, out_size)``; output ``i`` is
    ``sum_k weights[k, i] * input[indices[k, i]]``, its weights in increasing input order and
    normalised to sum 1, rows padded with weight 0. Read-only, shared through the cache."""
    scale = in_size / out_size
    support = max(scale, 1.0)
    spans = []
    for i in range(out_size):
        center = (i + 0.5) * scale
        first = max(0, math.floor(center - support))
        stop = min(in_size, math.ceil(center + support))
        taps = np.arange(first, stop, dtype=np.float64)
        row = np.maximum(0.0, 1.0 - np.abs((taps + 0.5 - center) / support))
        total = row.sum()
        if total > 0.0:
            nonzero = np.flatnonzero(row)  # zero taps add exactly nothing: leave them out
            spans.append((first + nonzero[0], row[nonzero[0]:nonzero[-1] + 1] / total))
        else:  # cannot happen for sizes >= 1; the nearest input pixel keeps the row well defined
            spans.append((min(in_size - 1, int(center)), np.ones(1)))
    width = max(len(row) for _, row in spans)
    indices = np.empty((width, out_size), dtype=np.intp)
    weights = np.zeros((width, out_size), dtype=np.float64)
    for i, (first, row) in enumerate(spans):
        indices[:, i] = np.minimum(first + np.arange(width), first + len(row) - 1)
        weights[: len(row), i] = row
    indices.setflags(write=False)
    weights.setflags(write=False)
    return indices, weights


_scratch = threading.local()
# Bytes of one work array a thread keeps between frames: a 500x375 photo's crop fits; a larger
# photo's arrays are allocated per call, so a thread never holds more than a few of these.
_SCRATCH_KEPT = 8 * 1024 * 1024


def _buffer(slot: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """A work array of ``shape``, kept per thread between calls: fresh multi-megabyte temporaries
    cost more in page faults than the arithmetic done in them. Its contents are garbage."""
    size = math.prod(shape)
    itemsize = np.dtype(dtype).itemsize
    if size * itemsize > _SCRATCH_KEPT:
        return np.empty(shape, dtype=dtype)
    buffers = _scratch.__dict__.setdefault("buffers", {})
    buffer = buffers.get((slot, dtype))
    if buffer is None or buffer.size < size:
        buffer = buffers[(slot, dtype)] = np.empty(max(size, 65536), dtype=dtype)
    return buffer[:size].reshape(shape)


@lru_cache(maxsize=64)
def _column_weights(in_size: int, out_size: int, channels: int) -> np.ndarray:
    """The band's weights repeated per channel, ``(taps, out_size * channels)``: the column pass
    multiplies rows of ``out_size * channels`` values at once instead of runs of ``channels``."""
    weights = np.repeat(_triangle_taps(in_size, out_size)[1], channels, axis=1)
    weights.setflags(write=False)
    return weights


def _filter_axis(image: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    """``image`` (float64 ``(H, W, C)``) filtered along ``axis`` (0: rows, 1: columns) to
    ``out_size``, in a per-thread work array: each output is accumulated tap by tap in input order
    (as the Java core's loop does)."""
    indices, weights = _triangle_taps(image.shape[axis], out_size)
    out_shape = list(image.shape)
    out_shape[axis] = out_size
    total = _buffer(f"total{axis}", tuple(out_shape))
    term = _buffer("term", tuple(out_shape))
    if axis == 0:
        factors = weights[:, :, None, None]
        total_view, term_view = total, term
    else:
        factors = _column_weights(image.shape[1], out_size, image.shape[2])
        total_view, term_view = total.reshape(total.shape[0], -1), term.reshape(term.shape[0], -1)
    np.take(image, indices[0], axis=axis, out=total, mode="clip")  # indices are in range: no checked copy
    total_view *= factors[0]
    for k in range(1, indices.shape[0]):
        np.take(image, indices[k], axis=axis, out=term, mode="clip")
        term_view *= factors[k]
        total_view += term_view
    return total


def conform_frame(frame: np.ndarray, height: int, width: int, policy: str) -> np.ndarray:
    """A uint8 ``(H, W, C)`` image as a uint8 ``(height, width, C)`` frame, with ``policy``.

    A frame already ``height`` x ``width`` comes back as it is. Otherwise the crop box of
    :func:`crop_box` is resized with a separable antialiased bilinear (triangle) filter, Pillow's
    BILINEAR computed in float64: per axis with input length ``n`` and output length ``m``,
    ``scale = n / m``, ``support = max(scale, 1)``; output ``i`` has ``center = (i + 0.5) * scale``,
    taps ``j`` from ``max(0, floor(center - support))`` to ``min(n, ceil(center + support)) - 1``
    with weights ``max(0, 1 - |(j + 0.5 - center) / support|)`` normalised to sum 1. Rows
    (vertical) first, then columns; the result is rounded half to even and clipped to 0..255.
    """
    for name, value in (("height", height), ("width", width)):
        if not is_int(value) or value < 1:
            raise ConfigError(f"conform_frame {name} is {value!r}; expected a positive int")
    array = np.asarray(frame)
    if array.ndim != 3 or array.dtype != np.uint8 or array.shape[0] < 1 or array.shape[1] < 1:
        raise DataError(f"conform_frame got a {array.dtype} array of shape {array.shape}; "
                        "expected a uint8 image (H, W, C) with H, W >= 1")
    in_height, in_width = array.shape[:2]
    top, left, crop_height, crop_width = crop_box(in_height, in_width, height, width, policy)
    if (in_height, in_width) == (height, width):
        return array
    # Each filter is a narrow band (a few taps per output), so a weighted sum of shifted rows is
    # far cheaper than a dense matrix product over the whole photo.
    crop = _buffer("crop", (crop_height, crop_width, array.shape[2]))
    np.copyto(crop, array[top:top + crop_height, left:left + crop_width])
    rows = _filter_axis(crop, int(height), axis=0)
    columns = _filter_axis(rows, int(width), axis=1)
    np.rint(columns, out=columns)
    np.clip(columns, 0, 255, out=columns)
    return columns.astype(np.uint8)


@lru_cache(maxsize=64)
def _bilinear_axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(src)
    lower = np.maximum(floor, 0).astype(np.intp)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.intp)
    fraction = (src - floor).astype(np.float32)
    for table in (lower, upper, fraction):
        table.setflags(write=False)  # shared through the cache
    return lower, upper, fraction


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
    rows = np.take(x, x_hi, axis=2)
    rows -= left
    flat_rows = rows.reshape(rows.shape[0], rows.shape[1], -1)  # long rows, not runs of C values
    flat_rows *= _bilinear_column_fractions(width, size, rows.shape[3])
    rows += left
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


@lru_cache(maxsize=64)
def _takes_pixels(mean: tuple[float, ...], std: tuple[float, ...], quantization: tuple[float, int] | None,
                  dtype: type) -> bool:
    """True when quantising ``(v - mean) / std`` for this input gives ``rint(v - mean) + zero_point``
    exactly, in float32: a uint8 input with every mean equal to the zero point, every std a power of
    two and the scale exactly its inverse (dividing by either is then exact). Coral's models: mean
    128, std 128, scale 1/128, zero point 128."""
    if dtype != np.uint8 or quantization is None:
        return False
    scale, zero_point = quantization
    scale32 = float(np.float32(scale))
    return all(float(np.float32(m)) == zero_point for m in mean) and all(
        math.frexp(s)[0] == 0.5 and float(np.float32(s)) == s and s * scale32 == 1.0 for s in std)


@lru_cache(maxsize=64)
def _bilinear_column_fractions(in_size: int, out_size: int, channels: int) -> np.ndarray:
    """The column fractions of :func:`_bilinear_axis` repeated per channel: one multiply over
    long rows instead of runs of ``channels`` values."""
    fractions = np.repeat(_bilinear_axis(in_size, out_size)[2], channels)
    fractions.setflags(write=False)
    return fractions


def _pixel_input(frame: np.ndarray, resolution: int, zero_point: int) -> np.ndarray:
    """``rint(resize(frame) - zero_point) + zero_point`` as uint8 ``(1, r, r, C)``: the bilinear
    resize of :func:`resize_frames` with the same float32 operations, gathered from the uint8 frame."""
    height, width, _ = frame.shape
    if height == resolution and width == resolution:  # integer pixels quantise to themselves
        return np.ascontiguousarray(frame[None])
    y_lo, y_hi, t_y = _bilinear_axis(height, resolution)
    x_lo, x_hi, _ = _bilinear_axis(width, resolution)
    pixels = _buffer("pixels", frame.shape, np.float32)
    np.copyto(pixels, frame)
    left = _buffer("left", (height, resolution, frame.shape[2]), np.float32)
    rows = _buffer("rows", left.shape, np.float32)
    np.take(pixels, x_lo, axis=1, out=left, mode="clip")
    np.take(pixels, x_hi, axis=1, out=rows, mode="clip")
    rows -= left
    flat_rows = rows.reshape(height, -1)
    flat_rows *= _bilinear_column_fractions(width, resolution, frame.shape[2])
    rows += left
    top = _buffer("top", (resolution, resolution, frame.shape[2]), np.float32)
    out = _buffer("out", top.shape, np.float32)
    np.take(rows, y_lo, axis=0, out=top, mode="clip")
    np.take(rows, y_hi, axis=0, out=out, mode="clip")
    out -= top
    out *= t_y[:, None, None]
    out += top
    out -= np.float32(zero_point)
    np.rint(out, out=out)
    out += np.float32(zero_point)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)[None]


def model_input(frame: np.ndarray, spec: PreprocessingSpec, resolution: int, classifier: Any,
                normalised: dict[int, np.ndarray]) -> np.ndarray:
    """The input tensor ``(1, r, r, C)`` of ``classifier`` (a TFLiteClassifier) for one checked
    frame of the spec's frame shape: exactly ``classifier.quantize_one(preprocess(frame[None], spec,
    resolution))``. ``normalised`` caches the float inputs per resolution for this frame.

    When the model's uint8 input quantises normalised pixels back to pixels (:func:`_takes_pixels`)
    the float round trip is skipped: the frame itself at its own size, else one resize from it.
    """
    quantization = classifier.input_quantization
    if (frame.dtype == np.uint8 and spec.resize_method == "bilinear"
            and _takes_pixels(spec.mean, spec.std, quantization, classifier.input_dtype)):
        return _pixel_input(frame, resolution, quantization[1])
    x = normalised.get(resolution)
    if x is None:
        x = normalised[resolution] = preprocess(frame[None], spec, resolution)
    return classifier.quantize_one(x)
