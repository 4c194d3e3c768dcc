package org.mmnet.core;

import java.util.regex.Pattern;
import org.mmnet.core.packing.Packing;

/** One entry of the manifest's {@code models} list. */
public final class ModelRecord {
    static final Pattern NAME = Pattern.compile("^[A-Za-z0-9][A-Za-z0-9._-]*$");
    static final Pattern SHA256 = Pattern.compile("^[0-9a-f]{64}$");

    private final String id;
    private final String variant;
    private final String role;
    private final String family;
    private final int resolution;
    private final String precision;
    private final String quantization;
    private final String file;
    private final String sha256;
    private final long bytes;
    private final TensorSpec input;
    private final TensorSpec output;
    private final boolean useXnnpack;
    private final Double valAccuracy;
    private final Double testAccuracy;
    private final boolean blessed;
    private final String reason;
    private final Packing packing;

    private ModelRecord(JsonNode node) {
        id = node.get("id").matching(NAME, "a model id of letters, digits, '.', '_' or '-'");
        variant = node.get("variant").nonEmptyString();
        role = node.get("role").oneOf("master", "minion");
        family = node.get("family").nonEmptyString();
        JsonNode alpha = node.get("alpha");
        if (!alpha.isNull()) {
            alpha.above(0);
        }
        resolution = node.get("resolution").intAtLeast(1);
        precision = node.get("precision").oneOf("float32", "float16", "int8");
        quantization = node.get("quantization").oneOf("none", "float16", "ptq", "qat", "sieve");
        node.get("source").oneOf("trained", "imported");
        file = node.get("file").nullableString();
        if (file != null && file.isEmpty()) {
            throw node.get("file").error("is \"\"; expected a relative path or null");
        }
        sha256 = node.get("sha256").matching(SHA256, "64 lowercase hex digits");
        bytes = node.get("bytes").integerAtLeast(0);
        input = TensorSpec.fromJson(node.get("input"));
        output = TensorSpec.fromJson(node.get("output"));
        JsonNode metrics = node.get("metrics");
        valAccuracy = metrics.get("val_accuracy").within(0, 1);
        testAccuracy = metrics.get("test_accuracy").within(0, 1);
        JsonNode xnnpack = metrics.opt("xnnpack");
        useXnnpack = xnnpack == null || xnnpack.bool();
        blessed = node.get("blessed").bool();
        reason = node.get("reason").string();
        JsonNode packingNode = node.opt("packing");
        packing = packingNode == null || packingNode.isNull() ? null : Packing.fromJson(packingNode);
    }

    static ModelRecord fromJson(JsonNode node) {
        return new ModelRecord(node);
    }

    public String id() {
        return id;
    }

    public String variant() {
        return variant;
    }

    /** "master" or "minion". */
    public String role() {
        return role;
    }

    public String family() {
        return family;
    }

    public int resolution() {
        return resolution;
    }

    /** "float32", "float16" or "int8". */
    public String precision() {
        return precision;
    }

    public String quantization() {
        return quantization;
    }

    /** The model's path inside the bundle, null when the artifact was rejected and not shipped. */
    public String file() {
        return file;
    }

    public boolean shipped() {
        return file != null;
    }

    /**
     * How the shipped file is packed (a SIEVE model's kernels at their formats' widths), null for a plain
     * .tflite file. {@link #sha256()} and {@link #bytes()} are the packed file's; the flatbuffer's are the spec's.
     */
    public Packing packing() {
        return packing;
    }

    public String sha256() {
        return sha256;
    }

    public long bytes() {
        return bytes;
    }

    public TensorSpec input() {
        return input;
    }

    public TensorSpec output() {
        return output;
    }

    /** False when the build found that the XNNPACK delegate cannot run this model (metrics.xnnpack). */
    public boolean useXnnpack() {
        return useXnnpack;
    }

    public double valAccuracy() {
        return valAccuracy;
    }

    public double testAccuracy() {
        return testAccuracy;
    }

    public boolean blessed() {
        return blessed;
    }

    public String reason() {
        return reason;
    }

    @Override
    public String toString() {
        return "ModelRecord(" + id + ", " + role + ", r" + resolution + ", " + precision + ")";
    }
}
