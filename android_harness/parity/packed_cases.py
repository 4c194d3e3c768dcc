"""Golden cases of packed models: Python's custom-float decoding and unpacking, for the Java core to reproduce.

``python -m android_harness.parity.packed_cases`` (re)writes
``android_harness/core/src/test/resources/packed/cases.json``:

- ``formats``: per format (flush-to-zero and subnormal, signed and unsigned, 0 to 23 mantissa bits,
  negative and float32-wide biases, widths 3 to 32) codes and the float32 bit patterns
  :func:`mmnet.format.custom_float.decode` gives for them: every valid code of the narrow formats, and
  for the wide ones the codes around zero, the subnormal/normal boundary, one, the largest value and a
  pseudo-random sample (both signs);
- ``cases``: small synthetic flatbuffers with several tensors packed by
  :func:`mmnet.format.packed_model.pack_model` (tensors at the start, between other bytes and at the
  end; counts that leave padding bits; codes drawn from every valid code, signed zeros included), each
  with its container (base64), its spec and the sha256 of what :func:`unpack_model` gives back;
- ``corrupt``: containers or specs that must not unpack (a flipped code bit, a set padding bit, a code
  of the reserved exponent, offsets outside the container, a short tensor, a wrong size), each with the
  words Python's error says.

The Java core's ``PackedModelTest`` decodes every format case bit for bit, unpacks every case to the
recorded sha256 and refuses every corrupt one. ``--check`` writes nothing and exits 1 when the
committed file differs from what Python gives now (tests/unit/test_java_packed_cases.py).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from android_harness.parity.golden import golden_main
from mmnet.format.custom_float import FloatFormat, decode
from mmnet.format.errors import BundleError
from mmnet.format.packed_model import PackedTensor, pack_model, unpack_model

__all__ = ["CASES_FILE", "FORMATS", "document", "render", "main"]

CASES_FILE = Path(__file__).resolve().parents[1] / "core" / "src" / "test" / "resources" / "packed" / "cases.json"
_SEED = 20261204
_EVERY_CODE_UP_TO_BITS = 10  # narrower formats list every valid code
_SAMPLE = 200

FORMATS = (
    FloatFormat(2, 0, 0),  # 3 bits: the narrowest (codes 1 and 2 are 2^0 and 2^1)
    FloatFormat(3, 3, 0),
    FloatFormat(3, 3, 1),
    FloatFormat(3, -4, 2),  # a negative bias: exponents 5 … 10
    FloatFormat(4, 7, 3),
    FloatFormat(4, 7, 3, subnormals=True),
    FloatFormat(4, 7, 3, signed=False),
    FloatFormat(2, 0, 5, subnormals=True),
    FloatFormat(5, 20, 6, signed=False, subnormals=True),
    FloatFormat(4, 15, 3),  # §4.4.1's FC8 range -14 … -1
    FloatFormat.ieee_like(5, 10),  # float16
    FloatFormat(6, 31, 5),
    FloatFormat.ieee_like(8, 7),  # bfloat16-like, float32's exponent range with subnormals
    FloatFormat(8, 127, 23),  # 32 bits: float32 without infinities, flushing subnormals
    FloatFormat(8, 127, 23, subnormals=True),
    FloatFormat(7, 126, 0, subnormals=True),  # the bias at its top: exponents -125 … 0
)


def _valid(fmt: FloatFormat, codes: np.ndarray) -> np.ndarray:
    exponent = (codes >> np.uint64(fmt.mantissa_bits)) & np.uint64((1 << fmt.exponent_bits) - 1)
    mantissa = codes & np.uint64((1 << fmt.mantissa_bits) - 1)
    return codes[(exponent < (1 << fmt.exponent_bits) - 1) & (fmt.subnormals | (exponent > 0) | (mantissa == 0))]


def _codes(fmt: FloatFormat, rng: np.random.Generator) -> np.ndarray:
    """Every valid code of a narrow format; the interesting ones and a sample of a wide one."""
    if fmt.width <= _EVERY_CODE_UP_TO_BITS:
        return _valid(fmt, np.arange(1 << fmt.width, dtype=np.uint64))
    m, sign = fmt.mantissa_bits, np.uint64(1 << (fmt.width - 1)) if fmt.signed else np.uint64(0)
    one = max(fmt.bias, 1) << m  # 2^0, or the smallest normal when 1.0 is out of range
    edges = [0, 1, 2, (1 << m) - 1, 1 << m, (1 << m) + 1, one - 1, one, one + 1, fmt.max_magnitude_code - 1,
             fmt.max_magnitude_code]
    codes = np.array([c for c in edges if 0 <= c <= fmt.max_magnitude_code], dtype=np.uint64)
    codes = np.concatenate([codes, codes | sign, rng.integers(0, 1 << fmt.width, _SAMPLE, dtype=np.uint64)])
    return _valid(fmt, np.unique(codes))


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _format_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for fmt in FORMATS:
        codes = _codes(fmt, rng)
        bits = decode(codes, fmt).view(np.uint32)
        out.append({"format": fmt.name, "width": fmt.width, "count": int(codes.size),
                    "codes": _b64(codes, "<u4"), "bits": _b64(bits, "<u4")})
    return out


def _values(fmt: FloatFormat, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` float32 values of ``fmt``, from all of its codes (signed zeros and extremes included)."""
    codes = _codes(fmt, rng)
    picked = np.concatenate([codes[:min(count, 3)], codes[-min(count, 3):], rng.choice(codes, count)])[:count]
    return decode(rng.permutation(picked), fmt)


