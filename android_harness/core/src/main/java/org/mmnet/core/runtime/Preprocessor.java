package org.mmnet.core.runtime;

import org.mmnet.core.DataException;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.PreprocessingSpec;
import org.mmnet.core.TensorSpec;

/**
 * Frame preprocessing, a mirror of Python {@code preprocessing.py} and the input/output handling of
 * {@code interpreter.TFLiteClassifier}: resize like {@code tf.image.resize(..., antialias=False)}
 * (half-pixel centres), normalise {@code (x - mean) / std}, quantise integer inputs as
 * {@code clip(round_half_even(x / scale) + zero_point)}, dequantise {@code (q - zero_point) × scale}.
 * All arithmetic is float32 in numpy's order, so the results are bit-identical (the parity traces
 * hash every prepared input).
 */
public final class Preprocessor {
    private Preprocessor() {
    }

    /** Resizes to size×size, float32 HWC. A frame already that size is returned as float32 unchanged. */
    public static float[] resize(Frame frame, int size, PreprocessingSpec.ResizeMethod method) {
        if (size < 1) {
            throw new DataException("resize size is " + size + "; expected a positive int");
        }
        int h = frame.height();
        int w = frame.width();
        int c = frame.channels();
        if (h == size && w == size) {
            float[] out = new float[h * w * c];
            byte[] p = frame.pixels();
            for (int i = 0; i < out.length; i++) {
                out[i] = p[i] & 0xFF;
            }
            return out;
        }
        return method == PreprocessingSpec.ResizeMethod.NEAREST ? nearest(frame, size) : bilinear(frame, size);
    }

    private static float[] nearest(Frame frame, int size) {
        int[] ys = nearestAxis(frame.height(), size);
        int[] xs = nearestAxis(frame.width(), size);
        int c = frame.channels();
        float[] out = new float[size * size * c];
        int k = 0;
        for (int i = 0; i < size; i++) {
            for (int j = 0; j < size; j++) {
                for (int ch = 0; ch < c; ch++) {
                    out[k++] = frame.at(ys[i], xs[j], ch);
                }
            }
        }
        return out;
    }

    static int[] nearestAxis(int in, int out) {
        float scale = (float) in / (float) out;
        int[] src = new int[out];
        for (int i = 0; i < out; i++) {
            float s = ((float) i + 0.5f) * scale;
            src[i] = (int) Math.min((float) Math.floor(s), (float) (in - 1));
        }
        return src;
    }

    private static float[] bilinear(Frame frame, int size) {
        int h = frame.height();
        int w = frame.width();
        int c = frame.channels();
        int[] yLo = new int[size];
        int[] yHi = new int[size];
        float[] ty = new float[size];
        int[] xLo = new int[size];
        int[] xHi = new int[size];
        float[] tx = new float[size];
        bilinearAxis(h, size, yLo, yHi, ty);
        bilinearAxis(w, size, xLo, xHi, tx);
        // Interpolate along x on every input row first (numpy's order), then along y.
        float[] rows = new float[h * size * c];
        for (int y = 0; y < h; y++) {
            for (int j = 0; j < size; j++) {
                for (int ch = 0; ch < c; ch++) {
                    float left = frame.at(y, xLo[j], ch);
                    float right = frame.at(y, xHi[j], ch);
                    rows[(y * size + j) * c + ch] = left + (right - left) * tx[j];
                }
            }
        }
        float[] out = new float[size * size * c];
        for (int i = 0; i < size; i++) {
            for (int j = 0; j < size; j++) {
                for (int ch = 0; ch < c; ch++) {
                    float top = rows[(yLo[i] * size + j) * c + ch];
                    float bottom = rows[(yHi[i] * size + j) * c + ch];
                    out[(i * size + j) * c + ch] = top + (bottom - top) * ty[i];
                }
            }
        }
        return out;
    }

    static void bilinearAxis(int in, int out, int[] lo, int[] hi, float[] t) {
        float scale = (float) in / (float) out;
        for (int i = 0; i < out; i++) {
            float src = ((float) i + 0.5f) * scale - 0.5f;
            float floor = (float) Math.floor(src);
            lo[i] = (int) Math.max(floor, 0f);
            hi[i] = (int) Math.min((float) Math.ceil(src), (float) (in - 1));
            t[i] = src - floor;
        }
    }

    /** Resize to {@code resolution} and normalise: float32 HWC, Python {@code preprocess} for one frame. */
    public static float[] preprocess(Frame frame, PreprocessingSpec spec, int resolution) {
        int channels = spec.channels();
        if (frame.channels() != channels) {
            throw new DataException("frame has " + frame.channels() + " channels; expected " + channels);
        }
        float[] x = resize(frame, resolution, spec.resizeMethod());
        double[] meanD = spec.mean();
        double[] stdD = spec.std();
        float[] mean = new float[channels];
        float[] std = new float[channels];
        for (int ch = 0; ch < channels; ch++) {
            mean[ch] = (float) meanD[ch];
            std[ch] = (float) stdD[ch];
        }
        for (int i = 0; i < x.length; i++) {
            int ch = i % channels;
            x[i] = (x[i] - mean[ch]) / std[ch];
        }
        return x;
    }

    /** The input tensor of {@code model} from a normalised frame at its resolution (quantised if needed). */
    public static ModelInput toInput(float[] normalised, ModelRecord model) {
        TensorSpec spec = model.input();
        if (normalised.length != spec.elementCount()) {
            throw new DataException("input for " + model.id() + " has " + normalised.length + " values; expected " + spec);
        }
        if (!spec.isQuantized()) {
            return new ModelInput(model.id(), spec, normalised, null);
        }
        float scale = spec.scale().floatValue();
        int zero = spec.zeroPoint();
        float min = spec.dtype() == TensorSpec.DType.INT8 ? -128f : 0f;
        float max = spec.dtype() == TensorSpec.DType.INT8 ? 127f : 255f;
        byte[] q = new byte[normalised.length];
        for (int i = 0; i < q.length; i++) {
            float v = (float) Math.rint(normalised[i] / scale) + zero;
            q[i] = (byte) (int) Math.min(Math.max(v, min), max);
        }
        return new ModelInput(model.id(), spec, null, q);
    }

    /** {@link #preprocess} then {@link #toInput} for {@code model}'s resolution. */
    public static ModelInput prepare(Frame frame, PreprocessingSpec spec, ModelRecord model) {
        return toInput(preprocess(frame, spec, model.resolution()), model);
    }

    /** Class scores float32 from a raw output: {@code (q - zero_point) × scale} for an integer tensor. */
    public static float[] dequantize(ModelOutput output, ModelRecord model) {
        TensorSpec spec = model.output();
        int n = spec.elementCount();
        if (output.length() != n) {
            throw new DataException("model " + model.id() + " returned " + output.length() + " values; expected " + n
                    + " (output " + spec + ")");
        }
        if (output.isFloat() != !spec.isQuantized()) {
            throw new DataException("model " + model.id() + " returned " + (output.isFloat() ? "float32" : "integer")
                    + " values; its output tensor is " + spec.dtype().json() + " per the manifest");
        }
        if (output.isFloat()) {
            return output.floats().clone();
        }
        float scale = spec.scale().floatValue();
        int zero = spec.zeroPoint();
        boolean signed = spec.dtype() == TensorSpec.DType.INT8;
        byte[] raw = output.bytes();
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            int q = signed ? raw[i] : raw[i] & 0xFF;
            out[i] = ((float) q - zero) * scale;
        }
        return out;
    }
}
