package org.mmnet.core.detect;

import org.mmnet.core.ConfigException;
import org.mmnet.core.DataException;
import org.mmnet.core.RuntimeConfig;

/**
 * The misspeculation detector (dissertation §5.2.3), mirroring Python {@code detector.py}.
 *
 * <p>Each minion's probabilities are calibrated with its temperature, softmax(log p / T). When the
 * minions agree, their answer is accepted if every calibrated top-1 confidence reaches the
 * threshold of the answered class. When they disagree, the frame is recovered unless a
 * disagreement threshold is set and the more confident minion reaches it.
 *
 * <p>Numerics: the top-1 calibrated probability is p_top^(1/T) / Σ_j p_j^(1/T) with p clipped at
 * 1e-12 and a left-to-right sum, as Python computes it. {@link StrictMath} keeps results identical
 * on every JVM and on Android; they may differ from C's pow in the last bit, which moves a verdict
 * only for a confidence within ~1e-16 of a threshold.
 */
public final class Detector {
    /** A threshold no probability reaches. */
    public static final double NEVER = RuntimeConfig.NEVER;
    static final double EPS = 1e-12;

    private Detector() {
    }

    /** Checks one threshold per class, each in [0, NEVER]. */
    public static double[] checkThresholds(double[] thresholds, int numClasses, String where) {
        if (thresholds.length != numClasses) {
            throw new ConfigException(where + " has " + thresholds.length + " values; expected one per class (" + numClasses + ")");
        }
        for (double t : thresholds) {
            if (!(t >= 0 && t <= NEVER)) {
                throw new ConfigException(where + " must lie in [0, " + NEVER + "]; got " + java.util.Arrays.toString(thresholds));
            }
        }
        return thresholds.clone();
    }

    /** Index and temperature-scaled probability of the top-1 class (the first maximum on ties). */
    static double[] calibratedTop1(float[] probabilities, double temperature) {
        int top = 0;
        double peak = probabilities[0];
        for (int i = 1; i < probabilities.length; i++) {
            if (probabilities[i] > peak) {
                peak = probabilities[i];
                top = i;
            }
        }
        double exponent = 1.0 / temperature;
        double total = 0.0;
        for (float p : probabilities) {
            double v = p;
            total += StrictMath.pow(v > EPS ? v : EPS, exponent);
        }
        return new double[] {top, StrictMath.pow(Math.max(peak, EPS), exponent) / total};
    }

    /**
     * The detector on one frame's probabilities (one vector per minion, float32 as the models
     * output them). {@code disagreementThreshold} null: a disagreement is always recovered.
     */
    public static FrameVerdict detectFrame(float[][] probabilities, double[] temperatures, double[] thresholds,
                                           Double disagreementThreshold) {
        if (probabilities.length < 1 || probabilities.length > 2) {
            throw new ConfigException("a system has " + probabilities.length + " minions; expected 1 or 2");
        }
        if (temperatures.length != probabilities.length) {
            throw new ConfigException(temperatures.length + " temperatures for " + probabilities.length + " minions; expected one each");
        }
        if (disagreementThreshold != null && !(disagreementThreshold >= 0 && disagreementThreshold <= NEVER)) {
            throw new ConfigException("disagreement threshold is " + disagreementThreshold + "; expected null or a number in [0, " + NEVER + "]");
        }
        int classes = probabilities[0].length;
        for (float[] p : probabilities) {
            if (p.length != classes || p.length != thresholds.length) {
                throw new DataException("minion probabilities have " + p.length + " values; expected " + thresholds.length + " (one per class)");
            }
        }
        for (double t : temperatures) {
            if (!(t > 0)) {
                throw new ConfigException("temperature is " + t + "; expected a number > 0");
            }
        }
        int n = probabilities.length;
        int[] answers = new int[n];
        double[] confidences = new double[n];
        boolean agree = true;
        for (int i = 0; i < n; i++) {
            double[] top = calibratedTop1(probabilities[i], temperatures[i]);
            answers[i] = (int) top[0];
            confidences[i] = top[1];
            agree &= answers[i] == answers[0];
        }
        if (agree) {
            double confidence = confidences[0];
            for (int i = 1; i < n; i++) {
                confidence = Math.min(confidence, confidences[i]);
            }
            return new FrameVerdict(answers[0], confidence, true, confidence >= thresholds[answers[0]]);
        }
        int most = 0;
        for (int i = 1; i < n; i++) {
            if (confidences[i] > confidences[most]) {
                most = i;
            }
        }
        boolean accept = disagreementThreshold != null && confidences[most] >= disagreementThreshold;
        return new FrameVerdict(answers[most], confidences[most], false, accept);
    }

    /**
     * Temperature-scaled probabilities softmax(log p / T) of one vector, in double (Python
     * apply_temperature for one row).
     */
    public static double[] applyTemperature(float[] probabilities, double temperature) {
        if (!(temperature > 0)) {
            throw new ConfigException("temperature is " + temperature + "; expected a number > 0");
        }
        double[] logits = new double[probabilities.length];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < logits.length; i++) {
            double p = Math.min(Math.max(probabilities[i], EPS), 1.0);
            logits[i] = StrictMath.log(p) / temperature;
            max = Math.max(max, logits[i]);
        }
        double sum = 0.0;
        for (int i = 0; i < logits.length; i++) {
            logits[i] = StrictMath.exp(logits[i] - max);
            sum += logits[i];
        }
        for (int i = 0; i < logits.length; i++) {
            logits[i] /= sum;
        }
        return logits;
    }
}
