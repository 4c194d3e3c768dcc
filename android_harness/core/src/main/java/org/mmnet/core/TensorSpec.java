package org.mmnet.core;

import java.util.Arrays;

/** A model input or output tensor as the manifest describes it (shape, dtype, quantisation). */
public final class TensorSpec {
    /** Tensor element types a bundle model may have. */
    public enum DType {
        FLOAT32("float32", 4),
        INT8("int8", 1),
        UINT8("uint8", 1);

        private final String json;
        private final int bytes;

        DType(String json, int bytes) {
            this.json = json;
            this.bytes = bytes;
        }

        public String json() {
            return json;
        }

        public int bytesPerElement() {
            return bytes;
        }

        static DType parse(JsonNode node) {
            return valueOf(node.oneOf("float32", "int8", "uint8").toUpperCase(java.util.Locale.ROOT));
        }
    }

    private final int[] shape;
    private final DType dtype;
    private final Double scale;
    private final Integer zeroPoint;

    public TensorSpec(int[] shape, DType dtype, Double scale, Integer zeroPoint) {
        this.shape = shape.clone();
        this.dtype = dtype;
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    /** A manifest {@code input}/{@code output} object; an integer tensor needs a scale and a zero point. */
    static TensorSpec fromJson(JsonNode node) {
        JsonNode shapeNode = node.get("shape");
        java.util.List<JsonNode> dims = shapeNode.items();
        if (dims.isEmpty()) {
            throw shapeNode.error("is []; expected at least one dimension");
        }
        int[] shape = new int[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = dims.get(i).intAtLeast(1);
        }
        DType dtype = DType.parse(node.get("dtype"));
        JsonNode scaleNode = node.get("scale");
        JsonNode zeroNode = node.get("zero_point");
        Double scale = scaleNode.isNull() ? null : scaleNode.above(0);
        Integer zero = zeroNode.isNull() ? null : zeroNode.anyInt();
        if (dtype != DType.FLOAT32 && (scale == null || zero == null)) {
            throw node.error("is a " + dtype.json + " tensor with scale " + scale + " and zero_point " + zero
                    + "; expected a scale > 0 and an integer zero_point");
        }
        return new TensorSpec(shape, dtype, scale, zero);
    }

    public int[] shape() {
        return shape.clone();
    }

    public DType dtype() {
        return dtype;
    }

    public boolean isQuantized() {
        return dtype != DType.FLOAT32;
    }

    /** The quantisation scale, null for a float tensor. */
    public Double scale() {
        return scale;
    }

    /** The quantisation zero point, null for a float tensor. */
    public Integer zeroPoint() {
        return zeroPoint;
    }

    public int elementCount() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    public int byteSize() {
        return elementCount() * dtype.bytesPerElement();
    }

    @Override
    public String toString() {
        return dtype.json + Arrays.toString(shape) + (isQuantized() ? " (scale " + scale + ", zero point " + zeroPoint + ")" : "");
    }
}
