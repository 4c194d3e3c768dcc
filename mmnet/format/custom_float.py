"""Custom floating-point number formats: exact emulation, codes and dense bit packing.

A :class:`FloatFormat` is a small binary floating-point format ``(exponent_bits, bias,
mantissa_bits, signed)`` in the style of the SIEVE speculative CNN (dissertation §4.4.1): one sign
bit (unless unsigned), ``e`` exponent bits with an adjustable bias ``b``, and ``m`` mantissa bits
with an implicit leading one. A normal value is ``(-1)^s × 2^(E - b) × (1 + M / 2^m)`` for the
stored exponent code ``E`` and mantissa code ``M``.

Codes, as in IEEE 754 (the paper's own ranges, below, follow that reservation):

- ``E = 0``: zero (``M = 0``), or with ``subnormals=True`` the subnormal ``M × 2^(1 - b - m)``;
  with ``subnormals=False`` (flush to zero, the default) ``E = 0, M != 0`` is not a valid code.
- ``1 <= E <= 2^e - 2``: normal numbers, unbiased exponents ``1 - b`` … ``2^e - 2 - b``.
- ``E = 2^e - 1``: reserved and never produced. The format has no infinity and no NaN; values too
  large saturate to the largest finite value. §4.4.1 counts ranges this way: "e_bw … 5, which
  covers the range between -14 to +15" (bias 15: codes 1…30), and "adjusting the bias to 15
  reduces e_bw to 4 bits for a final range of -1 to -14" (codes 1…14).

Conversion from float32 (:func:`encode`, :func:`quantize`) is exact and vectorised: integer
arithmetic on the float32 bit pattern, never a float operation that could round twice.

- Rounding: to nearest, ties to the neighbour whose code is even (the even mantissa; with 0
  mantissa bits, the even exponent code); a carry out of the mantissa moves to the next binade
  (and past the top one into saturation).
- Overflow: ``|x|`` above the largest finite value (infinities included) saturates to ``±max``.
- Underflow, ``subnormals=False`` (the paper's compressor, see below): ``|x| <= min_normal / 2``
  becomes zero, ``min_normal / 2 < |x| < min_normal`` becomes ``min_normal``: round to nearest
  between 0 and the smallest normal, the tie at ``min_normal / 2`` going to zero.
- Underflow, ``subnormals=True``: gradual underflow onto the subnormal grid ``2^(1 - b - m)``
  with the same round-to-nearest-even (IEEE 754; with ``FloatFormat(5, 15, 10, subnormals=True)``
  the result is numpy's float16 round trip bit for bit).
- Zeros keep their sign, and so do values that underflow to zero (``-1e-30 → -0.0``); an unsigned
  format maps ``-0.0`` to ``+0.0``.
- NaN input raises :class:`DataError` (the format has no NaN to carry it, and a NaN in weights or
  activations is a bug upstream, not a value to round); so does a negative nonzero value for an
  unsigned format.

Why flush to zero by default: §4.4.2 lists the constants the compressor engine (Figure 4.11) is fed
— "Min, Min/2, Max, Sign Shift, Adjusted bias, Exponent Mask, Exponent Shift and Mantissa Shift".
``Max`` is the saturation bound; ``Min`` and ``Min/2`` only make sense as a round-to-nearest
choice between zero and the smallest normal, i.e. no subnormals. The text does not say which way
the tie at exactly ``Min/2`` goes, nor how the mantissa is rounded (the figure did not survive the
text extraction; a "Mantissa Shift" alone would truncate): round to nearest even is this module's
choice, and ``subnormals=True`` gives the IEEE behaviour for native formats such as float16.

Packing (:func:`pack`, :func:`unpack`): codes of ``width`` bits are laid end to end, LSB first:
bit ``j`` of code ``i`` is bit ``i*width + j`` of the stream, and stream bit ``k`` is bit
``k % 8`` (value ``1 << (k % 8)``) of byte ``k // 8``. The last byte is zero-padded.

Exponent statistics for the format search (§4.4.1): :func:`exponent_histogram` counts the unbiased
exponents ``floor(log2 |x|)`` of the nonzero values, :func:`covering_exponent_range` picks the
exponent width and bias that cover a fraction of them, :func:`covering_bias` the best bias for a
given width. Sign conventions: the paper writes ``b = 1 - min|e|`` and
``e_bw = ceil(log2(max|e| - b - 2))``; read literally on its own AlexNet FC8 example (covered
exponents -14 … -5) they give ``b = 1 - 5 = -4`` and the log of a negative number, while the text
says the result is bias 15, 4 bits, range -1 … -14. The reading that reproduces the example, used
here, is in signed exponents: ``b = 1 - e_lo`` for the lowest covered exponent ``e_lo`` (stored code
1 is the smallest normal, ``2^e_lo``) and ``e_bw = ceil(log2(e_hi + b + 2)) = ceil(log2(e_hi - e_lo
+ 3))``, the window's ``e_hi - e_lo + 1`` exponents plus the two reserved codes. FC8:
``b = 1 - (-14) = 15``, ``e_bw = ceil(log2 12) = 4``, a format spanning -14 … -1.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmnet.format.checks import check_bool, check_int, check_number, fail
from mmnet.format.errors import ConfigError, DataError

__all__ = [
    "FloatFormat",
    "ExponentHistogram",
    "quantize",
    "encode",
    "decode",
    "pack",
    "unpack",
    "code_dtype",
    "exponent_histogram",
    "covering_exponent_range",
    "covering_bias",
    "MIN_EXPONENT_BITS",
    "MAX_EXPONENT_BITS",
    "MAX_MANTISSA_BITS",
]

MIN_EXPONENT_BITS = 2  # one exponent bit leaves no normal code once 0 and 2^e - 1 are reserved
MAX_EXPONENT_BITS = 8  # every format value is a float32 value
MAX_MANTISSA_BITS = 23
MAX_PACK_BITS = 32

_F32_MANTISSA = 23
_F32_BIAS = 127
_F32_MIN_EXP = -126  # smallest normal float32 exponent
_F32_MAX_EXP = 127
_F32_INF_BITS = 0x7F800000
_HIST_LOW = -149  # float32's smallest subnormal is 2^-149
_HIST_HIGH = 127
_HIST_SIZE = _HIST_HIGH - _HIST_LOW + 1

_NAME = re.compile(r"^(u?)e([0-9]+)m([0-9]+)b(-?[0-9]+)(sub)?$")
_JSON_KEYS = ("exponent_bits", "bias", "mantissa_bits", "signed", "subnormals")


@dataclass(frozen=True)
class FloatFormat:
    """A custom floating-point format; validates itself on construction (:class:`ConfigError`).

    ``exponent_bits`` in [2, 8], ``mantissa_bits`` in [0, 23], and a ``bias`` that keeps every
    value a float32 normal or (for subnormals) an exact float32: ``1 - bias >= -126`` and
    ``2^e - 2 - bias <= 127``. ``str(fmt)`` is the canonical name, e.g. ``e4m3b7``, ``ue4m3b7``
    (unsigned), ``e5m10b15sub`` (with subnormals), ``e3m2b-4`` (negative bias).
    """

    exponent_bits: int
    bias: int
    mantissa_bits: int
    signed: bool = True
    subnormals: bool = False

    def __post_init__(self) -> None:
        check_int("format.exponent_bits", self.exponent_bits, low=MIN_EXPONENT_BITS, high=MAX_EXPONENT_BITS)
        check_int("format.mantissa_bits", self.mantissa_bits, low=0, high=MAX_MANTISSA_BITS)
        low, high = (1 << self.exponent_bits) - 2 - _F32_MAX_EXP, 1 - _F32_MIN_EXP
        check_int("format.bias", self.bias, low=None, high=None)
        if not low <= self.bias <= high:
            raise ConfigError(
                f"format.bias is {self.bias!r}; expected an int in [{low}, {high}] for {self.exponent_bits} exponent bits "
                f"(the format's exponents 1 - bias … 2^e - 2 - bias must lie within float32's normal range -126 … 127)"
            )
        check_bool("format.signed", self.signed)
        check_bool("format.subnormals", self.subnormals)
        # numpy ints pass check_int; keep plain ints so equality, hashing and JSON are plain
        for name in ("exponent_bits", "bias", "mantissa_bits"):
            object.__setattr__(self, name, int(getattr(self, name)))

    # --- names and JSON ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The canonical string form, e.g. ``e4m3b7``; :meth:`parse` reads it back."""
        return (f"{'' if self.signed else 'u'}e{self.exponent_bits}m{self.mantissa_bits}b{self.bias}"
                f"{'sub' if self.subnormals else ''}")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: Any, where: str = "format") -> FloatFormat:
        """The format named ``text`` (:attr:`name`); ConfigError naming ``where`` when it is not one."""
        match = _NAME.match(text) if isinstance(text, str) else None
        if match is None:
            raise fail(where, text, "a format name like 'e4m3b7' ([u]e<exponent bits>m<mantissa bits>b<bias>[sub])")
        unsigned, exponent_bits, mantissa_bits, bias, sub = match.groups()
        try:
            return cls(int(exponent_bits), int(bias), int(mantissa_bits), signed=not unsigned, subnormals=bool(sub))
        except ConfigError as e:
            raise ConfigError(f"{where} is {text!r}: {e}") from e

    @classmethod
    def ieee_like(cls, exponent_bits: int, mantissa_bits: int, *, subnormals: bool = True) -> FloatFormat:
        """The IEEE-style format with the standard bias ``2^(e-1) - 1`` (float16: ``ieee_like(5, 10)``)."""
        return cls(exponent_bits, (1 << (exponent_bits - 1)) - 1, mantissa_bits, subnormals=subnormals)

    def to_json(self) -> dict[str, Any]:
        return {"exponent_bits": self.exponent_bits, "bias": self.bias, "mantissa_bits": self.mantissa_bits,
                "signed": self.signed, "subnormals": self.subnormals}

    @classmethod
    def from_json(cls, doc: Any, where: str = "format") -> FloatFormat:
        """Read :meth:`to_json`'s object; ConfigError naming ``where.<field>`` for a missing, unknown or bad field."""
        if not isinstance(doc, dict):
            raise fail(where, doc, f"an object with keys {list(_JSON_KEYS)}")
        unknown = sorted(set(doc) - set(_JSON_KEYS), key=str)
        if unknown:
            raise ConfigError(f"{where} has unknown key(s) {unknown}; expected only {list(_JSON_KEYS)}")
        missing = [key for key in _JSON_KEYS if key not in doc]
        if missing:
            raise ConfigError(f"{where} is missing {missing}; expected keys {list(_JSON_KEYS)}")
        try:
            return cls(doc["exponent_bits"], doc["bias"], doc["mantissa_bits"], signed=doc["signed"],
                       subnormals=doc["subnormals"])
        except ConfigError as e:
            raise ConfigError(str(e).replace("format.", f"{where}.", 1)) from e

    # --- what the format holds -----------------------------------------------------------------

    @property
    def width(self) -> int:
        """Bits per stored value: sign (if signed) + exponent + mantissa."""
        return int(self.signed) + self.exponent_bits + self.mantissa_bits

    @property
    def min_exponent(self) -> int:
        """The smallest normal exponent, ``1 - bias``."""
        return 1 - self.bias

    @property
    def max_exponent(self) -> int:
        """The largest exponent, ``2^e - 2 - bias``."""
        return (1 << self.exponent_bits) - 2 - self.bias

    @property
    def max_value(self) -> float:
        """The largest finite value: ``2^max_exponent × (2 - 2^-m)``; larger inputs saturate to it."""
        return math.ldexp(2.0 - math.ldexp(1.0, -self.mantissa_bits), self.max_exponent)

    @property
    def min_normal(self) -> float:
        """The smallest positive normal value, ``2^(1 - bias)``."""
        return math.ldexp(1.0, self.min_exponent)

    @property
    def min_positive(self) -> float:
        """The smallest positive value: the smallest subnormal, or :attr:`min_normal` when flushing to zero."""
        if self.subnormals and self.mantissa_bits > 0:
            return math.ldexp(1.0, self.min_exponent - self.mantissa_bits)
        return self.min_normal

    @property
    def max_magnitude_code(self) -> int:
        """The code (without sign) of :attr:`max_value`."""
        return (((1 << self.exponent_bits) - 2) << self.mantissa_bits) | ((1 << self.mantissa_bits) - 1)


