package org.mmnet.core.packing;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Pattern;
import org.mmnet.core.ConfigException;
import org.mmnet.core.JsonNode;

/**
 * A manifest model record's {@code packing}: the shipped file is a packed model (Python's
 * {@code mmnet.format.packed_model}), the TFLite flatbuffer with some float32 tensors cut out (the
 * <i>template</i>) followed by each tensor's codes bit-packed at its format's width. Per tensor: its
 * {@code offset} in the flatbuffer, {@code count} of float32 values, {@code format}, and where its codes
 * are in the container ({@code packed_offset}, {@code packed_bytes}); the flatbuffer's own sha256 and
 * size. The gzip sizes and statistics the build also records are not needed to unpack and not read.
 */
public final class Packing {
    public static final String METHOD = "custom_float";
    private static final Pattern SHA256 = Pattern.compile("^[0-9a-f]{64}$");

    /** One packed tensor. */
    public static final class Tensor {
        private final String name;
        private final int offset;
        private final int count;
        private final FloatFormat format;
        private final int packedOffset;
        private final int packedBytes;

        Tensor(String name, int offset, int count, FloatFormat format, int packedOffset, int packedBytes) {
            this.name = name;
            this.offset = offset;
            this.count = count;
            this.format = format;
            this.packedOffset = packedOffset;
            this.packedBytes = packedBytes;
        }

        public String name() {
            return name;
        }

        /** Byte offset of the tensor's float32 values in the unpacked flatbuffer. */
        public int offset() {
            return offset;
        }

        public int count() {
            return count;
        }

        public FloatFormat format() {
            return format;
        }

        /** Byte offset of the tensor's codes in the container. */
        public int packedOffset() {
            return packedOffset;
        }

        public int packedBytes() {
            return packedBytes;
        }
    }

    private final String tfliteSha256;
    private final int tfliteBytes;
    private final int templateBytes;
    private final List<Tensor> tensors;

    private Packing(String tfliteSha256, int tfliteBytes, int templateBytes, List<Tensor> tensors) {
        this.tfliteSha256 = tfliteSha256;
        this.tfliteBytes = tfliteBytes;
        this.templateBytes = templateBytes;
        this.tensors = Collections.unmodifiableList(tensors);
    }

    /** The spec at {@code node}; BundleException naming the JSON path of a missing or bad field. */
    public static Packing fromJson(JsonNode node) {
        node.get("method").oneOf(METHOD);
        String sha256 = node.get("tflite_sha256").matching(SHA256, "64 lowercase hex digits");
        int tfliteBytes = node.get("tflite_bytes").intAtLeast(0);
        int templateBytes = node.get("template_bytes").intAtLeast(0);
        List<Tensor> tensors = new ArrayList<>();
        for (JsonNode t : node.get("tensors").items()) {
            JsonNode format = t.get("format");
            FloatFormat parsed;
            try {
                parsed = FloatFormat.parse(format.string(), "format");
            } catch (ConfigException e) {
                throw format.error(e.getMessage());
            }
            tensors.add(new Tensor(t.get("name").string(), t.get("offset").intAtLeast(0), t.get("count").intAtLeast(1),
                    parsed, t.get("packed_offset").intAtLeast(0), t.get("packed_bytes").intAtLeast(0)));
        }
        return new Packing(sha256, tfliteBytes, templateBytes, tensors);
    }

    /** The sha256 of the unpacked flatbuffer. */
    public String tfliteSha256() {
        return tfliteSha256;
    }

    /** The size of the unpacked flatbuffer. */
    public int tfliteBytes() {
        return tfliteBytes;
    }

    /** The size of the template: the container's bytes before the first tensor's codes. */
    public int templateBytes() {
        return templateBytes;
    }

    /** The packed tensors in the order of their offsets. */
    public List<Tensor> tensors() {
        return tensors;
    }
}
