"""Custom floating-point formats (mmnet.format.custom_float): hand-computed bit patterns, numpy's
float16 and ml_dtypes' float8 types as outside references, an exact rational reference for any
format, and property tests (monotone, idempotent, half-ulp error, every code round-trips, packing).

Code layout in the comments: ``s eeee mmm`` = sign, exponent code E, mantissa code M; a normal
value is (-1)^s × 2^(E - bias) × (1 + M / 2^m).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmnet.format.custom_float import (
    ExponentHistogram,
    FloatFormat,
    code_dtype,
    covering_bias,
    covering_exponent_range,
    decode,
    encode,
    exponent_histogram,
    pack,
    quantize,
    unpack,
)
from mmnet.format.errors import ConfigError, DataError
from tests.support.fuzz import FUZZ

E4M3 = FloatFormat(4, 7, 3)  # the paper's kind: flush to zero
E4M3_SUB = FloatFormat(4, 7, 3, subnormals=True)  # IEEE-style float8 e4m3
FLOAT16 = FloatFormat.ieee_like(5, 10)  # e5m10b15sub


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def bits_of(x: np.ndarray) -> list[int]:
    return [int(b) for b in np.asarray(x, dtype=np.float32).view(np.uint32).reshape(-1)]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(np.asarray(a, np.float32).view(np.uint32), np.asarray(b, np.float32).view(np.uint32))


def codes(x: np.ndarray, fmt: FloatFormat) -> list[int]:
    return [int(c) for c in encode(x, fmt).reshape(-1)]


# --- the format spec ------------------------------------------------------------------------------


def test_names_json_and_derived_numbers():
    assert str(E4M3) == "e4m3b7" and E4M3.width == 8
    # e4m3b7: exponent codes 1…14 (0 is zero, 15 reserved) → exponents 1-7 = -6 … 14-7 = 7
    assert (E4M3.min_exponent, E4M3.max_exponent) == (-6, 7)
    assert E4M3.max_value == 240.0  # 2^7 × (1 + 7/8)
    assert E4M3.min_normal == 2.0 ** -6 and E4M3.min_positive == 2.0 ** -6
    assert E4M3_SUB.min_positive == 2.0 ** -9  # 2^(1 - 7 - 3)
    assert FLOAT16.name == "e5m10b15sub" and FLOAT16.max_value == 65504.0
    unsigned_negative_bias = FloatFormat(3, -4, 2, signed=False)
    assert unsigned_negative_bias.name == "ue3m2b-4" and unsigned_negative_bias.width == 5
    assert unsigned_negative_bias.min_normal == 32.0  # 2^(1 + 4)
    assert unsigned_negative_bias.max_value == 1792.0  # 2^(6 + 4) × 1.75
    for fmt in (E4M3, E4M3_SUB, FLOAT16, unsigned_negative_bias, FloatFormat(8, 127, 0)):
        assert FloatFormat.parse(fmt.name) == fmt
        assert FloatFormat.from_json(json.loads(json.dumps(fmt.to_json()))) == fmt
    assert E4M3.to_json() == {"exponent_bits": 4, "bias": 7, "mantissa_bits": 3, "signed": True, "subnormals": False}
    assert FloatFormat(np.int64(4), np.int64(7), np.int64(3)) == E4M3
    assert hash(FloatFormat(4, 7, 3)) == hash(E4M3)


def test_the_paper_ranges_of_5445():
    # §4.4.1: "e_bw … 5, which covers the range between -14 to +15" (standard bias 15)
    assert (FloatFormat(5, 15, 2).min_exponent, FloatFormat(5, 15, 2).max_exponent) == (-14, 15)
    # "adjusting the bias to 15 reduces e_bw to 4 bits for a final range of -1 to -14"
    assert (FloatFormat(4, 15, 2).min_exponent, FloatFormat(4, 15, 2).max_exponent) == (-14, -1)


@pytest.mark.parametrize("args, kwargs, message", [
    ((1, 0, 3), {}, "format.exponent_bits is 1; expected an int in [2, 8]"),
    ((9, 127, 3), {}, "format.exponent_bits is 9; expected an int in [2, 8]"),
    ((4, 7, 24), {}, "format.mantissa_bits is 24; expected an int in [0, 23]"),
    ((4, 7, -1), {}, "format.mantissa_bits is -1; expected an int in [0, 23]"),
    ((4, 128, 3), {}, "format.bias is 128; expected an int in [-113, 127] for 4 exponent bits"),
    ((8, -1, 3), {}, "format.bias is -1; expected an int in [127, 127] for 8 exponent bits"),
    ((4, 7.0, 3), {}, "format.bias is 7.0; expected an int"),
    ((4, True, 3), {}, "format.bias is True; expected an int"),
    ((4, 7, 3), {"signed": 1}, "format.signed is 1; expected true or false"),
    ((4, 7, 3), {"subnormals": "no"}, "format.subnormals is 'no'; expected true or false"),
])
def test_bad_formats_say_what_was_wrong(args, kwargs, message):
    with pytest.raises(ConfigError) as caught:
        FloatFormat(*args, **kwargs)
    assert message in str(caught.value)


def test_bad_names_and_json_say_where():
    with pytest.raises(ConfigError, match=r"weights\.conv1 is 'e4m3'; expected a format name like 'e4m3b7'"):
        FloatFormat.parse("e4m3", where="weights.conv1")
    with pytest.raises(ConfigError, match=r"layers\[0\] is 'e9m3b7': format.exponent_bits is 9"):
        FloatFormat.parse("e9m3b7", where="layers[0]")
    doc = E4M3.to_json()
    with pytest.raises(ConfigError, match=r"spec.w has unknown key\(s\) \['scale'\]"):
        FloatFormat.from_json({**doc, "scale": 2}, where="spec.w")
    with pytest.raises(ConfigError, match=r"spec.w is missing \['subnormals'\]"):
        FloatFormat.from_json({k: v for k, v in doc.items() if k != "subnormals"}, where="spec.w")
    with pytest.raises(ConfigError, match=r"spec.w.mantissa_bits is 30; expected an int in \[0, 23\]"):
        FloatFormat.from_json({**doc, "mantissa_bits": 30}, where="spec.w")
    with pytest.raises(ConfigError, match=r"spec.w is \[4, 7, 3\]; expected an object"):
        FloatFormat.from_json([4, 7, 3], where="spec.w")


# --- hand-computed bit patterns ---------------------------------------------------------------------


def test_e4m3_normals_extremes_and_saturation():
    # 1.0 = 2^0 × 1.000: E = 0 + 7 = 0111, M = 000        → 0 0111 000 = 0x38
    # max = 2^(14-7) × (1 + 7/8) = 240: E = 1110, M = 111   → 0 1110 111 = 0x77, negative 0xF7
    # min normal 2^(1-7) = 2^-6: E = 0001, M = 000          → 0 0001 000 = 0x08
    # 1000, 1e30, +inf saturate to 0x77; -inf to 0xF7. 248 = 240 + 8 is halfway from 240 to 256
    # (M = 111 odd, so IEEE would round up to 256 = overflow): saturates to 240 as well.
    x = f32(1.0, 240.0, -240.0, 2.0 ** -6, 1000.0, 1e30, np.inf, -np.inf, 248.0, -250.0)
    assert codes(x, E4M3) == [0x38, 0x77, 0xF7, 0x08, 0x77, 0x77, 0x77, 0xF7, 0x77, 0xF7]
    # float32 bits: 1.0 = 0x3F800000; 240 = 2^7 × 1.875 → exponent field 134 = 0x86, fraction
    # 0.875 × 2^23 = 0x700000 → 0x43700000; 2^-6 → field 121 → 0x3C800000
    assert bits_of(quantize(x, E4M3)) == [0x3F800000, 0x43700000, 0xC3700000, 0x3C800000,
                                          0x43700000, 0x43700000, 0x43700000, 0xC3700000, 0x43700000, 0xC3700000]


def test_ties_go_to_even_both_ways_and_carry_into_the_exponent():
    # e4m3 has ulp 1/8 on [1, 2):
    # 1.0625 = 1 + 1/16: halfway between M = 0 (1.0) and M = 1 (1.125) → even M = 0 → 0x38 (down)
    # 1.1875 = 1 + 3/16: halfway between M = 1 (1.125) and M = 2 (1.25) → even M = 2 → 0x3A (up)
    # -1.1875 → 0xBA (the sign does not change the tie)
    # 1.0625 × (1 + 2^-20): just above the tie → M = 1 → 0x39
    # 1.9375 = 1 + 15/16: halfway between M = 7 (1.875) and 2.0 → even is 2.0: the mantissa carries
    #   into the exponent, E = 1000, M = 000 → 0x40; 1.95 rounds there too
    x = f32(1.0625, 1.1875, -1.1875, 1.0625 * (1 + 2.0 ** -20), 1.9375, 1.95)
    assert codes(x, E4M3) == [0x38, 0x3A, 0xBA, 0x39, 0x40, 0x40]
    assert quantize(x, E4M3).tolist() == [1.0, 1.25, -1.25, 1.125, 2.0, 2.0]


def test_negative_zero_is_kept():
    # -0.0: sign 1, everything else 0 → 1 0000 000 = 0x80 → float32 0x80000000
    assert codes(f32(-0.0, 0.0), E4M3) == [0x80, 0x00]
    assert bits_of(quantize(f32(-0.0, 0.0), E4M3)) == [0x80000000, 0x00000000]
    assert bits_of(decode(np.array([0x80], np.uint8), E4M3)) == [0x80000000]
    assert bits_of(quantize(f32(-0.0), FLOAT16)) == [0x80000000]


def test_flush_to_zero_rounds_between_zero_and_min_normal():
    # e4m3b7 without subnormals: Min = 2^-6, Min/2 = 2^-7
    # 2^-7 (the tie)            → 0x00;   2^-7 × (1 + 2^-23) → Min 0x08;   its negative → 0x88
    # 2^-6 × (1 - 2^-24) (the float32 just below Min) → 0x08;   1e-30 → 0x00;   -1e-30 → -0: 0x80
    # 2^-140 (a float32 subnormal) → 0x00
    x = f32(2.0 ** -7, 2.0 ** -7 * (1 + 2.0 ** -23), -(2.0 ** -7) * (1 + 2.0 ** -23), 2.0 ** -6 * (1 - 2.0 ** -24),
            1e-30, -1e-30, 2.0 ** -140)
    assert codes(x, E4M3) == [0x00, 0x08, 0x88, 0x08, 0x00, 0x80, 0x00]
    assert bits_of(quantize(x, E4M3))[-2:] == [0x80000000, 0x00000000]
    # a nonzero mantissa under a zero exponent field is no code of a flush-to-zero format
    with pytest.raises(DataError, match=r"1 code\(s\) are not values of format e4m3b7 \(first at index \(1,\): 1\)"):
        decode(np.array([0x00, 0x01]), E4M3)


def test_subnormals_gradual_underflow():
    # e4m3b7sub: subnormal grid 2^(1 - 7 - 3) = 2^-9, codes 0 0000 MMM = M × 2^-9
    # 2^-9 → 0x01 (float32 2^-9: field 127 - 9 = 118 → 0x3B000000); 7 × 2^-9 → 0x07
    # 2^-10 = half of 2^-9: tie between M = 0 and M = 1 → even 0 → 0x00
    # 3 × 2^-10 = 1.5 × 2^-9: tie between 1 and 2 → 2 → 0x02
    # 7.5 × 2^-9: tie between M = 7 and 8 × 2^-9 = 2^-6 = Min → the subnormal carries into the
    #   smallest normal, E = 1, M = 0 → 0x08
    # 2^-10 × (1 + 2^-23) → 0x01;   -(2^-9) → 0x81;   2^-149 (smallest float32) → 0x00
    x = f32(2.0 ** -9, 7 * 2.0 ** -9, 2.0 ** -10, 3 * 2.0 ** -10, 7.5 * 2.0 ** -9, 2.0 ** -10 * (1 + 2.0 ** -23),
            -(2.0 ** -9), 2.0 ** -149)
    assert codes(x, E4M3_SUB) == [0x01, 0x07, 0x00, 0x02, 0x08, 0x01, 0x81, 0x00]
    assert bits_of(quantize(x[:1], E4M3_SUB)) == [0x3B000000]
    # float16's smallest subnormal 2^-24 (code 0x0001) and largest subnormal 1023 × 2^-24 (0x03FF)
    assert codes(f32(2.0 ** -24, 1023 * 2.0 ** -24), FLOAT16) == [0x0001, 0x03FF]


def test_one_and_zero_mantissa_bits():
    e3m1 = FloatFormat(3, 3, 1)  # values 2^(E-3) × {1, 1.5}, E = 1…6: 0.25 … 12
    # 1.0 → 0 011 0 = 0x06;  1.25 is halfway 1.0 (M = 0) / 1.5 (M = 1) → 1.0, 0x06
    # 1.75 is halfway 1.5 (M = 1) / 2.0 → 2.0: E = 100, M = 0 → 0x08;  -12 → 1 110 1 = 0x1D;  100 → 0x0D
    assert codes(f32(1.0, 1.25, 1.75, -12.0, 100.0), e3m1) == [0x06, 0x06, 0x08, 0x1D, 0x0D]
    e3m0 = FloatFormat(3, 3, 0)  # powers of two 2^(E-3), E = 1…6: 0.25 … 8
    # 1.5 is halfway 1 (E = 3, odd) / 2 (E = 4) → 2: 0 100 = 0x4;  3.0 halfway 2 (E = 4) / 4 → 2: 0x4
    # 1.4 → 1: 0x3;  -8 → 1 110 = 0xE;  100 → 8: 0x6;  0.125 = Min/2 → 0;  0.13 → Min 0.25: 0x1
    assert codes(f32(1.5, 3.0, 1.4, -8.0, 100.0, 0.125, 0.13), e3m0) == [0x4, 0x4, 0x3, 0xE, 0x6, 0x0, 0x1]
    assert quantize(f32(1.5, 3.0, 1.4), e3m0).tolist() == [2.0, 2.0, 1.0]
    # with 0 mantissa bits "even" is the exponent code's parity, which depends on the bias:
    # e3m0b4: 3.0 is halfway 2 (E = 1 + 4 = 5, odd) / 4 (E = 6) → 4: 0 110 = 0x6;
    #         1.5 is halfway 1 (E = 4, even) / 2 (E = 5) → 1: 0 100 = 0x4
    assert codes(f32(3.0, 1.5), FloatFormat(3, 4, 0)) == [0x6, 0x4]


def test_bfloat16_like_e8m7():
    # e8m7b127 has float32's exponent range, so its code is float32's top 16 bits rounded:
    # code = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 — 1.0 = 0x3F800000 → 0x3F80;
    # 1 + 2^-8 = 0x3F808000 is a tie, kept even → 0x3F80; 1 + 3 × 2^-8 = 0x3F818000 → 0x3F82
    # float32 max 0x7F7FFFFF would round to 0x7F80 (bfloat16's inf): saturates to 0x7F7F instead
    bf16 = FloatFormat.ieee_like(8, 7)
    x = f32(1.0, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, np.finfo(np.float32).max, -np.inf)
    assert codes(x, bf16) == [0x3F80, 0x3F80, 0x3F82, 0x7F7F, 0xFF7F]
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 0x7F7F0000, 20_000, dtype=np.uint32)  # positive finite float32s below bf16 max
    expected = (bits.astype(np.uint64) + 0x7FFF + ((bits >> 16) & 1)) >> 16
    assert np.array_equal(encode(bits.view(np.float32), bf16), expected)


def test_unsigned_formats():
    u = FloatFormat(4, 7, 3, signed=False)  # 7 bits: eeee mmm
    assert codes(f32(1.0, 240.0, 1e9, -0.0), u) == [0x38, 0x77, 0x77, 0x00]
    assert encode(f32(1.0), u).dtype == np.uint8
    assert bits_of(quantize(f32(-0.0), u)) == [0x00000000]  # no sign bit: -0 becomes +0
    with pytest.raises(DataError, match=r"1 negative value\(s\) \(first at index \(1,\): -1.0\); unsigned format ue4m3b7"):
        encode(f32(1.0, -1.0), u)


def test_nan_raises_and_other_bad_input():
    with pytest.raises(DataError, match=r"holds 2 NaN value\(s\) \(first at index \(0, 1\)\); format e4m3b7 has no NaN"):
        quantize(np.array([[1.0, np.nan], [np.nan, 2.0]], np.float32), E4M3)
    with pytest.raises(DataError, match="has dtype float64; expected float32"):
        quantize(np.array([1.0]), E4M3)
    with pytest.raises(DataError, match="expected 8-bit codes, exponent field below 15"):
        decode(np.array([0x78]), E4M3)  # 0 1111 000: the reserved exponent code
    with pytest.raises(DataError, match="expected 8-bit codes"):
        decode(np.array([0x100]), E4M3)
    with pytest.raises(DataError, match="negative value"):
        decode(np.array([-1]), E4M3)


def test_shapes_and_code_dtypes():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8
    assert encode(x, E4M3).shape == (2, 3, 4) and encode(x, E4M3).dtype == np.uint8
    assert encode(x, FLOAT16).dtype == np.uint16 and encode(x, FloatFormat(8, 127, 23)).dtype == np.uint32
    assert quantize(x, E4M3).shape == (2, 3, 4) and quantize(x, E4M3).dtype == np.float32
    scalar = quantize(np.float32(1.0625), E4M3)  # a 0-d input stays 0-d
    assert scalar.shape == () and float(scalar) == 1.0 and encode(np.float32(-0.0), E4M3).shape == ()
    assert code_dtype(1) == np.uint8 and code_dtype(9) == np.uint16 and code_dtype(17) == np.uint32


# --- outside references ---------------------------------------------------------------------------


def test_float16_equals_numpy_for_every_finite_float16_and_random_float32():
    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    finite = every[np.isfinite(every)].astype(np.float32)  # 63488 values, subnormals and ±0 included
    assert same_bits(quantize(finite, FLOAT16), finite)
    assert np.array_equal(encode(finite, FLOAT16), finite.astype(np.float16).view(np.uint16))
    rng = np.random.default_rng(16)
    x = (rng.standard_normal(300_000) * np.exp2(rng.uniform(-28, 16, 300_000))).astype(np.float32)
    x = x[np.abs(x) <= 65504]
    # the exact midpoints between neighbouring float16s (float32 holds them exactly): ties both ways
    lo = finite[np.abs(finite) < 65504]
    midpoints = ((lo.astype(np.float64) + np.nextafter(lo.astype(np.float16), np.float16(np.inf)).astype(np.float64)) / 2)
    x = np.concatenate([x, midpoints.astype(np.float32)])
    assert same_bits(quantize(x, FLOAT16), x.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("dtype_name, fmt", [
    ("float8_e5m2", FloatFormat.ieee_like(5, 2)),  # IEEE-like: same finite values, max 57344
    ("float8_e4m3", FloatFormat.ieee_like(4, 3)),  # IEEE-like: same finite values, max 240
    # e4m3fn has no inf and uses exponent code 15 for normals up to 448 (only S.1111.111 is NaN);
    # this format reserves code 15 as the paper's ranges do, so the two agree up to 240 only
    ("float8_e4m3fn", FloatFormat.ieee_like(4, 3)),
    ("float8_e3m4", FloatFormat.ieee_like(3, 4)),
])
def test_float8_equals_ml_dtypes_within_range(dtype_name, fmt):
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes comes with TensorFlow/JAX; not a dependency")
    dtype = getattr(ml_dtypes, dtype_name)
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(100_000) * np.exp2(rng.uniform(-22, 17, 100_000))).astype(np.float32)
    x = x[np.abs(x) <= fmt.max_value]
    assert same_bits(quantize(x, fmt), x.astype(dtype).astype(np.float32))
    # above the range they differ by design: ml_dtypes overflows to inf (e5m2, e4m3) or keeps
    # e4m3fn's extra binade; here everything saturates to max_value
    assert quantize(f32(1e6), fmt).tolist() == [fmt.max_value]


# --- an exact reference for any format -----------------------------------------------------------


def reference(value: float, fmt: FloatFormat) -> float:
    """Round ``value`` to ``fmt`` in exact rational arithmetic, straight from the definition."""
    if math.isinf(value):
        return math.copysign(fmt.max_value, value)
    x = Fraction(value)
    if x == 0:
        return math.copysign(0.0, value) if fmt.signed else 0.0
    sign = -1 if x < 0 else 1
    x = abs(x)
    min_normal = Fraction(2) ** fmt.min_exponent
    if x < min_normal and not fmt.subnormals:
        rounded = min_normal if x > min_normal / 2 else Fraction(0)
    else:
        exponent = max(math.floor(math.log2(x)), fmt.min_exponent)
        while Fraction(2) ** exponent > x and exponent > fmt.min_exponent:  # log2 of a Fraction may be off by one
            exponent -= 1
        while Fraction(2) ** (exponent + 1) <= x:
            exponent += 1
        quantum = Fraction(2) ** (exponent - fmt.mantissa_bits)
        n = math.floor(x / quantum)  # x lies between the neighbours n × quantum and (n + 1) × quantum
        if x / quantum - n == Fraction(1, 2):  # a tie: to the neighbour with the even code
            # with m >= 1 a code's last bit is n's; with m = 0, n = 1 is 2^exponent (exponent code
            # exponent + bias), n = 2 the next power of two, and n = 0 zero (code 0)
            even = n % 2 == 0 if fmt.mantissa_bits or n == 0 else (exponent + fmt.bias + n - 1) % 2 == 0
            n += 0 if even else 1
        else:
            n += 1 if x / quantum - n > Fraction(1, 2) else 0
        rounded = n * quantum
    rounded = min(rounded, Fraction(fmt.max_value))
    return math.copysign(float(rounded), sign)


def _format(exponent_bits: int) -> st.SearchStrategy[FloatFormat]:
    low, high = (1 << exponent_bits) - 129, 127  # every bias that keeps the format inside float32
    return st.builds(lambda bias, m, signed, sub: FloatFormat(exponent_bits, bias, m, signed=signed, subnormals=sub),
                     st.sampled_from([low, high, (1 << (exponent_bits - 1)) - 1]) | st.integers(low, high),
                     st.sampled_from([0, 1, 22, 23]) | st.integers(0, 23), st.booleans(), st.booleans())


formats = st.integers(2, 8).flatmap(_format)
float32_bit_patterns = st.integers(0, 0xFFFFFFFF).filter(lambda b: (b & 0x7FFFFFFF) <= 0x7F800000)


def as_f32(patterns: list[int]) -> np.ndarray:
    return np.array(patterns, dtype=np.uint32).view(np.float32)


def near_format(fmt: FloatFormat) -> st.SearchStrategy[float]:
    """float32 values around the format's range (where rounding, underflow and saturation happen),
    and exact midpoints between neighbouring format values (the ties), subnormal grid included."""
    exponents = st.integers(max(fmt.min_exponent - fmt.mantissa_bits - 3, -149), min(fmt.max_exponent + 2, 127))
    anywhere = st.builds(lambda mantissa, exponent: float(np.float32(math.ldexp(mantissa, exponent))),
                         st.floats(1.0, 2.0, exclude_max=True, width=32), exponents)
    m = fmt.mantissa_bits
    ties = st.builds(lambda k, exponent: float(np.float32(math.ldexp(k + 0.5, exponent - m))),
                     st.integers(0, (2 << m) - 1), st.integers(fmt.min_exponent, min(fmt.max_exponent + 1, 127)))
    return st.builds(lambda value, negative: -value if negative else value, anywhere | ties, st.booleans())


@pytest.mark.fuzz
@FUZZ
@given(data=st.data(), fmt=formats)
def test_fuzz_quantize_is_the_exact_rounding(data, fmt):
    values = data.draw(st.lists(near_format(fmt), min_size=1, max_size=40))
    values += [float(v) for v in as_f32(data.draw(st.lists(float32_bit_patterns, max_size=10)))]
    if not fmt.signed:
        values = [abs(v) for v in values]
    x = np.array(values, dtype=np.float32)
    got = quantize(x, fmt)
    expected = np.array([reference(float(v), fmt) for v in x], dtype=np.float32)
    assert same_bits(got, expected), (fmt, x[~(got.view(np.uint32) == expected.view(np.uint32))])
    assert same_bits(decode(encode(x, fmt), fmt), got)


@pytest.mark.fuzz
@FUZZ
@given(data=st.data(), fmt=formats)
def test_fuzz_monotone_idempotent_and_within_half_an_ulp(data, fmt):
    values = data.draw(st.lists(near_format(fmt), min_size=2, max_size=60))
    x = np.sort(np.abs(np.array(values, dtype=np.float32)) if not fmt.signed else np.array(values, dtype=np.float32))
    q = quantize(x, fmt)
    assert np.all(np.diff(q.astype(np.float64)) >= 0)  # monotone (non-decreasing on sorted input)
    assert same_bits(quantize(q, fmt), q)  # idempotent
    in_range = np.abs(x) <= fmt.max_value
    xs, qs = x[in_range].astype(np.float64), q[in_range].astype(np.float64)
    exponent = np.floor(np.log2(np.maximum(np.abs(xs), 2.0 ** -160)))
    if fmt.subnormals:
        half_ulp = np.exp2(np.maximum(exponent, fmt.min_exponent) - fmt.mantissa_bits - 1)
    else:  # below min_normal the neighbours are 0 and min_normal
        half_ulp = np.where(np.abs(xs) < fmt.min_normal, fmt.min_normal / 2,
                            np.exp2(exponent - fmt.mantissa_bits - 1))
    assert np.all(np.abs(qs - xs) <= half_ulp)


def test_float32_itself_is_the_identity_and_its_subnormals_flush():
    # e8m23b127sub is float32: every finite float32 (subnormals, ±0 and the extremes) maps to itself
    rng = np.random.default_rng(32)
    patterns = np.concatenate([rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32),
                               np.array([0, 1, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0x80000001, 0xFF7FFFFF], np.uint32)])
    x = patterns[(patterns & 0x7FFFFFFF) < 0x7F800000].view(np.float32)
    fp32 = FloatFormat.ieee_like(8, 23)
    assert same_bits(quantize(x, fp32), x)
    assert np.array_equal(encode(x, fp32), x.view(np.uint32))
    # without subnormals, float32's subnormals flush: 0x00400000 = 2^-127 = Min/2 (the tie) → 0,
    # 0x00400001 → Min = 2^-126 (0x00800000); negative ones keep the sign
    ftz = FloatFormat(8, 127, 23)
    assert bits_of(quantize(as_f32([0x00000001, 0x00400000, 0x00400001, 0x807FFFFF]), ftz)) == [
        0x00000000, 0x00000000, 0x00800000, 0x80800000]


@pytest.mark.parametrize("fmt", [E4M3, E4M3_SUB, FloatFormat(3, 3, 0), FloatFormat(2, 0, 5, subnormals=True),
                                 FloatFormat(5, 20, 6, signed=False), FLOAT16, FloatFormat(6, 31, 5)])
def test_every_code_round_trips(fmt):
    every = np.arange(1 << fmt.width, dtype=np.uint32)
    exponent_code = (every >> fmt.mantissa_bits) & ((1 << fmt.exponent_bits) - 1)
    mantissa_code = every & ((1 << fmt.mantissa_bits) - 1)
    valid = (exponent_code < (1 << fmt.exponent_bits) - 1) & (fmt.subnormals | (exponent_code > 0) | (mantissa_code == 0))
    values = decode(every[valid], fmt)
    assert np.array_equal(encode(values, fmt), every[valid])
    positive = values[values > 0]
    assert positive.max() == fmt.max_value and positive.min() == fmt.min_positive


# --- packing --------------------------------------------------------------------------------------


def test_pack_bit_order_by_hand():
    # [1, 2, 3] at 3 bits, LSB first: stream bits 0-2 = 1,0,0; 3-5 = 0,1,0; 6-8 = 1,1,0
    # byte 0 = bits 0, 4, 6, 7 set = 1 + 16 + 64 + 128 = 0xD1; byte 1 = bit 8 = 0 (the rest padding)
    assert pack(np.array([1, 2, 3]), 3) == b"\xd1\x00"
    # [0xABC, 0x123] at 12 bits: the stream is the 24-bit little-endian integer 0x123ABC
    assert pack(np.array([0xABC, 0x123], np.uint16), 12) == b"\xbc\x3a\x12"
    assert pack(np.array([0xABC], np.uint16), 12) == b"\xbc\x0a"
    assert pack(np.array([], np.uint8), 5) == b""
    assert unpack(b"\xbc\x3a\x12", 12, 2).tolist() == [0xABC, 0x123]
    assert unpack(b"\xd1\x00", 3, 3).dtype == np.uint8


def test_pack_and_unpack_refuse_what_does_not_fit():
    with pytest.raises(DataError, match=r"a code to pack is 8; expected codes in \[0, 7\] for 3 bits"):
        pack(np.array([1, 8]), 3)
    with pytest.raises(DataError, match="a code to pack is -1"):
        pack(np.array([-1]), 3)
    with pytest.raises(DataError, match="the packed data is 1 bytes; expected 2 for 3 codes of 3 bits"):
        unpack(b"\xd1", 3, 3)
    with pytest.raises(DataError, match="padding bit"):
        unpack(b"\xd1\x80", 3, 3)
    with pytest.raises(ConfigError, match="bits is 33; expected an int in"):
        pack(np.array([1]), 33)


@pytest.mark.fuzz
@FUZZ
@given(bits=st.integers(2, 16), data=st.data())
def test_fuzz_pack_unpack_round_trip(bits, data):
    values = data.draw(st.lists(st.integers(0, (1 << bits) - 1), max_size=200))
    codes_in = np.array(values, dtype=code_dtype(bits))
    packed = pack(codes_in, bits)
    assert len(packed) == (len(values) * bits + 7) // 8
    assert np.array_equal(unpack(packed, bits, len(values)), codes_in)


def test_pack_round_trip_every_width_and_across_chunks():
    rng = np.random.default_rng(3)
    for bits in range(1, 33):
        codes_in = rng.integers(0, 1 << bits, 1000 + bits, dtype=np.uint64).astype(code_dtype(bits))
        assert np.array_equal(unpack(pack(codes_in, bits), bits, codes_in.size), codes_in), bits
    big = rng.integers(0, 1 << 7, (1 << 16) * 2 + 13, dtype=np.uint64).astype(np.uint8)  # three chunks
    assert np.array_equal(unpack(pack(big, 7), 7, big.size), big)
    fmt_codes = encode(rng.standard_normal(999).astype(np.float32), E4M3)
    assert np.array_equal(unpack(pack(fmt_codes, E4M3.width), E4M3.width, 999), fmt_codes)


# --- exponent statistics --------------------------------------------------------------------------


def test_exponent_histogram_counts_floor_log2_of_nonzero_values():
    # 1.0 → 0; 1.5 → 0; -3 → 1; 0.25 → -2; 2^-130 (float32 subnormal) → -130; 2^-149 → -149; zeros skipped
    hist = exponent_histogram(f32(1.0, 1.5, -3.0, 0.25, 2.0 ** -130, 2.0 ** -149, 0.0, -0.0, 3e38))
    assert hist.as_dict() == {-149: 1, -130: 1, -2: 1, 0: 2, 1: 1, 127: 1}
    assert hist.total == 7
    assert (hist + hist).as_dict()[0] == 4
    with pytest.raises(DataError, match="NaN or infinite"):
        exponent_histogram(f32(1.0, np.inf))


def fc8_like() -> ExponentHistogram:
    # §4.4.1's AlexNet FC8 weights: exponents from -4 to -32, "more than 99.5% … between -5 and -14"
    counts = {e: 1000 for e in range(-14, -4)}  # 10,000 values in -14 … -5
    counts.update({-4: 10, -20: 10, -32: 10})  # 30 outliers: 10,000 / 10,030 = 99.7%
    return ExponentHistogram.from_dict(counts)


def test_covering_exponent_range_reproduces_the_paper_example():
    # narrowest window with >= 99.5% (9,979.85 values): no 9-exponent window holds more than 9,000;
    # of the 10-wide ones [-14, -5] holds 10,000. bias = 1 - (-14) = 15;
    # e_bw = ceil(log2(-5 - (-14) + 3)) = ceil(log2 12) = 4 → exponents -14 … -1 (the paper's "-1 to -14")
    assert covering_exponent_range(fc8_like()) == (4, 15)
    # everything: the window -32 … -4 → e_bw = ceil(log2(-4 - (-32) + 3)) = ceil(log2 31) = 5, bias 1 + 32 = 33
    assert covering_exponent_range(fc8_like(), coverage=1.0) == (5, 33)
    # one exponent still needs 2 bits (codes 1 and 2 normal); bias = 1 - 3 = -2
    assert covering_exponent_range(ExponentHistogram.from_dict({3: 5})) == (2, -2)
    # a window at float32's top: bias = 1 - 127 = -126 would put the format's top exponent at
    # 2^2 - 2 + 126 = 128, so the bias is raised to -125 (exponents 126 … 127)
    assert covering_exponent_range(ExponentHistogram.from_dict({127: 5})) == (2, -125)
    assert covering_exponent_range(ExponentHistogram.from_dict({127: 1, 126: 1})) == (2, -125)
    fmt = FloatFormat(2, -125, 0)
    assert (fmt.min_exponent, fmt.max_exponent) == (126, 127)
    # float32 subnormal exponents cannot be normals of any format: the window starts at -126
    assert covering_exponent_range(ExponentHistogram.from_dict({-149: 1, -126: 1})) == (2, 127)


def test_covering_bias_for_each_width():
    hist = fc8_like()
    # 4 bits: 14 exponents. Best: -14 … -4 plus room (10,010 values); windows from -17 … -4 up to
    # -14 … -1 tie, the highest wins: bias 1 - (-14) = 15 (the paper's)
    assert covering_bias(hist, 4) == (15, 10_010 / 10_030)
    # 3 bits: 6 exponents, 6,000 at best; ties from [-14, -9] to [-10, -5], highest: bias 1 - (-10) = 11
    assert covering_bias(hist, 3) == (11, 6_000 / 10_030)
    assert covering_bias(hist, 2) == (7, 2_000 / 10_030)  # [-6, -5]
    assert covering_bias(hist, 8)[1] == 1.0
    with pytest.raises(DataError, match="counts no nonzero value"):
        covering_bias(exponent_histogram(f32(0.0, -0.0)), 4)
    with pytest.raises(ConfigError, match="exponent_bits is 1"):
        covering_bias(hist, 1)
