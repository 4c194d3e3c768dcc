package org.mmnet.core.packing;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import org.junit.Test;
import org.mmnet.core.ConfigException;
import org.mmnet.core.DataException;

/**
 * Hand-computed bit patterns, mirroring tests/unit/test_custom_float.py: the codes Python's encoder gives for
 * ties, saturation, subnormals and signed zeros decode here to the float32 bits written out by hand.
 * Layout in the comments: {@code s eeee mmm} = sign, exponent code E, mantissa code M; a normal value is
 * (-1)^s × 2^(E - bias) × (1 + M / 2^m).
 */
public class FloatFormatTest {
    private static final FloatFormat E4M3 = FloatFormat.parse("e4m3b7", "test");
    private static final FloatFormat E4M3_SUB = FloatFormat.parse("e4m3b7sub", "test");
    private static final FloatFormat FLOAT16 = FloatFormat.parse("e5m10b15sub", "test");

    private static void bits(FloatFormat fmt, long code, int expected) {
        int actual = fmt.decodeBits(code);
        assertEquals(fmt + " code 0x" + Long.toHexString(code) + ": 0x" + Integer.toHexString(expected) + " expected, got 0x"
                + Integer.toHexString(actual), expected, actual);
    }

    @Test
    public void namesAndWidths() {
        assertEquals(8, E4M3.width());
        assertEquals("e4m3b7", E4M3.name());
        FloatFormat unsigned = FloatFormat.parse("ue4m3b7", "test");
        assertEquals(7, unsigned.width());
        assertEquals(false, unsigned.signed());
        assertEquals(-4, FloatFormat.parse("e3m2b-4", "test").bias());
        assertEquals(16, FLOAT16.width());
        assertTrue(FLOAT16.subnormals());
        assertEquals(32, FloatFormat.parse("e8m23b127sub", "test").width());
    }

    @Test
    public void e4m3NormalsExtremesAndSaturation() {
        // 1.0 = 0 0111 000 = 0x38 → float32 0x3F800000; min normal 2^-6 = 0 0001 000 = 0x08 → field 121: 0x3C800000
        bits(E4M3, 0x38, 0x3F800000);
        bits(E4M3, 0x08, 0x3C800000);
        // max = 2^(14-7) × 1.875 = 240 = 0 1110 111 = 0x77 → field 134 = 0x86, fraction 0x700000: 0x43700000. The
        // encoder saturates 1000, 1e30, +inf and the tie 248 to it, and -inf, -250 to 0xF7.
        bits(E4M3, 0x77, 0x43700000);
        bits(E4M3, 0xF7, 0xC3700000);
    }

    @Test
    public void tiesWentToTheEvenCode() {
        // e4m3: 1.0625 is halfway 0x38 (1.0) / 0x39 (1.125) → even 0x38; 1.1875 halfway 0x39 / 0x3A → 0x3A = 1.25;
        // -1.1875 → 0xBA = -1.25; 1.9375 carries into the exponent: 0x40 = 2.0
        bits(E4M3, 0x39, Float.floatToRawIntBits(1.125f));
        bits(E4M3, 0x3A, Float.floatToRawIntBits(1.25f));
        bits(E4M3, 0xBA, Float.floatToRawIntBits(-1.25f));
        bits(E4M3, 0x40, Float.floatToRawIntBits(2.0f));
        // e3m0b3 (powers of two 2^(E-3)): 1.5 is halfway 1 (E = 3) / 2 (E = 4) → even exponent code 4 = 2.0
        FloatFormat e3m0 = FloatFormat.parse("e3m0b3", "test");
        bits(e3m0, 0x4, Float.floatToRawIntBits(2.0f));
        bits(e3m0, 0xE, Float.floatToRawIntBits(-8.0f));
        // e3m1b3: 1.75 is halfway 1.5 (0x07) / 2.0 → 0 100 0 = 0x08; -12 = 1 110 1 = 0x1D
        FloatFormat e3m1 = FloatFormat.parse("e3m1b3", "test");
        bits(e3m1, 0x08, Float.floatToRawIntBits(2.0f));
        bits(e3m1, 0x1D, Float.floatToRawIntBits(-12.0f));
        // bfloat16-like e8m7b127sub: the tie 1 + 2^-8 stays 0x3F80 (1.0), 1 + 3 × 2^-8 → 0x3F82; float32 max
        // saturates to 0x7F7F = 0x7F7F0000, -inf to 0xFF7F
        FloatFormat bf16 = FloatFormat.parse("e8m7b127sub", "test");
        bits(bf16, 0x3F80, 0x3F800000);
        bits(bf16, 0x3F82, 0x3F820000);
        bits(bf16, 0x7F7F, 0x7F7F0000);
        bits(bf16, 0xFF7F, 0xFF7F0000);
    }

