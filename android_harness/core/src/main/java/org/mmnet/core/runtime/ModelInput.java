package org.mmnet.core.runtime;

import java.nio.ByteBuffer;
import org.mmnet.core.TensorSpec;

/**
 * A model input prepared by the core: resized, normalised and, for an integer input tensor,
 * quantised as the manifest says. Layout NHWC with N = 1.
 */
public final class ModelInput {
    private final String modelId;
    private final TensorSpec spec;
    private final float[] floats;
    private final byte[] bytes;

    ModelInput(String modelId, TensorSpec spec, float[] floats, byte[] bytes) {
        this.modelId = modelId;
        this.spec = spec;
        this.floats = floats;
        this.bytes = bytes;
    }

    public String modelId() {
        return modelId;
    }

    /** The manifest's input tensor (shape [1, r, r, c], dtype, quantisation). */
    public TensorSpec spec() {
        return spec;
    }

    public boolean isFloat() {
        return floats != null;
    }

    /** The float32 values (float inputs only; not copied). */
    public float[] floats() {
        if (floats == null) {
            throw new IllegalStateException("input of " + modelId + " is " + spec.dtype().json() + "; use bytes()");
        }
        return floats;
    }

    /** The int8/uint8 values as the tensor holds them (integer inputs only; not copied). */
    public byte[] bytes() {
        if (bytes == null) {
            throw new IllegalStateException("input of " + modelId + " is float32; use floats()");
        }
        return bytes;
    }

    /** Writes the tensor at the buffer's position (floats in the buffer's byte order); the caller rewinds it. */
    public void writeTo(ByteBuffer buffer) {
        if (floats != null) {
            for (float v : floats) {
                buffer.putFloat(v);
            }
        } else {
            buffer.put(bytes);
        }
    }
}
