package org.mmnet.core.runtime;

import java.nio.ByteBuffer;
import org.mmnet.core.TensorSpec;

/** A model's raw output tensor as the interpreter produced it; the core dequantises it. */
public final class ModelOutput {
    private final float[] floats;
    private final byte[] bytes;

    private ModelOutput(float[] floats, byte[] bytes) {
        this.floats = floats;
        this.bytes = bytes;
    }

    /** The output of a float32 output tensor. */
    public static ModelOutput ofFloats(float[] values) {
        return new ModelOutput(values.clone(), null);
    }

    /** The output of an int8 or uint8 output tensor, the bytes as the tensor holds them. */
    public static ModelOutput ofBytes(byte[] values) {
        return new ModelOutput(null, values.clone());
    }

    /** Reads {@code spec.elementCount()} values of {@code spec}'s dtype from {@code buffer} (its byte order). */
    public static ModelOutput read(TensorSpec spec, ByteBuffer buffer) {
        int n = spec.elementCount();
        if (spec.dtype() == TensorSpec.DType.FLOAT32) {
            float[] values = new float[n];
            for (int i = 0; i < n; i++) {
                values[i] = buffer.getFloat();
            }
            return new ModelOutput(values, null);
        }
        byte[] values = new byte[n];
        buffer.get(values);
        return new ModelOutput(null, values);
    }

    public boolean isFloat() {
        return floats != null;
    }

    float[] floats() {
        return floats;
    }

    byte[] bytes() {
        return bytes;
    }

    public int length() {
        return floats != null ? floats.length : bytes.length;
    }
}