    @Test
    public void negativeZeroIsKept() {
        bits(E4M3, 0x80, 0x80000000);  // 1 0000 000
        bits(E4M3, 0x00, 0x00000000);
        bits(FLOAT16, 0x8000, 0x80000000);
        bits(FloatFormat.parse("ue4m3b7", "test"), 0x00, 0x00000000);  // no sign bit: only +0
    }

    @Test
    public void subnormals() {
        // e4m3b7sub: codes 0 0000 MMM = M × 2^-9; 2^-9 = field 118: 0x3B000000; 7 × 2^-9 = 1.75 × 2^-7: 0x3C600000;
        // -(2^-9) = 0x81 → 0xBB000000
        bits(E4M3_SUB, 0x01, 0x3B000000);
        bits(E4M3_SUB, 0x07, 0x3C600000);
        bits(E4M3_SUB, 0x81, 0xBB000000);
        bits(E4M3_SUB, 0x02, Float.floatToRawIntBits(0x1p-8f));  // the tie 3 × 2^-10 went up to 2 × 2^-9
        // float16's smallest subnormal 2^-24 (0x0001, float32 field 103: 0x33800000), largest 1023 × 2^-24 (0x03FF)
        bits(FLOAT16, 0x0001, 0x33800000);
        bits(FLOAT16, 0x03FF, Float.floatToRawIntBits(1023 * 0x1p-24f));
        // float32's own grid (e8m23b127sub): its smallest subnormal 2^-149 is the bit pattern 1
        bits(FloatFormat.parse("e8m23b127sub", "test"), 1, 1);
    }

    @Test
    public void codesAFormatNeverProducesAreRefused() {
        // flush to zero: a nonzero mantissa under exponent code 0 is no code
        DataException e = assertThrows(DataException.class, () -> E4M3.decodeBits(0x01));
        assertTrue(e.getMessage(), e.getMessage().contains("code 1 is not a value of format e4m3b7"));
        assertTrue(e.getMessage(), e.getMessage().contains("no subnormals"));
        assertThrows(DataException.class, () -> E4M3.decodeBits(0x78));  // the reserved exponent code 1111
        assertThrows(DataException.class, () -> E4M3.decodeBits(0x100));  // wider than 8 bits
        assertThrows(DataException.class, () -> E4M3.decodeBits(-1));
    }

    @Test
    public void badNamesSayWhatWasExpected() {
        ConfigException e = assertThrows(ConfigException.class, () -> FloatFormat.parse("e4m3", "tensors[0].format"));
        assertTrue(e.getMessage(), e.getMessage().startsWith("tensors[0].format is 'e4m3'; expected a format name like"));
        e = assertThrows(ConfigException.class, () -> FloatFormat.parse("e9m3b7", "f"));
        assertTrue(e.getMessage(), e.getMessage().contains("exponent_bits is 9; expected an int in [2, 8]"));
        e = assertThrows(ConfigException.class, () -> FloatFormat.parse("e4m3b128", "f"));
        assertTrue(e.getMessage(), e.getMessage().contains("bias is 128; expected an int in [-113, 127]"));
        e = assertThrows(ConfigException.class, () -> FloatFormat.parse("e4m99999999999b7", "f"));
        assertTrue(e.getMessage(), e.getMessage().contains("does not fit"));
        assertThrows(ConfigException.class, () -> FloatFormat.parse(null, "f"));
    }
}
