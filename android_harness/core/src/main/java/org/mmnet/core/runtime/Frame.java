package org.mmnet.core.runtime;

import org.mmnet.core.DataException;

/**
 * One camera or dataset frame: uint8 pixels, H×W×C, row-major. {@link #of} wraps the array
 * without copying it: do not modify it while a frame is being classified.
 */
public final class Frame {
    private final byte[] pixels;
    private final int height;
    private final int width;
    private final int channels;

    private Frame(byte[] pixels, int height, int width, int channels) {
        this.pixels = pixels;
        this.height = height;
        this.width = width;
        this.channels = channels;
    }

    public static Frame of(byte[] pixels, int height, int width, int channels) {
        if (height < 1 || width < 1 || channels < 1) {
            throw new DataException("frame is " + height + "x" + width + "x" + channels + " (HxWxC); expected every dimension >= 1");
        }
        if (pixels == null || (long) pixels.length != (long) height * width * channels) {
            throw new DataException("frame has " + (pixels == null ? "no" : Integer.toString(pixels.length)) + " bytes; expected "
                    + height + "x" + width + "x" + channels + " = " + ((long) height * width * channels) + " (uint8 HxWxC)");
        }
        return new Frame(pixels, height, width, channels);
    }

    /** The pixels as stored (signed Java bytes; read a value with {@code & 0xFF}). */
    public byte[] pixels() {
        return pixels;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int channels() {
        return channels;
    }

    /** The pixel value 0..255 at (y, x, c). */
    public int at(int y, int x, int c) {
        return pixels[(y * width + x) * channels + c] & 0xFF;
    }
}