def code_dtype(width: int) -> np.dtype[Any]:
    """The smallest unsigned integer dtype holding ``width``-bit codes (uint8, uint16 or uint32)."""
    check_int("width", width, low=1, high=MAX_PACK_BITS)
    return np.dtype(np.uint8 if width <= 8 else np.uint16 if width <= 16 else np.uint32)


def _float32_bits(x: Any, what: str) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype != np.float32:
        raise DataError(f"{what} has dtype {array.dtype}; expected float32 (convert explicitly: a float64 → float32 "
                        "cast rounds once before the format rounds again)")
    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # np.ascontiguousarray would turn a 0-d array into 1-d
    return array.view(np.uint32)


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _round_shift(value: np.ndarray, shift: np.ndarray | int) -> np.ndarray:
    """``value / 2^shift`` rounded to nearest, ties to even; uint64 in, uint64 out, ``0 <= shift <= 63``."""
    shift = np.asarray(shift, dtype=np.uint64)
    one = np.uint64(1)
    quotient = value >> shift
    remainder = value & ((one << shift) - one)
    half = (one << shift) >> one  # 0 for shift 0: nothing is dropped, nothing rounds
    up = ((remainder > half) | ((remainder == half) & ((quotient & one) == one))) & (half > 0)
    return quotient + up.astype(np.uint64)


