package org.mmnet.core;

import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/** How raw frames become model input: the manifest's {@code preprocessing} object. */
public final class PreprocessingSpec {
    /** Resize methods, as {@code tf.image.resize(..., antialias=False)} computes them. */
    public enum ResizeMethod {
        BILINEAR("bilinear"),
        NEAREST("nearest");

        private final String json;

        ResizeMethod(String json) {
            this.json = json;
        }

        public String json() {
            return json;
        }
    }

    /**
     * How an image of another size becomes a frame of {@code frame_shape}
     * ({@link org.mmnet.core.runtime.Preprocessor#conform}): the largest centred box of the frame's
     * aspect ratio, or the whole image with its aspect ratio changed.
     */
    public enum ResizePolicy {
        CENTER_CROP("center_crop"),
        SQUASH("squash");

        private final String json;

        ResizePolicy(String json) {
            this.json = json;
        }

        public String json() {
            return json;
        }

        /** The policy named {@code json}; a ConfigException naming the accepted values otherwise. */
        public static ResizePolicy of(String json) {
            for (ResizePolicy p : values()) {
                if (p.json.equals(json)) {
                    return p;
                }
            }
            throw new ConfigException("resize policy is '" + json + "'; expected one of [center_crop, squash]");
        }
    }

    private static final List<String> KEYS = Arrays.asList("frame_shape", "frame_dtype", "mean", "std", "resize_method",
            "resize_policy");
    // Bundles written before the key existed squashed every image to frame_shape.
    private static final String OPTIONAL_KEY = "resize_policy";

    private final int[] frameShape;
    private final double[] mean;
    private final double[] std;
    private final ResizeMethod resizeMethod;
    private final ResizePolicy resizePolicy;

    /** A spec with the {@code squash} resize policy, what a manifest without {@code resize_policy} means. */
    public PreprocessingSpec(int[] frameShape, double[] mean, double[] std, ResizeMethod resizeMethod) {
        this(frameShape, mean, std, resizeMethod, ResizePolicy.SQUASH);
    }

    public PreprocessingSpec(int[] frameShape, double[] mean, double[] std, ResizeMethod resizeMethod,
            ResizePolicy resizePolicy) {
        if (frameShape.length != 3) {
            throw new ConfigException("frame_shape is " + Arrays.toString(frameShape) + "; expected three positive ints (H, W, C)");
        }
        for (int v : frameShape) {
            if (v < 1) {
                throw new ConfigException("frame_shape is " + Arrays.toString(frameShape) + "; expected three positive ints (H, W, C)");
            }
        }
        int channels = frameShape[2];
        if (mean.length != channels || std.length != channels) {
            throw new ConfigException("mean " + Arrays.toString(mean) + " and std " + Arrays.toString(std)
                    + " must have one value per channel (" + channels + ")");
        }
        for (double s : std) {
            if (!(s > 0) || Double.isInfinite(s)) {
                throw new ConfigException("std is " + Arrays.toString(std) + "; expected every value > 0 and finite");
            }
        }
        for (double m : mean) {
            if (Double.isNaN(m) || Double.isInfinite(m)) {
                throw new ConfigException("mean is " + Arrays.toString(mean) + "; expected finite numbers");
            }
        }
        this.frameShape = frameShape.clone();
        this.mean = mean.clone();
        this.std = std.clone();
        this.resizeMethod = resizeMethod;
        if (resizePolicy == null) {
            throw new ConfigException("resize policy is null; expected one of [center_crop, squash]");
        }
        this.resizePolicy = resizePolicy;
    }

    /**
     * The manifest's preprocessing object: exactly its six keys, {@code resize_policy} optional
     * (absent: squash); a typo must not keep a default.
     */
    static PreprocessingSpec fromJson(JsonNode node) {
        Set<String> keys = new TreeSet<>(node.entries().keySet());
        Set<String> missing = new TreeSet<>(KEYS);
        missing.removeAll(keys);
        missing.remove(OPTIONAL_KEY);
        keys.removeAll(KEYS);
        if (!missing.isEmpty() || !keys.isEmpty()) {
            throw node.error("has missing keys " + missing + " and unknown keys " + keys + "; expected exactly " + KEYS
                    + " (" + OPTIONAL_KEY + " optional)");
        }
        node.get("frame_dtype").oneOf("uint8");
        int[] shape = intArray(node.get("frame_shape"), 3);
        double[] mean = numbers(node.get("mean"));
        double[] std = numbers(node.get("std"));
        String method = node.get("resize_method").oneOf("bilinear", "nearest");
        if (mean.length != shape[2] || std.length != shape[2]) {
            throw node.error("mean has " + mean.length + " and std " + std.length + " values; expected one per channel ("
                    + shape[2] + ")");
        }
        for (int i = 0; i < std.length; i++) {
            node.get("std").items().get(i).above(0);
        }
        ResizePolicy policy = node.has(OPTIONAL_KEY)
                ? ResizePolicy.of(node.get(OPTIONAL_KEY).oneOf("center_crop", "squash")) : ResizePolicy.SQUASH;
        return new PreprocessingSpec(shape, mean, std, method.equals("bilinear") ? ResizeMethod.BILINEAR : ResizeMethod.NEAREST,
                policy);
    }

    static int[] intArray(JsonNode node, int length) {
        List<JsonNode> items = node.items();
        if (items.size() != length) {
            throw node.error("has " + items.size() + " values; expected " + length);
        }
        int[] out = new int[length];
        for (int i = 0; i < length; i++) {
            out[i] = items.get(i).intAtLeast(1);
        }
        return out;
    }

    static double[] numbers(JsonNode node) {
        List<JsonNode> items = node.items();
        double[] out = new double[items.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = items.get(i).number();
        }
        return out;
    }

    /** (H, W, C) of recorded frames. */
    public int[] frameShape() {
        return frameShape.clone();
    }

    public int channels() {
        return frameShape[2];
    }

    /** Per-channel mean in pixel units. */
    public double[] mean() {
        return mean.clone();
    }

    /** Per-channel standard deviation in pixel units. */
    public double[] std() {
        return std.clone();
    }

    public ResizeMethod resizeMethod() {
        return resizeMethod;
    }

    /** How a frame of another height and width is conformed to {@link #frameShape}. */
    public ResizePolicy resizePolicy() {
        return resizePolicy;
    }
}
