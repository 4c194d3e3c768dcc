"""Packed models (mmnet.format.packed_model): float32 tensors cut out of a flatbuffer, stored at their
custom-float widths, spliced back bit for bit; hand-computed bit patterns."""

from __future__ import annotations

import numpy as np
import pytest

from mmnet.format.custom_float import FloatFormat
from mmnet.format.errors import BundleError, ConfigError
from mmnet.format.packed_model import PackedTensor, pack_model, unpack_model

E3M1B3 = FloatFormat(3, 3, 1)  # 5 bits: sign | 3 exponent bits | 1 mantissa bit


def _model(values: list[float], tail: bytes = b"TAIL") -> bytes:
    return b"HEAD" + np.asarray(values, "<f4").tobytes() + tail


def test_packs_hand_computed_codes_lsb_first_and_unpacks_the_same_bytes():
    # 1.0 = 2^0: exponent code 0 + 3 = 3, mantissa 0 -> 0b0_011_0 = 6; -0.5: sign, code 2 -> 0b1_010_0 = 20;
    # 0.0 -> 0; 1.5: code 3, mantissa 1 -> 0b0_011_1 = 7. Five bits each, LSB first:
    # byte 0 = bits 0-7 = 0,1,1,0,0 | 0,0,1 = 0x86; byte 1 = 0,1 | 0,0,0,0,0 | 1 = 0x82; byte 2 = 1,1,0,0 + padding = 0x03
    tflite = _model([1.0, -0.5, 0.0, 1.5])
    container, spec = pack_model(tflite, [PackedTensor("w", 4, 4, E3M1B3)])
    assert container == b"HEADTAIL" + bytes([0x86, 0x82, 0x03])
    assert spec["template_bytes"] == 8 and spec["tflite_bytes"] == 24
    assert spec["tensors"] == [{"name": "w", "offset": 4, "count": 4, "format": "e3m1b3", "packed_bytes": 3,
                                "packed_offset": 8}]
    assert spec["bits_per_packed_value"] == 5.0 and spec["packed_values"] == 4
    assert unpack_model(container, spec) == tflite


def test_two_tensors_keep_their_order_signed_zeros_and_the_bytes_between_them():
    first, second = [0.25, -0.0, 3.0], [-1.0, 0.75]
    tflite = b"AB" + np.asarray(first, "<f4").tobytes() + b"MIDDLE" + np.asarray(second, "<f4").tobytes() + b"Z"
    tensors = [PackedTensor("b", 2 + 12 + 6, 2, E3M1B3), PackedTensor("a", 2, 3, FloatFormat(3, 3, 2))]
    container, spec = pack_model(tflite, tensors)  # given out of order on purpose
    assert container.startswith(b"ABMIDDLEZ") and [t["name"] for t in spec["tensors"]] == ["a", "b"]
    back = unpack_model(container, spec)
    assert back == tflite and np.signbit(np.frombuffer(back, "<f4", 3, 2))[1]  # -0.0 kept


def test_refuses_values_the_format_cannot_hold_and_overlapping_ranges():
    with pytest.raises(ConfigError, match=r"'w': value 1\.25.* not exactly representable in e3m1b3"):
        pack_model(_model([1.0, 1.25]), [PackedTensor("w", 4, 2, E3M1B3)])
    with pytest.raises(ConfigError, match="overlapping another or past the end"):
        pack_model(_model([1.0, 1.5]), [PackedTensor("a", 4, 2, E3M1B3), PackedTensor("b", 8, 1, E3M1B3)])
    with pytest.raises(ConfigError, match="count is 0"):
        PackedTensor("w", 4, 0, E3M1B3)


def test_a_corrupt_container_or_spec_never_unpacks_to_a_model():
    tflite = _model([1.0, -0.5, 0.0, 1.5])
    container, spec = pack_model(tflite, [PackedTensor("w", 4, 4, E3M1B3)])
    flipped = container[:-3] + bytes([0x87]) + container[-2:]  # one code bit: 6 -> 7, a different value
    with pytest.raises(BundleError, match=r"sha256 .*\(corrupt file or spec\)"):
        unpack_model(flipped, spec, where="models/x.packed")
    with pytest.raises(BundleError, match="offsets outside the container"):
        unpack_model(container, {**spec, "tensors": [{**spec["tensors"][0], "packed_offset": 100}]})
    with pytest.raises(BundleError, match="packing method is 'zip'"):
        unpack_model(container, {**spec, "method": "zip"})
    with pytest.raises(BundleError, match="tensors\\[0\\] is malformed"):
        unpack_model(container, {**spec, "tensors": [{"name": "w"}]})


def test_unpacked_once_into_the_cache_and_rewritten_when_the_cached_copy_is_wrong(tmp_path, monkeypatch):
    from mmnet.format.bundle import unpacked_model_path

    monkeypatch.setenv("MMNET_CACHE_DIR", str(tmp_path / "cache"))
    tflite = _model([1.0, -0.5, 0.0, 1.5])
    container, spec = pack_model(tflite, [PackedTensor("w", 4, 4, E3M1B3)])
    packed = tmp_path / "m.packed"
    packed.write_bytes(container)
    path = unpacked_model_path(packed, spec, where="models[0].file")
    assert path == tmp_path / "cache" / "unpacked" / f"{spec['tflite_sha256']}.tflite" and path.read_bytes() == tflite
    path.write_bytes(b"X" * len(tflite))  # an edited cache file is never run: it is unpacked again
    assert unpacked_model_path(packed, spec, where="models[0].file").read_bytes() == tflite