def encode(x: Any, fmt: FloatFormat) -> np.ndarray:
    """The codes of float32 ``x`` in ``fmt`` (same shape, :func:`code_dtype` of ``fmt.width``).

    Rounds as the module docstring says; ``decode(encode(x, fmt), fmt)`` equals ``quantize(x, fmt)``
    bit for bit. DataError for a non-float32 array, a NaN, or a negative value in an unsigned format.
    """
    bits = _float32_bits(x, "the array to encode")
    e, m, b = fmt.exponent_bits, fmt.mantissa_bits, fmt.bias
    magnitude = (bits & np.uint32(0x7FFFFFFF)).astype(np.uint64)
    negative = (bits >> np.uint32(31)).astype(bool)
    nan = magnitude > _F32_INF_BITS
    if nan.any():
        raise DataError(f"the array to encode holds {int(nan.sum())} NaN value(s) (first at index {_first_index(nan)}); "
                        f"format {fmt} has no NaN")
    if not fmt.signed:
        bad = negative & (magnitude != 0)
        if bad.any():
            raise DataError(f"the array to encode holds {int(bad.sum())} negative value(s) (first at index "
                            f"{_first_index(bad)}: {float(np.asarray(x)[_first_index(bad)])!r}); unsigned format {fmt} "
                            "holds values >= 0 only")

    # Normal range (|x| >= min_normal, a float32 normal since min_exponent >= -126): move the exponent
    # field from float32's bias to the format's, then round away the low 23 - m bits in one integer
    # step (a carry walks into the exponent field). Rebiasing first makes "even" the parity of the
    # format's code, which with 0 mantissa bits is the exponent code's, not float32's exponent field's.
    min_normal_bits = (fmt.min_exponent + _F32_BIAS) << _F32_MANTISSA
    rebiased = np.maximum(magnitude, np.uint64(min_normal_bits)) - np.uint64((_F32_BIAS - b) << _F32_MANTISSA)
    normal_code = _round_shift(rebiased, _F32_MANTISSA - m).astype(np.int64)
    normal_code = np.minimum(normal_code, fmt.max_magnitude_code)  # saturation (infinities included)

    if fmt.subnormals:
        # Below min_normal: significand × 2^(exponent - 23) onto the grid 2^(min_exponent - m); a result
        # of 2^m is the code of min_normal itself (exponent code 1, mantissa 0). The shift is 0 only for
        # a float32 subnormal when the format's grid is float32's own (min_exponent -126, m = 23).
        field = magnitude >> np.uint64(_F32_MANTISSA)
        significand = (magnitude & np.uint64(0x7FFFFF)) | np.where(field > 0, np.uint64(1 << _F32_MANTISSA), np.uint64(0))
        exponent = np.maximum(field.astype(np.int64), 1) - _F32_BIAS
        grid_shift = np.clip(_F32_MANTISSA - m + fmt.min_exponent - exponent, 0, 40)
        under_code = _round_shift(significand, grid_shift).astype(np.int64)
    else:
        # Flush to zero with the compressor's Min/2 comparison: (Min/2, Min) → Min, [0, Min/2] → 0.
        half_min_bits = int(np.float32(math.ldexp(1.0, fmt.min_exponent - 1)).view(np.uint32))
        under_code = np.where(magnitude > half_min_bits, np.int64(1 << m), np.int64(0))
    code = np.where(magnitude >= min_normal_bits, normal_code, under_code).astype(np.uint64)
    if fmt.signed:
        code |= negative.astype(np.uint64) << np.uint64(e + m)
    return code.astype(code_dtype(fmt.width))


