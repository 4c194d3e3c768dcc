"""Predict request bodies of the TF Serving REST API, decoded into uint8 frames (pure functions).

A body is ``{"instances": [...]}`` (row format, answered with ``predictions``) or ``{"inputs":
[...]}`` / ``{"inputs": {"<input name>": [...]}}`` (columnar format, answered with ``outputs``),
optionally with ``"signature_name"``. An instance is one raw frame ``(H, W, C)`` with the bundle's
channels C (``(H, W)`` too when C == 1): nested lists of integers 0..255, or ``{"b64": "<base64 PNG
or JPEG>"}``. Any H and W are accepted: a frame of another size than the bundle's frame shape is
conformed to it with the bundle's resize policy (:func:`mmnet.runtime.preprocessing.conform_frame`,
as the device does), one instance at a time. An image is refused from its header, before any pixel
is decoded, when it would take the request's images beyond :data:`MAX_IMAGE_PIXELS` pixels in all
(decompression bombs; conforming costs time in proportion to the pixels too). A bad
body raises :class:`DataError` naming the instance, what was found and what was expected; the
app answers it with 400. A message never quotes more than :data:`SHOWN_CHARS` characters of the
client's input (:func:`shown`).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import sys
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from mmnet.format.errors import DataError
from mmnet.runtime.preprocessing import conform_frame
from mmnet.server import serve_extra_missing

try:
    from PIL import Image
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise serve_extra_missing(_e) from _e

__all__ = ["MAX_IMAGE_PIXELS", "SHOWN_CHARS", "PredictRequest", "cut", "parse_predict_body", "shown"]

SHOWN_CHARS = 80
# The most pixels the b64 images of one request may decode to: one 25-megapixel photo (75 MB of RGB
# pixels, about half a second to conform). The body limit alone does not bound it, since a few
# kilobytes of PNG can decode to gigabytes.
MAX_IMAGE_PIXELS = 25_000_000
_SHOWN_KEYS = 5

_REQUEST_KEYS = ("instances", "inputs", "signature_name")
_SIGNATURES = ("", "serving_default", "predict")
_IMAGE_FORMATS = ("PNG", "JPEG")
_MODE_BY_CHANNELS = MappingProxyType({1: "L", 3: "RGB"})


@dataclass(frozen=True)
class PredictRequest:
    """A decoded predict body: the reply's key (``predictions`` or ``outputs``) and the frames,
    uint8 ``(N, H, W, C)``."""

    reply_key: str
    frames: np.ndarray


def _json_type(value: Any) -> str:
    """``value``'s JSON type with its article: "an object", "a number", ..."""
    for kind, name in ((bool, "a boolean"), (str, "a string"), (dict, "an object"), (list, "an array")):
        if isinstance(value, kind):
            return name
    if value is None:
        return "null"
    return "a number" if isinstance(value, (int, float)) else f"a {type(value).__name__}"


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters; a cut string says
    its length, so a client sending megabytes never gets them echoed back."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` unquoted for an error message (a path, a key in a path), cut like :func:`shown`."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _shown_keys(keys: Any) -> str:
    names = sorted(keys)
    listed = ", ".join(shown(k, 40) for k in names[:_SHOWN_KEYS])
    return f"[{listed}{f', ... ({len(names)} keys)' if len(names) > _SHOWN_KEYS else ''}]"


def _parse_json(body: bytes) -> Any:
    # Python's json, not mmnet.format.documents.parse_json: its per-number hooks and depth walk cost
    # several times the parse itself on a megabyte of pixels, and the frame checks below catch what
    # they would (a non-integer, a too-big integer or a deep list is not a frame of 0..255).
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"the request body is not valid JSON: {e}") from e
    except DataError:  # NaN or Infinity (a ValueError too)
        raise
    except RecursionError as e:
        raise DataError(
            "the request body nests too deeply to parse; expected an object whose frames nest 2 or 3 levels"
        ) from e
    except ValueError as e:  # an integer beyond Python's digit limit for conversions
        raise DataError(
            f"the request body holds an integer of more than {sys.get_int_max_str_digits()} digits; "
            "expected integers 0..255"
        ) from e


def _reject_constant(name: str) -> Any:
    raise DataError(f"the body contains {name}, which is not valid JSON; expected finite numbers")


def _expected_frame(frame_shape: tuple[int, int, int]) -> str:
    c = frame_shape[2]
    return f"a uint8 frame of shape (H, W, {c})" + (" or (H, W)" if c == 1 else "") + " with H, W >= 1"


