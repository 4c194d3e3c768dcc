"""TFLite models shipped with some float32 constant tensors packed at their custom-float widths.

A SIEVE model (dissertation ch. 4) stores each layer's kernel in its own small format
(:class:`~mmnet.format.custom_float.FloatFormat`); its TFLite file still holds those values as
float32, 32 bits each. A *packed model* is the same file with each such tensor's float32 bytes cut
out and its codes appended, bit-packed at the format's width (:func:`~mmnet.format.custom_float.pack`):

    container = template ‖ packed tensor 1 ‖ packed tensor 2 ‖ …

``template`` is the TFLite flatbuffer with every packed tensor's bytes removed; nothing else in it
changes. Unpacking (:func:`unpack_model`, TF-free, numpy only) decodes each tensor's codes to
float32 and splices them back in at their offsets, giving the original flatbuffer byte for byte; its
sha256 (``tflite_sha256``) is checked, so a wrong spec or a corrupt file can never load as a model.
The interpreter then runs the unpacked flatbuffer as any other: the bytes saved are download,
storage and bundle bytes, not memory at run time.

The spec (the manifest record's ``packing``) says where each tensor goes:
``{"name", "offset", "count", "format", "packed_offset", "packed_bytes"}`` per tensor, ``offset``
in the unpacked file, ``packed_offset`` in the container; offsets of the unpacked tensors are
increasing and their float32 ranges do not overlap.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmnet.format.custom_float import FloatFormat, decode, encode, pack, unpack
from mmnet.format.errors import BundleError, ConfigError

__all__ = ["PackedTensor", "pack_model", "unpack_model", "PACKING_METHOD"]

PACKING_METHOD = "custom_float"
_FLOAT32_BYTES = 4


@dataclass(frozen=True)
class PackedTensor:
    """A float32 constant tensor of the flatbuffer to store in ``format``: ``count`` values at byte ``offset``."""

    name: str
    offset: int
    count: int
    format: FloatFormat

    def __post_init__(self) -> None:
        for field, value in (("offset", self.offset), ("count", self.count)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if field == "offset" else 1):
                raise ConfigError(f"packed tensor {self.name!r} {field} is {value!r}; expected an int >= "
                                  f"{0 if field == 'offset' else 1}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_model(tflite: bytes, tensors: Sequence[PackedTensor]) -> tuple[bytes, dict[str, Any]]:
    """The container and its spec for ``tflite`` with ``tensors`` packed (module docstring).

    Every tensor's values must be exactly representable in its format (the build rounds them first),
    so unpacking gives back the same bytes; ConfigError naming the tensor otherwise.
    """
    ordered = sorted(tensors, key=lambda t: t.offset)
    template = bytearray()
    payloads: list[bytes] = []
    records: list[dict[str, Any]] = []
    position = 0
    for tensor in ordered:
        end = tensor.offset + _FLOAT32_BYTES * tensor.count
        if tensor.offset < position or end > len(tflite):
            raise ConfigError(f"packed tensor {tensor.name!r} spans bytes {tensor.offset}..{end} of a {len(tflite)}-byte "
                              f"model, overlapping another or past the end; expected disjoint ranges inside the file")
        values = np.frombuffer(tflite, dtype="<f4", count=tensor.count, offset=tensor.offset)
        codes = encode(values, tensor.format)
        back = decode(codes, tensor.format).astype("<f4")
        if back.tobytes() != values.tobytes():
            wrong = int(np.flatnonzero(back.view(np.uint32) != values.view(np.uint32))[0])
            raise ConfigError(f"packed tensor {tensor.name!r}: value {float(values[wrong])!r} at index {wrong} is not "
                              f"exactly representable in {tensor.format.name}; expected values rounded to the format")
        template += tflite[position:tensor.offset]
        position = end
        payloads.append(pack(codes, tensor.format.width))
        records.append({"name": tensor.name, "offset": tensor.offset, "count": tensor.count,
                        "format": tensor.format.name, "packed_bytes": len(payloads[-1])})
    template += tflite[position:]
    offset = len(template)
    for record, payload in zip(records, payloads, strict=True):
        record["packed_offset"] = offset
        offset += len(payload)
    container = bytes(template) + b"".join(payloads)
    packed_values = sum(t.count for t in ordered)
    spec = {
        "method": PACKING_METHOD,
        "tflite_sha256": _sha256(tflite),
        "tflite_bytes": len(tflite),
        "template_bytes": len(template),
        "gzip_bytes": len(gzip.compress(container, compresslevel=9, mtime=0)),
        "tflite_gzip_bytes": len(gzip.compress(tflite, compresslevel=9, mtime=0)),
        "packed_values": packed_values,
        "bits_per_packed_value": (sum(t.count * t.format.width for t in ordered) / packed_values) if ordered else 0.0,
        "tensors": records,
    }
    return container, spec


def unpack_model(container: bytes, spec: Mapping[str, Any], where: str = "packed model") -> bytes:
    """The TFLite flatbuffer ``container`` was packed from, checked against ``spec["tflite_sha256"]``.

    BundleError naming ``where`` and what is wrong for a spec that does not fit the container.
    """
    if spec.get("method") != PACKING_METHOD:
        raise BundleError(f"{where}: packing method is {spec.get('method')!r}; expected {PACKING_METHOD!r}")
    template_bytes = spec["template_bytes"]
    if not isinstance(template_bytes, int) or not 0 <= template_bytes <= len(container):
        raise BundleError(f"{where}: template_bytes is {template_bytes!r}; expected an int in [0, {len(container)}]")
    out = bytearray()
    position = 0
    for i, record in enumerate(spec["tensors"]):
        try:
            fmt = FloatFormat.parse(record["format"], where=f"{where}: tensors[{i}].format")
            start, size = record["packed_offset"], record["packed_bytes"]
            gap = record["offset"] - len(out)
            if gap < 0 or position + gap > template_bytes or start < template_bytes or start + size > len(container):
                raise BundleError(f"{where}: tensors[{i}] ({record['name']!r}) has offsets outside the container "
                                  f"({len(container)} bytes, template {template_bytes}); expected increasing, disjoint ranges")
            out += container[position:position + gap]
            position += gap
            codes = unpack(container[start:start + size], fmt.width, record["count"])
            out += decode(codes, fmt).astype("<f4").tobytes()
        except (KeyError, TypeError) as e:
            raise BundleError(f"{where}: tensors[{i}] is malformed ({type(e).__name__}: {e}); expected name, offset, "
                              "count, format, packed_offset, packed_bytes") from e
        except (ConfigError, ValueError) as e:
            if isinstance(e, BundleError):
                raise
            raise BundleError(f"{where}: tensors[{i}] cannot be unpacked: {e}") from e
    out += container[position:template_bytes]
    tflite = bytes(out)
    if len(tflite) != spec["tflite_bytes"] or _sha256(tflite) != spec["tflite_sha256"]:
        raise BundleError(f"{where}: the unpacked model has {len(tflite)} bytes and sha256 {_sha256(tflite)}; the spec "
                          f"expects {spec['tflite_bytes']} bytes and sha256 {spec['tflite_sha256']} (corrupt file or spec)")
    return tflite