def decode(codes: Any, fmt: FloatFormat) -> np.ndarray:
    """float32 values of ``fmt`` codes (any integer array); DataError for a code ``fmt`` never produces."""
    array = np.asarray(codes)
    if array.dtype.kind not in "ui":
        raise DataError(f"the codes to decode have dtype {array.dtype}; expected an integer dtype")
    if array.dtype.kind == "i" and array.size and int(array.min()) < 0:
        raise DataError(f"the codes to decode hold a negative value ({int(array.min())}); expected codes in "
                        f"[0, 2^{fmt.width})")
    code = array.astype(np.uint64)
    e, m = fmt.exponent_bits, fmt.mantissa_bits
    too_wide = (code >> np.uint64(fmt.width)) != 0
    exponent_code = (code >> np.uint64(m)) & np.uint64((1 << e) - 1)
    mantissa_code = code & np.uint64((1 << m) - 1)
    reserved = exponent_code == (1 << e) - 1
    invalid = too_wide | reserved
    if not fmt.subnormals:
        invalid |= (exponent_code == 0) & (mantissa_code != 0)
    if invalid.any():
        where = _first_index(invalid)
        raise DataError(f"{int(invalid.sum())} code(s) are not values of format {fmt} (first at index {where}: "
                        f"{int(array[where])}); expected {fmt.width}-bit codes, exponent field below {(1 << e) - 1}"
                        + ("" if fmt.subnormals else ", and no nonzero mantissa with a zero exponent field (no subnormals)"))
    normal = ((exponent_code + np.uint64(_F32_BIAS - fmt.bias)) << np.uint64(_F32_MANTISSA)) | (
        mantissa_code << np.uint64(_F32_MANTISSA - m))
    out = np.where(exponent_code > 0, normal, np.uint64(0))
    if fmt.subnormals and m:
        # M × 2^(min_exponent - m) is a float32 (normal or subnormal) exactly, so the float64 product
        # and its float32 cast do not round.
        subnormal = np.ldexp(mantissa_code.astype(np.float64), fmt.min_exponent - m).astype(np.float32)
        out = np.where(exponent_code > 0, out, subnormal.view(np.uint32).astype(np.uint64))
    if fmt.signed:
        out |= ((code >> np.uint64(e + m)) & np.uint64(1)) << np.uint64(31)
    return out.astype(np.uint32).view(np.float32)


