"""Decoded images conformed to canonical frames: one size, 1 or 3 channels, uint8 pixels.

Every loader turns its images into frames here, one at a time (no source holds all its PIL images),
so a folder of PNGs, TFRecord bytes and TFDS arrays come out resized and converted the same way.

Resizing to ``image_size`` follows ``resize_policy``: ``center_crop`` takes the largest centred
square and resizes it (how ImageNet classifiers are evaluated; the aspect ratio is kept), ``squash``
resizes the whole image (the aspect ratio is not kept). Both are
:func:`mmnet.runtime.preprocessing.conform_frame`, once per frame at ingest: the same function the
runtime and the master server apply to frames of another size, and the bundle records the policy.

Decoding is Pillow's and outside that contract. For speed, a JPEG is decoded at the smallest DCT
scale (1/2, 1/4, 1/8) whose shorter side still covers ``image_size`` (:func:`open_image`), so a
photo at least twice the target size reaches ``conform_frame`` already reduced: its frame can differ
by a few levels from a full decode's. Photos under twice the target size are decoded in full.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from mmnet.format.errors import DataError
from mmnet.pipeline.datasets.config import DatasetConfig
from mmnet.runtime.preprocessing import conform_frame

__all__ = ["FrameCollector", "conform_array", "open_image"]

# Pillow modes accepted from files; 16-bit and float modes would be clipped, not scaled, by
# Pillow's conversion to 8 bits, so they are refused instead of silently mangled.
_GRAY_MODES = frozenset({"1", "L", "LA"})
_COLOR_MODES = frozenset({"RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr"})
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, zlib.error, Image.DecompressionBombError)


class FrameCollector:
    """Turns decoded images into canonical frames one at a time, so no source holds PIL images."""

    def __init__(self, image_size: int | None, channels: int | None, resize_policy: str = "squash") -> None:
        self._image_size = image_size
        self._channels = channels
        self._resize_policy = resize_policy
        self._frames: list[np.ndarray] = []
        self._first_size: tuple[int, int] | None = None
        self._first_where = ""

    def add(self, image: Image.Image, where: str) -> None:
        if image.mode in _GRAY_MODES:
            gray = True
        elif image.mode in _COLOR_MODES:
            gray = False
        else:
            raise DataError(
                f"{where}: image mode {image.mode!r} is not supported; expected an 8-bit grayscale or colour "
                "image (e.g. L, RGB, RGBA, P) — convert 16-bit or floating-point images to 8 bits first"
            )
        mode = "L" if self._channels == 1 or (self._channels is None and gray) else "RGB"
        if image.mode != mode:
            image = image.convert(mode)
        frame = np.asarray(image, dtype=np.uint8)
        frame = frame[:, :, np.newaxis] if frame.ndim == 2 else frame
        if self._image_size is not None:
            frame = conform_frame(frame, self._image_size, self._image_size, self._resize_policy)
        elif self._first_size is None:
            self._first_size, self._first_where = image.size, where
        elif image.size != self._first_size:
            width, height = image.size
            first_width, first_height = self._first_size
            raise DataError(
                f"{where}: frame is {width}x{height} but {self._first_where} is {first_width}x{first_height}; "
                "all frames must share one size — set dataset.image_size to resize every frame on load"
            )
        self._frames.append(frame)

    def finish(self) -> np.ndarray:
        # With inferred channels a source mixing grayscale and colour becomes colour; Pillow's L->RGB
        # conversion replicates the gray value, which is exactly np.repeat.
        if any(frame.shape[-1] == 3 for frame in self._frames):
            frames = [np.repeat(f, 3, axis=-1) if f.shape[-1] == 1 else f for f in self._frames]
        else:
            frames = self._frames
        return np.stack(frames)


def conform_array(frames: np.ndarray, config: DatasetConfig, where: Callable[[int], str]) -> np.ndarray:
    """Applies image_size and channels to frames that are already (N, H, W, C) uint8."""
    size = config.image_size
    if config.channels in (None, frames.shape[-1]) and (size is None or frames.shape[1:3] == (size, size)):
        return frames
    collector = FrameCollector(size, config.channels, config.resize_policy)
    for index, frame in enumerate(frames):
        collector.add(Image.fromarray(frame[:, :, 0] if frame.shape[-1] == 1 else frame), where(index))
    return collector.finish()


def open_image(data: Path | bytes, where: str, *, at_least: int | None = None) -> Image.Image:
    """Decodes an image file or encoded bytes fully; raises DataError naming ``where``.

    ``at_least``: a JPEG may be decoded at a reduced DCT scale whose shorter side is still at least
    this many pixels (far faster for photos that are resized down anyway).
    """
    try:
        image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        if at_least is not None and image.format == "JPEG":
            width, height = image.size
            # draft() keeps both sides >= the request; asking for the aspect ratio keeps the short side >= at_least.
            scale = at_least / min(width, height)
            image.draft(image.mode, (max(1, int(np.ceil(width * scale))), max(1, int(np.ceil(height * scale)))))
        # Decoding is lazy in Pillow; load() now so a corrupt file fails here, with its name.
        image.load()
    except _DECODE_ERRORS as e:
        raise DataError(f"{where}: cannot decode image: {e}") from e
    return image
