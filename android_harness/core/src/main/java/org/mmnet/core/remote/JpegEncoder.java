package org.mmnet.core.remote;

import org.mmnet.core.runtime.Frame;

/**
 * Encodes a uint8 frame (H, W, 1) or (H, W, 3) as a baseline JPEG at a quality of 1-95, the scale of
 * the Python client's Pillow encoder. The core has none of its own: Android has no javax.imageio, so
 * the app passes one built on {@code Bitmap.compress(Bitmap.CompressFormat.JPEG, quality, out)}, a
 * JVM program one built on {@code javax.imageio}.
 */
@FunctionalInterface
public interface JpegEncoder {
    byte[] encode(Frame frame, int quality);
}