def quantize(x: Any, fmt: FloatFormat) -> np.ndarray:
    """float32 ``x`` rounded to the nearest value of ``fmt`` (as :func:`encode` rounds), as float32."""
    return decode(encode(x, fmt), fmt)


# --- packing -------------------------------------------------------------------------------------

_PACK_CHUNK = 1 << 16  # codes per step: a multiple of 8, so every chunk starts on a byte boundary


def pack(codes: Any, bits: int) -> bytes:
    """``codes`` (flattened, C order) laid end to end at ``bits`` bits each, LSB first (module docstring).

    DataError for a negative code or one that does not fit in ``bits`` bits.
    """
    check_int("bits", bits, low=1, high=MAX_PACK_BITS)
    array = np.asarray(codes)
    if array.dtype.kind not in "ui":
        raise DataError(f"the codes to pack have dtype {array.dtype}; expected an integer dtype")
    flat = array.reshape(-1)
    if flat.size:
        low, high = int(flat.min()), int(flat.max())
        if low < 0 or high >= 1 << bits:
            bad = low if low < 0 else high
            raise DataError(f"a code to pack is {bad}; expected codes in [0, {(1 << bits) - 1}] for {bits} bits")
    flat = flat.astype(np.uint64)
    positions = np.arange(bits, dtype=np.uint64)
    out = []
    for start in range(0, flat.size, _PACK_CHUNK):
        bit_matrix = ((flat[start:start + _PACK_CHUNK, None] >> positions) & np.uint64(1)).astype(np.uint8)
        out.append(np.packbits(bit_matrix.reshape(-1), bitorder="little").tobytes())
    return b"".join(out)