def _decode_image(where: str, data: Any, frame_shape: tuple[int, int, int],
                  max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    if not isinstance(data, str):
        raise DataError(f"{where}.b64 is {_json_type(data)}; expected a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise DataError(f"{where}.b64 is not valid base64: {e}") from e
    c = frame_shape[2]
    try:
        with Image.open(io.BytesIO(raw), formats=list(_IMAGE_FORMATS)) as image:
            # Check the header before decoding any pixels (no decompression bombs).
            if image.width * image.height > max_pixels:
                raise DataError(
                    f"{where}.b64 is a {image.width}x{image.height} (WxH) image of {image.width * image.height} "
                    f"pixels; expected at most {max_pixels} pixels (the images of one request may hold "
                    f"{MAX_IMAGE_PIXELS} pixels in all)"
                )
            expected_mode = _MODE_BY_CHANNELS.get(c)
            if image.mode != expected_mode:
                raise DataError(
                    f"{where}.b64 is a {image.format} image in mode {image.mode!r} "
                    f"({len(image.getbands())} bands); expected mode {expected_mode!r} "
                    f"({c} channel{'s' if c != 1 else ''}, 8 bits)"
                )
            pixels = np.asarray(image, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise DataError(f"{where}.b64 cannot be decoded as a {' or '.join(_IMAGE_FORMATS)} image: {e}") from e
    return pixels.reshape(pixels.shape[0], pixels.shape[1], c)


def _decode_raw(where: str, value: list, frame_shape: tuple[int, int, int]) -> np.ndarray:
    expected = _expected_frame(frame_shape)
    try:
        arr = np.asarray(value)
    except (ValueError, OverflowError) as e:
        raise DataError(f"{where} is not a rectangular array of integers ({e}); expected {expected}") from e
    c = frame_shape[2]
    if not ((arr.ndim == 3 and arr.shape[2] == c) or (c == 1 and arr.ndim == 2)) or 0 in arr.shape[:2]:
        raise DataError(f"{where} has shape {shown(arr.shape)}; expected {expected}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        kind = {"f": "non-integer numbers", "b": "booleans", "U": "strings"}.get(
            arr.dtype.kind, f"values of dtype {arr.dtype}"
        )
        raise DataError(f"{where} holds {kind}; expected integers 0..255 ({expected})")
    low, high = int(arr.min()), int(arr.max())
    if low < 0 or high > 255:
        raise DataError(f"{where} has values {low}..{high}; expected 0..255 ({expected})")
    return arr.astype(np.uint8).reshape(arr.shape[0], arr.shape[1], c)


def _decode_instance(
    where: str, instance: Any, frame_shape: tuple[int, int, int], *, named: bool = False,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    if isinstance(instance, dict):
        if set(instance) == {"b64"}:
            return _decode_image(where, instance["b64"], frame_shape, max_pixels)
        if len(instance) == 1 and not named:  # a named input: {"<input name>": frame}
            (key, value), = instance.items()
            return _decode_instance(f"{where}.{cut(key, 40)}", value, frame_shape, named=True, max_pixels=max_pixels)
        raise DataError(
            f"{where} is an object with keys {_shown_keys(instance)}; expected nested lists, "
            '{"b64": "<base64 PNG/JPEG>"} or one named input {"<name>": frame}'
        )
    if isinstance(instance, list):
        return _decode_raw(where, instance, frame_shape)
    raise DataError(
        f"{where} is {_json_type(instance)}; expected nested lists ({_expected_frame(frame_shape)}) or "
        '{"b64": "<base64 PNG/JPEG>"}'
    )


def parse_predict_body(body: bytes, frame_shape: tuple[int, int, int], max_instances: int,
                       resize_policy: str = "squash") -> PredictRequest:
    """The frames of a predict ``body`` for a bundle whose frames are ``frame_shape``, instances of
    another size conformed with ``resize_policy`` (the bundle's); at most ``max_instances`` of them.
    :class:`DataError` when the body is bad."""
    doc = _parse_json(body)
    if not isinstance(doc, dict):
        raise DataError(
            f"the request body is {_json_type(doc)}; expected an object "
            '{"instances": [...]} or {"inputs": [...]}'
        )
    unknown = sorted(set(doc) - set(_REQUEST_KEYS))
    if unknown:
        raise DataError(f"unknown request keys {_shown_keys(unknown)}; expected only {list(_REQUEST_KEYS)}")
    signature = doc.get("signature_name", "")
    if not isinstance(signature, str):
        raise DataError(f"signature_name is {_json_type(signature)}; expected a string, 'serving_default'")
    if signature not in _SIGNATURES:
        raise DataError(f"signature_name is {shown(signature)}; this model has one signature, 'serving_default'")
    if ("instances" in doc) == ("inputs" in doc):
        raise DataError(
            'the request body needs exactly one of "instances" (row format) and "inputs" (columnar format)'
        )
    if "instances" in doc:
        key, reply_key, items = "instances", "predictions", doc["instances"]
    else:
        key, reply_key, items = "inputs", "outputs", doc["inputs"]
        if isinstance(items, dict) and len(items) == 1 and "b64" not in items:
            (name, items), = items.items()
            key = f"inputs.{cut(name, 40)}"
    if not isinstance(items, list):
        raise DataError(f"{key} is {_json_type(items)}; expected a list of frames")
    if not items:
        raise DataError(f"{key} is empty; expected 1..{max_instances} frames")
    if len(items) > max_instances:
        raise DataError(f"{key} holds {len(items)} frames; expected at most {max_instances} per request")
    height, width, _ = frame_shape
    frames = []
    pixels_left = MAX_IMAGE_PIXELS
    for i, item in enumerate(items):  # one decoded image at a time: conformed before the next is decoded
        frame = _decode_instance(f"{key}[{i}]", item, frame_shape, max_pixels=pixels_left)
        pixels_left -= frame.shape[0] * frame.shape[1]
        frames.append(conform_frame(frame, height, width, resize_policy))
    return PredictRequest(reply_key, np.stack(frames))