def _model(rng: np.random.Generator, layout: list[tuple[int, FloatFormat | None]]) -> tuple[bytes, list[PackedTensor]]:
    """A flatbuffer stand-in: random bytes (``fmt`` None) and float32 tensors of ``fmt`` values, in order."""
    data, tensors = bytearray(), []
    for index, (size, fmt) in enumerate(layout):
        if fmt is None:
            data += rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        else:
            tensors.append(PackedTensor(f"layer{index}/kernel", len(data), size, fmt))
            data += _values(fmt, size, rng).astype("<f4").tobytes()
    return bytes(data), tensors


def _case(name: str, tflite: bytes, tensors: list[PackedTensor]) -> dict[str, Any]:
    container, spec = pack_model(tflite, tensors)
    assert unpack_model(container, spec) == tflite
    return {"name": name, "container": base64.b64encode(container).decode("ascii"), "packing": spec,
            "tflite_sha256": hashlib.sha256(tflite).hexdigest()}


def _cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    f = {fmt.name: fmt for fmt in FORMATS}
    layouts = {
        "one-tensor-between-bytes": [(24, None), (13, f["e3m1b3"]), (9, None)],
        "tensors-at-both-ends": [(37, f["e4m3b7"]), (5, None), (21, f["e5m10b15sub"])],
        "every-kind-of-format": [(3, None)] + [
            item for i, fmt in enumerate(FORMATS) for item in ((11 + 7 * i, fmt), (i % 3, None)) if item[0]],
        "adjacent-tensors": [(8, None), (1, f["e2m0b0"]), (129, f["ue4m3b7"]), (64, f["e8m23b127sub"]), (16, None)],
        "no-tensor": [(40, None)],
    }
    out = []
    for name, layout in layouts.items():
        tflite, tensors = _model(rng, layout)
        out.append(_case(name, tflite, tensors))
    return out


def _corrupt(case: dict[str, Any]) -> list[dict[str, Any]]:
    """Changed copies of ``case`` (its first tensor is e4m3b7: one byte per code, no padding) and the words
    of the error each gives in Python."""
    container = base64.b64decode(case["container"])
    spec = case["packing"]
    first = spec["tensors"][0]
    assert first["format"] == "e4m3b7" and first["packed_bytes"] == first["count"]
    e4m3_reserved = 0x78  # exponent code 1111: reserved

    def changed(name: str, data: bytes, new_spec: dict[str, Any]) -> dict[str, Any]:
        try:
            unpack_model(data, new_spec, where=name)
        except BundleError as e:
            words = {"flipped-bit": "corrupt file or spec", "reserved-code": "cannot be unpacked",
                     "packed-offset-past-the-end": "offsets outside the container", "short-tensor": "cannot be unpacked",
                     "wrong-size": "corrupt file or spec", "template-past-the-end": "template_bytes",
                     "padding-bit": "padding bit"}[name]
            assert words in str(e), (name, str(e))
            return {"name": name, "container": base64.b64encode(data).decode("ascii"), "packing": new_spec,
                    "python_error": str(e), "words": words}
        raise AssertionError(f"corrupt case {name} unpacked in Python")

    def with_byte(at: int, value: int) -> bytes:
        return container[:at] + bytes([value]) + container[at + 1:]

    at = first["packed_offset"]
    # the lowest mantissa bit of a normal code: another valid value, so only the sha256 can tell
    normal = next(i for i in range(at, at + first["count"]) if 1 <= (container[i] >> 3) & 0xF <= 14)
    out = [changed("flipped-bit", with_byte(normal, container[normal] ^ 0x01), spec),
           changed("reserved-code", with_byte(at, e4m3_reserved), spec)]
    moved = copy.deepcopy(spec)
    moved["tensors"][-1]["packed_offset"] = len(container)
    out.append(changed("packed-offset-past-the-end", container, moved))
    short = copy.deepcopy(spec)
    short["tensors"][0]["packed_bytes"] -= 1
    out.append(changed("short-tensor", container, short))
    wrong_size = dict(spec, tflite_bytes=spec["tflite_bytes"] + 4)
    out.append(changed("wrong-size", container, wrong_size))
    out.append(changed("template-past-the-end", container, dict(spec, template_bytes=len(container) + 1)))
    # a tensor with padding: 5 codes of 5 bits (e3m1b3) leave 7 padding bits in its last byte
    padded = _case("padded", *_model(np.random.default_rng(1), [(4, None), (5, FloatFormat(3, 3, 1))]))
    data = base64.b64decode(padded["container"])
    out.append(changed("padding-bit", data[:-1] + bytes([data[-1] | 0x80]), padded["packing"]))
    return out


def document() -> dict[str, Any]:
    """The cases file's content."""
    rng = np.random.default_rng(_SEED)
    cases = _cases(rng)
    return {
        "generator": "python -m android_harness.parity.packed_cases",
        "encoding": "codes and bits: little-endian uint32, base64; container: the packed file's bytes, base64",
        "formats": _format_cases(rng),
        "cases": cases,
        "corrupt": _corrupt(next(c for c in cases if c["name"] == "tensors-at-both-ends")),
    }


def render() -> str:
    return json.dumps(document(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    return golden_main("android_harness.parity.packed_cases", CASES_FILE, render,
                       "mmnet.format.custom_float and mmnet.format.packed_model", argv)


if __name__ == "__main__":
    sys.exit(main())
