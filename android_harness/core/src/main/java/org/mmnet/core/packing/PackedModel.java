package org.mmnet.core.packing;

import org.mmnet.core.BundleException;
import org.mmnet.core.DataException;
import org.mmnet.core.Sha256;

/**
 * Unpacks a packed model into its TFLite flatbuffer, as Python's {@code mmnet.format.packed_model.unpack_model}:
 *
 * <pre>container = template ‖ codes of tensor 1 ‖ codes of tensor 2 ‖ …</pre>
 *
 * Each tensor's codes are read at its format's width, LSB first (bit {@code j} of code {@code i} is stream
 * bit {@code i·width + j}, stream bit {@code k} is bit {@code k % 8} of byte {@code k / 8}; the last byte's
 * padding bits must be zero), decoded to float32 and written little-endian at the tensor's offset, the
 * template's bytes filling the gaps. The result must have the spec's size and sha256, so a wrong spec or a
 * corrupt file never loads as a model.
 */
public final class PackedModel {
    private PackedModel() {
    }

    /** The flatbuffer {@code container} was packed from; BundleException naming {@code where} and what is wrong. */
    public static byte[] unpack(byte[] container, Packing spec, String where) {
        int templateBytes = spec.templateBytes();
        if (templateBytes > container.length) {
            throw new BundleException(where + ": template_bytes is " + templateBytes + "; expected an int in [0, "
                    + container.length + "]");
        }
        byte[] out = new byte[spec.tfliteBytes()];
        int written = 0;
        int position = 0;  // in the template
        for (int i = 0; i < spec.tensors().size(); i++) {
            Packing.Tensor t = spec.tensors().get(i);
            long gap = (long) t.offset() - written;
            long start = t.packedOffset();
            long end = start + t.packedBytes();
            if (gap < 0 || position + gap > templateBytes || start < templateBytes || end > container.length) {
                throw new BundleException(where + ": tensors[" + i + "] ('" + t.name() + "') has offsets outside the "
                        + "container (" + container.length + " bytes, template " + templateBytes
                        + "); expected increasing, disjoint ranges");
            }
            long size = (long) t.offset() + 4L * t.count();
            if (size > out.length) {
                throw new BundleException(where + ": tensors[" + i + "] ('" + t.name() + "') ends at byte " + size
                        + " of the unpacked model; the spec's tflite_bytes is " + out.length + " (corrupt spec)");
            }
            System.arraycopy(container, position, out, written, (int) gap);
            position += (int) gap;
            written += (int) gap;
            try {
                decodeInto(container, (int) start, t.packedBytes(), t.format(), t.count(), out, written);
            } catch (DataException e) {
                throw new BundleException(where + ": tensors[" + i + "] ('" + t.name() + "') cannot be unpacked: "
                        + e.getMessage());
            }
            written += 4 * t.count();
        }
        int tail = templateBytes - position;
        if ((long) written + tail != out.length) {
            throw new BundleException(where + ": the unpacked model has " + ((long) written + tail) + " bytes; the spec "
                    + "expects " + out.length + " bytes and sha256 " + spec.tfliteSha256() + " (corrupt file or spec)");
        }
        System.arraycopy(container, position, out, written, tail);
        String sha256 = Sha256.ofBytes(out);
        if (!sha256.equals(spec.tfliteSha256())) {
            throw new BundleException(where + ": the unpacked model has " + out.length + " bytes and sha256 " + sha256
                    + "; the spec expects " + out.length + " bytes and sha256 " + spec.tfliteSha256()
                    + " (corrupt file or spec)");
        }
        return out;
    }

    /**
     * Decodes {@code count} codes of {@code format.width()} bits from {@code data[start, start + length)} into
     * little-endian float32 at {@code out[at]}; DataException when the length is not exactly
     * {@code ceil(count × width / 8)} bytes, a padding bit is set, or a code is no value of the format.
     */
    static void decodeInto(byte[] data, int start, int length, FloatFormat format, int count, byte[] out, int at) {
        int width = format.width();
        long expected = ((long) count * width + 7) / 8;
        if (length != expected) {
            throw new DataException("the packed data is " + length + " bytes; expected " + expected + " for " + count
                    + " codes of " + width + " bits");
        }
        int padding = (int) (expected * 8 - (long) count * width);
        if (padding > 0 && ((data[start + length - 1] & 0xFF) >>> (8 - padding)) != 0) {
            throw new DataException("the packed data's last " + padding + " padding bit(s) are not zero; the data is not "
                    + "what pack() wrote for " + count + " codes of " + width + " bits");
        }
        long mask = (1L << width) - 1;
        long buffer = 0;  // bits not yet consumed, the next one lowest
        int buffered = 0;
        int next = start;
        for (int i = 0; i < count; i++) {
            while (buffered < width) {
                buffer |= (long) (data[next++] & 0xFF) << buffered;
                buffered += 8;
            }
            long code = buffer & mask;
            buffer >>>= width;
            buffered -= width;
            int bits;
            try {
                bits = format.decodeBits(code);
            } catch (DataException e) {
                throw new DataException("code " + i + " of " + count + ": " + e.getMessage());
            }
            int o = at + 4 * i;
            out[o] = (byte) bits;
            out[o + 1] = (byte) (bits >>> 8);
            out[o + 2] = (byte) (bits >>> 16);
            out[o + 3] = (byte) (bits >>> 24);
        }
    }
}
