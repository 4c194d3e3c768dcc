package org.mmnet.core.packing;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.mmnet.core.ConfigException;
import org.mmnet.core.DataException;

/**
 * A custom floating-point format as Python's {@code mmnet.format.custom_float.FloatFormat} defines it:
 * one sign bit (unless unsigned), {@code e} exponent bits with bias {@code b}, {@code m} mantissa bits
 * with an implicit leading one. Exponent code 0 is zero (or, with subnormals, {@code M × 2^(1-b-m)}),
 * codes 1 … 2^e - 2 are normals {@code 2^(E-b) × (1 + M/2^m)}, code 2^e - 1 is reserved (no infinity,
 * no NaN). Named like {@code e4m3b7}, {@code ue4m3b7} (unsigned), {@code e5m10b15sub}, {@code e3m2b-4}.
 *
 * <p>Only decoding is here: the build rounds and encodes, the phone reads codes back. Every value of a
 * format is a float32, so {@link #decodeBits} gives the float32 bit pattern exactly, signed zeros kept.
 */
public final class FloatFormat {
    public static final int MIN_EXPONENT_BITS = 2;
    public static final int MAX_EXPONENT_BITS = 8;
    public static final int MAX_MANTISSA_BITS = 23;
    private static final int F32_MANTISSA = 23;
    private static final int F32_BIAS = 127;
    private static final int F32_MIN_EXPONENT = -126;
    private static final Pattern NAME = Pattern.compile("^(u?)e([0-9]+)m([0-9]+)b(-?[0-9]+)(sub)?$");

    private final int exponentBits;
    private final int bias;
    private final int mantissaBits;
    private final boolean signed;
    private final boolean subnormals;

    /** ConfigException when the widths or the bias leave float32's range (as Python's checks). */
    public FloatFormat(int exponentBits, int bias, int mantissaBits, boolean signed, boolean subnormals) {
        if (exponentBits < MIN_EXPONENT_BITS || exponentBits > MAX_EXPONENT_BITS) {
            throw new ConfigException("format.exponent_bits is " + exponentBits + "; expected an int in ["
                    + MIN_EXPONENT_BITS + ", " + MAX_EXPONENT_BITS + "]");
        }
        if (mantissaBits < 0 || mantissaBits > MAX_MANTISSA_BITS) {
            throw new ConfigException("format.mantissa_bits is " + mantissaBits + "; expected an int in [0, "
                    + MAX_MANTISSA_BITS + "]");
        }
        int low = (1 << exponentBits) - 2 - F32_BIAS;
        int high = 1 - F32_MIN_EXPONENT;
        if (bias < low || bias > high) {
            throw new ConfigException("format.bias is " + bias + "; expected an int in [" + low + ", " + high + "] for "
                    + exponentBits + " exponent bits (the format's exponents 1 - bias … 2^e - 2 - bias must lie within"
                    + " float32's normal range -126 … 127)");
        }
        this.exponentBits = exponentBits;
        this.bias = bias;
        this.mantissaBits = mantissaBits;
        this.signed = signed;
        this.subnormals = subnormals;
    }

    /** The format named {@code text} ({@link #name()}); ConfigException naming {@code where} when it is not one. */
    public static FloatFormat parse(String text, String where) {
        Matcher match = text == null ? null : NAME.matcher(text);
        if (match == null || !match.matches()) {
            throw new ConfigException(where + " is " + (text == null ? "null" : "'" + text + "'")
                    + "; expected a format name like 'e4m3b7' ([u]e<exponent bits>m<mantissa bits>b<bias>[sub])");
        }
        try {
            return new FloatFormat(Integer.parseInt(match.group(2)), Integer.parseInt(match.group(4)),
                    Integer.parseInt(match.group(3)), match.group(1).isEmpty(), match.group(5) != null);
        } catch (NumberFormatException e) {
            throw new ConfigException(where + " is '" + text + "': a field does not fit in an int");
        } catch (ConfigException e) {
            throw new ConfigException(where + " is '" + text + "': " + e.getMessage());
        }
    }

    public int exponentBits() {
        return exponentBits;
    }

    public int bias() {
        return bias;
    }

    public int mantissaBits() {
        return mantissaBits;
    }

    public boolean signed() {
        return signed;
    }

    public boolean subnormals() {
        return subnormals;
    }

    /** Bits per stored value: sign (if signed) + exponent + mantissa. */
    public int width() {
        return (signed ? 1 : 0) + exponentBits + mantissaBits;
    }

    /** The canonical name, e.g. {@code e4m3b7}; {@link #parse} reads it back. */
    public String name() {
        return (signed ? "" : "u") + "e" + exponentBits + "m" + mantissaBits + "b" + bias + (subnormals ? "sub" : "");
    }

    /**
     * The float32 bit pattern of {@code code}; DataException for a code the format never produces (wider than
     * {@link #width()}, the reserved exponent code, or a nonzero mantissa under exponent code 0 without subnormals).
     */
    public int decodeBits(long code) {
        int m = mantissaBits;
        long exponentCode = (code >>> m) & ((1L << exponentBits) - 1);
        long mantissaCode = code & ((1L << m) - 1);
        boolean invalid = code < 0 || (code >>> width()) != 0 || exponentCode == (1L << exponentBits) - 1
                || (!subnormals && exponentCode == 0 && mantissaCode != 0);
        if (invalid) {
            throw new DataException("code " + code + " is not a value of format " + name() + "; expected " + width()
                    + "-bit codes, exponent field below " + ((1L << exponentBits) - 1)
                    + (subnormals ? "" : ", and no nonzero mantissa with a zero exponent field (no subnormals)"));
        }
        int bits;
        if (exponentCode > 0) {
            bits = (int) (((exponentCode + F32_BIAS - bias) << F32_MANTISSA) | (mantissaCode << (F32_MANTISSA - m)));
        } else if (subnormals && m > 0) {
            // M × 2^(1 - bias - m) is a float32 (normal or subnormal) exactly: the scaling and the cast do not round.
            bits = Float.floatToRawIntBits((float) Math.scalb((double) mantissaCode, 1 - bias - m));
        } else {
            bits = 0;
        }
        if (signed) {
            bits |= (int) ((code >>> (exponentBits + m)) & 1) << 31;
        }
        return bits;
    }

    @Override
    public String toString() {
        return name();
    }
}
