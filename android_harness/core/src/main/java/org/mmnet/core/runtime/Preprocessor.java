package org.mmnet.core.runtime;

import java.util.Arrays;
import org.mmnet.core.DataException;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.PreprocessingSpec;
import org.mmnet.core.TensorSpec;

/**
 * Frame preprocessing, a mirror of Python {@code preprocessing.py} and the input/output handling of
 * {@code interpreter.TFLiteClassifier}: {@link #conform} brings an image of any size to the
 * manifest's frame shape (its resize policy, an antialiased triangle filter in double, Python's
 * {@code conform_frame}); then resize like {@code tf.image.resize(..., antialias=False)}
 * (half-pixel centres), normalise {@code (x - mean) / std}, quantise integer inputs as
 * {@code clip(round_half_even(x / scale) + zero_point)}, dequantise {@code (q - zero_point) × scale}.
 * All arithmetic is float32 in numpy's order, so the results are bit-identical (the parity traces
 * hash every prepared input).
 */
public final class Preprocessor {
    private Preprocessor() {
    }

    /**
     * The crop box {@link #conform} resizes, {top, left, cropHeight, cropWidth}: the whole frame
     * for squash; for center_crop the largest centred box with the target's aspect ratio, its free
     * side rounded half up in integer arithmetic (at least 1 pixel). Python {@code crop_box}.
     */
    public static int[] cropBox(int height, int width, int targetHeight, int targetWidth, PreprocessingSpec.ResizePolicy policy) {
        if (policy == PreprocessingSpec.ResizePolicy.SQUASH) {
            return new int[] {0, 0, height, width};
        }
        long h = height;
        long w = width;
        int cropHeight;
        int cropWidth;
        if (w * targetHeight >= h * targetWidth) {  // wider than the target: keep the full height
            cropHeight = height;
            cropWidth = (int) Math.max(1, (2 * h * targetWidth + targetHeight) / (2L * targetHeight));
        } else {
            cropWidth = width;
            cropHeight = (int) Math.max(1, (2 * w * targetHeight + targetWidth) / (2L * targetWidth));
        }
        return new int[] {(height - cropHeight) / 2, (width - cropWidth) / 2, cropHeight, cropWidth};
    }

    /**
     * {@code frame} as a height×width frame with {@code policy}; a frame already that size is
     * returned as it is. The crop box of {@link #cropBox} is resized with a separable antialiased
     * bilinear (triangle) filter in double: per axis with input length n and output length m,
     * scale = n / m, support = max(scale, 1); output i has center = (i + 0.5) × scale, taps j from
     * max(0, floor(center - support)) to min(n, ceil(center + support)) - 1 with weights
     * max(0, 1 - |(j + 0.5 - center) / support|) normalised to sum 1. Rows (vertical) first, then
     * columns, each output a sum over its taps in ascending order (the order of Python's matrix
     * products); rounded half to even and clipped to 0..255.
     */
    public static Frame conform(Frame frame, int height, int width, PreprocessingSpec.ResizePolicy policy) {
        if (height < 1 || width < 1) {
            throw new DataException("conform target is " + height + "x" + width + "; expected a positive height and width");
        }
        if (policy == null) {
            throw new DataException("conform policy is null; expected one of [center_crop, squash]");
        }
        if (frame.height() == height && frame.width() == width) {
            return frame;
        }
        int[] box = cropBox(frame.height(), frame.width(), height, width, policy);
        int top = box[0];
        int left = box[1];
        int cropHeight = box[2];
        int cropWidth = box[3];
        int c = frame.channels();
        TriangleWeights wy = TriangleWeights.of(cropHeight, height);
        TriangleWeights wx = TriangleWeights.of(cropWidth, width);
        byte[] pixels = frame.pixels();
        int stride = frame.width() * c;
        // Rows first: every output row from its input rows, for each crop column and channel.
        int rowLength = cropWidth * c;
        double[] rows = new double[height * rowLength];
        for (int i = 0; i < height; i++) {
            int out = i * rowLength;
            for (int t = 0; t < wy.count[i]; t++) {
                double weight = wy.weights[i][t];
                int in = (top + wy.first[i] + t) * stride + left * c;
                for (int k = 0; k < rowLength; k++) {
                    rows[out + k] += weight * (pixels[in + k] & 0xFF);
                }
            }
        }
        byte[] result = new byte[height * width * c];
        double[] sum = new double[c];
        for (int i = 0; i < height; i++) {
            int rowStart = i * rowLength;
            for (int j = 0; j < width; j++) {
                Arrays.fill(sum, 0.0);
                for (int t = 0; t < wx.count[j]; t++) {
                    double weight = wx.weights[j][t];
                    int in = rowStart + (wx.first[j] + t) * c;
                    for (int ch = 0; ch < c; ch++) {
                        sum[ch] += weight * rows[in + ch];
                    }
                }
                int out = (i * width + j) * c;
                for (int ch = 0; ch < c; ch++) {
                    double v = Math.rint(sum[ch]);
                    result[out + ch] = (byte) (int) Math.min(Math.max(v, 0.0), 255.0);
                }
            }
        }
        return Frame.of(result, height, width, c);
    }

    /** One axis of the triangle filter: per output, its first tap and the normalised weights of its taps. */
    static final class TriangleWeights {
        final int[] first;
        final int[] count;
        final double[][] weights;

        private TriangleWeights(int out) {
            first = new int[out];
            count = new int[out];
            weights = new double[out][];
        }

        static TriangleWeights of(int in, int out) {
            double scale = (double) in / (double) out;
            double support = Math.max(scale, 1.0);
            TriangleWeights w = new TriangleWeights(out);
            for (int i = 0; i < out; i++) {
                double center = (i + 0.5) * scale;
                int first = (int) Math.max(0.0, Math.floor(center - support));
                int stop = (int) Math.min(in, Math.ceil(center + support));
                double[] row = new double[Math.max(0, stop - first)];
                for (int j = first; j < stop; j++) {
                    row[j - first] = Math.max(0.0, 1.0 - Math.abs(((double) j + 0.5 - center) / support));
                }
                double total = numpySum(row);
                if (total > 0.0) {
                    for (int t = 0; t < row.length; t++) {
                        row[t] = row[t] / total;
                    }
                } else {  // cannot happen for sizes >= 1; the nearest input pixel keeps the output defined
                    first = Math.min(in - 1, (int) center);
                    row = new double[] {1.0};
                }
                w.first[i] = first;
                w.count[i] = row.length;
                w.weights[i] = row;
            }
            return w;
        }
    }

    /** numpy's pairwise summation of a contiguous float64 array ({@code ndarray.sum}), in its order. */
    static double numpySum(double[] a) {
        return pairwiseSum(a, 0, a.length);
    }

    private static double pairwiseSum(double[] a, int start, int n) {
        if (n < 8) {
            double res = 0.0;
            for (int i = 0; i < n; i++) {
                res += a[start + i];
            }
            return res;
        }
        if (n <= 128) {
            double[] r = new double[8];
            for (int k = 0; k < 8; k++) {
                r[k] = a[start + k];
            }
            int i = 8;
            for (; i < n - (n % 8); i += 8) {
                for (int k = 0; k < 8; k++) {
                    r[k] += a[start + i + k];
                }
            }
            double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) {
                res += a[start + i];
            }
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
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
