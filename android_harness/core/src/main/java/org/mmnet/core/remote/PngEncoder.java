package org.mmnet.core.remote;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import org.mmnet.core.DataException;
import org.mmnet.core.runtime.Frame;

/**
 * A minimal PNG encoder for uint8 frames (grayscale or RGB, 8 bits, no filtering), written here
 * because Android has no javax.imageio. Fast compression, like the Python client's
 * {@code compress_level=1}.
 */
public final class PngEncoder {
    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

    private PngEncoder() {
    }

    /** A (H, W, 1) frame as a grayscale PNG, a (H, W, 3) frame as an RGB PNG. */
    public static byte[] encode(Frame frame) {
        int channels = frame.channels();
        if (channels != 1 && channels != 3) {
            throw new DataException("frame has " + channels + " channels; PNG encoding takes 1 or 3 (use encoding 'raw' for others)");
        }
        int rowBytes = frame.width() * channels;
        byte[] scanlines = new byte[frame.height() * (rowBytes + 1)];
        byte[] pixels = frame.pixels();
        for (int y = 0; y < frame.height(); y++) {
            // Filter type 0 (none) precedes every row.
            System.arraycopy(pixels, y * rowBytes, scanlines, y * (rowBytes + 1) + 1, rowBytes);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(SIGNATURE, 0, SIGNATURE.length);
        byte[] header = new byte[13];
        putInt(header, 0, frame.width());
        putInt(header, 4, frame.height());
        header[8] = 8;
        header[9] = (byte) (channels == 1 ? 0 : 2);
        chunk(out, "IHDR", header);
        chunk(out, "IDAT", deflate(scanlines));
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static byte[] deflate(byte[] data) {
        Deflater deflater = new Deflater(Deflater.BEST_SPEED);
        try {
            deflater.setInput(data);
            deflater.finish();
            ByteArrayOutputStream out = new ByteArrayOutputStream(data.length / 2 + 64);
            byte[] buffer = new byte[8192];
            while (!deflater.finished()) {
                int n = deflater.deflate(buffer);
                out.write(buffer, 0, n);
            }
            return out.toByteArray();
        } finally {
            deflater.end();
        }
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] length = new byte[4];
        putInt(length, 0, data.length);
        out.write(length, 0, 4);
        byte[] typeBytes = type.getBytes(StandardCharsets.US_ASCII);
        out.write(typeBytes, 0, 4);
        out.write(data, 0, data.length);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data);
        byte[] sum = new byte[4];
        putInt(sum, 0, (int) crc.getValue());
        out.write(sum, 0, 4);
    }

    private static void putInt(byte[] target, int offset, int value) {
        target[offset] = (byte) (value >>> 24);
        target[offset + 1] = (byte) (value >>> 16);
        target[offset + 2] = (byte) (value >>> 8);
        target[offset + 3] = (byte) value;
    }
}