def unpack(data: bytes | bytearray | memoryview, bits: int, count: int) -> np.ndarray:
    """The ``count`` codes :func:`pack` wrote at ``bits`` bits, as :func:`code_dtype` of ``bits``.

    DataError when ``data`` is not exactly ``ceil(count × bits / 8)`` bytes or its padding bits are not zero.
    """
    check_int("bits", bits, low=1, high=MAX_PACK_BITS)
    check_int("count", count, low=0)
    expected = (count * bits + 7) // 8
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    if raw.size != expected:
        raise DataError(f"the packed data is {raw.size} bytes; expected {expected} for {count} codes of {bits} bits")
    padding = expected * 8 - count * bits
    if padding and int(raw[-1]) >> (8 - padding):
        raise DataError(f"the packed data's last {padding} padding bit(s) are not zero; the data is not what pack() wrote "
                        f"for {count} codes of {bits} bits")
    weights = np.uint64(1) << np.arange(bits, dtype=np.uint64)
    out = np.empty(count, dtype=code_dtype(bits))
    chunk_bytes = _PACK_CHUNK * bits // 8
    for index, start in enumerate(range(0, count, _PACK_CHUNK)):
        n = min(_PACK_CHUNK, count - start)
        chunk = raw[index * chunk_bytes:index * chunk_bytes + (n * bits + 7) // 8]
        bit_matrix = np.unpackbits(chunk, count=n * bits, bitorder="little").reshape(n, bits)
        out[start:start + n] = (bit_matrix.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return out


# --- exponent statistics -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExponentHistogram:
    """Counts of the unbiased exponents ``floor(log2 |x|)`` of nonzero float32 values.

    ``counts[i]`` counts exponent ``LOW + i`` (``LOW = -149``, float32's smallest subnormal, up to
    127). Histograms of several batches add up with ``+``; zeros are not counted (every format holds 0).
    """

    counts: np.ndarray

    LOW = _HIST_LOW
    HIGH = _HIST_HIGH

    def __post_init__(self) -> None:
        counts = np.array(self.counts, dtype=np.int64)
        if counts.shape != (_HIST_SIZE,) or (counts < 0).any():
            raise ConfigError(f"exponent histogram counts have shape {counts.shape} (min {counts.min(initial=0)}); "
                              f"expected {_HIST_SIZE} non-negative counts for exponents {_HIST_LOW} … {_HIST_HIGH}")
        counts.setflags(write=False)
        object.__setattr__(self, "counts", counts)

    @classmethod
    def from_dict(cls, counts: dict[int, int]) -> ExponentHistogram:
        """A histogram from ``{exponent: count}``."""
        array = np.zeros(_HIST_SIZE, dtype=np.int64)
        for exponent, count in counts.items():
            check_int(f"exponent histogram[{exponent!r}]", exponent, low=_HIST_LOW, high=_HIST_HIGH)
            array[exponent - _HIST_LOW] += check_int(f"exponent histogram[{exponent}]", count, low=0)
        return cls(array)

    def as_dict(self) -> dict[int, int]:
        """``{exponent: count}`` for the exponents that occur."""
        return {int(i) + _HIST_LOW: int(self.counts[i]) for i in np.flatnonzero(self.counts)}

    def __add__(self, other: ExponentHistogram) -> ExponentHistogram:
        if not isinstance(other, ExponentHistogram):
            return NotImplemented
        return ExponentHistogram(self.counts + other.counts)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def covered(self, low: int, high: int) -> int:
        """How many values have an exponent in ``[low, high]``."""
        low, high = max(low, _HIST_LOW), min(high, _HIST_HIGH)
        return int(self.counts[low - _HIST_LOW:high - _HIST_LOW + 1].sum()) if low <= high else 0


def exponent_histogram(x: Any) -> ExponentHistogram:
    """The histogram of ``floor(log2 |v|)`` over the nonzero values ``v`` of float32 ``x``.

    DataError for a non-float32 array or a NaN or infinite value.
    """
    bits = _float32_bits(x, "the array to histogram").reshape(-1)
    magnitude = bits & np.uint32(0x7FFFFFFF)
    bad = magnitude >= _F32_INF_BITS
    if bad.any():
        raise DataError(f"the array to histogram holds {int(bad.sum())} NaN or infinite value(s); expected finite values")
    magnitude = magnitude[magnitude != 0]
    field = (magnitude >> np.uint32(_F32_MANTISSA)).astype(np.int64)
    # normals: the exponent field; subnormals: -127 - (leading zeros of the 23-bit fraction)
    fraction = (magnitude & np.uint32(0x7FFFFF)).astype(np.float64)  # exact: < 2^23
    subnormal_exponent = np.frexp(fraction)[1].astype(np.int64) - 1 - 149  # frexp: n = f × 2^k, f in [0.5, 1)
    exponent = np.where(field > 0, field - _F32_BIAS, subnormal_exponent)
    return ExponentHistogram(np.bincount(exponent - _HIST_LOW, minlength=_HIST_SIZE))


def _check_nonempty(hist: ExponentHistogram) -> None:
    if not isinstance(hist, ExponentHistogram):
        raise fail("hist", type(hist).__name__, "an ExponentHistogram")
    if hist.total == 0:
        raise DataError("the exponent histogram counts no nonzero value; every format holds an all-zero tensor, "
                        "so there is no range to cover")


def covering_exponent_range(hist: ExponentHistogram, coverage: float = 0.995) -> tuple[int, int]:
    """``(exponent_bits, bias)`` of the narrowest exponent window holding ``>= coverage`` of the values.

    §4.4.1: the window ``[e_lo, e_hi]`` is the narrowest run of exponents with at least
    ``coverage`` of the nonzero values (ties: the most values, then the higher window — large values
    saturate, small ones only flush); then ``bias = 1 - e_lo`` (the smallest normal is ``2^e_lo``)
    and ``exponent_bits = max(2, ceil(log2(e_hi - e_lo + 3)))``: the window's exponents plus the two
    reserved codes. The spare codes that rounding the width up leaves go above ``e_hi``. An
    ``e_lo`` below -126 (float32 subnormals) is raised to -126, and the bias is raised if the top
    exponent would pass 127. DataError for an empty histogram.
    """
    _check_nonempty(hist)
    check_number("coverage", coverage, low=0.0, high=1.0, low_open=True)
    cumulative = np.concatenate([[0], np.cumsum(hist.counts)])
    need = coverage * hist.total
    for span in range(1, _HIST_SIZE + 1):
        in_window = cumulative[span:] - cumulative[:-span]  # window starting at each exponent
        best = int(in_window.max())
        if best >= need:
            start = int(np.flatnonzero(in_window == best)[-1])  # the highest of the fullest windows
            low, high = start + _HIST_LOW, start + _HIST_LOW + span - 1
            break
    else:  # pragma: no cover - the full span holds every value
        raise AssertionError("unreachable")
    low = max(low, _F32_MIN_EXP)
    high = max(high, low)
    exponent_bits = max(MIN_EXPONENT_BITS, math.ceil(math.log2(high - low + 3)))
    bias = 1 - low
    bias = max(bias, (1 << exponent_bits) - 2 - _F32_MAX_EXP)  # keep max_exponent <= 127
    return exponent_bits, bias


def covering_bias(hist: ExponentHistogram, exponent_bits: int) -> tuple[int, float]:
    """``(bias, fraction covered)``: the bias whose ``2^e - 2`` normal exponents hold the most values.

    The search's step down in exponent width (§4.4.1: "computes the bias that maximizes the
    coverage"). Ties go to the highest window, which puts the window's bottom at the lowest
    exponent it needs (``bias = 1 - e_lo``, the paper's rule) with the spare codes above.
    DataError for an empty histogram.
    """
    _check_nonempty(hist)
    check_int("exponent_bits", exponent_bits, low=MIN_EXPONENT_BITS, high=MAX_EXPONENT_BITS)
    span = (1 << exponent_bits) - 2
    lows = np.arange(_F32_MIN_EXP, _F32_MAX_EXP - span + 2)  # every valid bias: 1 - low
    cumulative = np.concatenate([[0], np.cumsum(hist.counts)])
    start = lows - _HIST_LOW
    in_window = cumulative[start + span] - cumulative[start]
    best = int(in_window.max())
    low = int(lows[np.flatnonzero(in_window == best)[-1]])
    return 1 - low, best / hist.total
