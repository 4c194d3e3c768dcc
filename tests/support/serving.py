"""Request bodies and bundles shared by the unit and integration tests of the master server."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import struct
import zlib
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image

from mmnet.runtime.remote import png_bytes
from tests.support import tflite_fixtures as tfx

MAX_INSTANCES = 8
FRAME = np.arange(64, dtype=np.uint8).reshape(8, 8, 1)
RGB = np.zeros((8, 8, 3), dtype=np.uint8)


def b64_png(frame: np.ndarray) -> dict:
    return {"b64": base64.b64encode(png_bytes(frame)).decode("ascii")}


def image_b64(pixels: np.ndarray, fmt: str = "PNG") -> dict:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return {"b64": base64.b64encode(buffer.getvalue()).decode("ascii")}


def encoded(body: Any) -> bytes:
    return body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()


def with_constant(constant: str) -> str:
    """A one-frame body whose last pixel is the JSON constant ``constant`` (NaN, Infinity, ...)."""
    rows = json.dumps(FRAME[:, :, 0].tolist()).replace("63", constant, 1)
    return '{"instances": [' + rows + "]}"


def configured_with_int8_master(bundle: Any) -> Any:
    """``bundle`` with a runtime config that names the int8 model as the master."""
    return dataclasses.replace(bundle, runtime_config=SimpleNamespace(master_model=tfx.INT8_ID))


def png_header_only(width: int, height: int, channels: int = 3) -> str:
    """Base64 of a PNG whose header claims ``width`` x ``height`` 8-bit pixels (gray or RGB) and holds
    almost no data: what a decompression bomb looks like before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    color_type = {1: 0, 3: 2}[channels]
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    return base64.b64encode(png).decode()
