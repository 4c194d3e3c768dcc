package org.mmnet.core.detect;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.mmnet.core.ConfigException;
import org.mmnet.core.DataException;

/**
 * The learned misspeculation detector, mirroring Python {@code mmnet.runtime.learned_detector}: a
 * logistic regression on features of the minions' scores, normalised to sum to one (q_j = s_j / S).
 *
 * <p>Per minion i (terms s_j = max(p_j, 0) summed left to right into S, see {@link MinionSummary}):
 * {@code confidence_i} = s_top / S, {@code margin_i} = s_top / S − s_second / S,
 * {@code concentration_i} = (Σ_j s_j·s_j) / (S·S); for a pair also {@code agree} (1.0 when both name
 * the same class), {@code cross_0} = q_0 at minion 1's answer and {@code cross_1} = q_1 at minion 0's.
 * The score is bias + Σ_k weight_k · feature_k added left to right in canonical feature order; the
 * answer (the common top-1 class, else the top-1 of the minion with the higher q_top) is accepted
 * when the score reaches the threshold. A frame whose scores are all zero (or overflow) has no
 * features: no score, recovered.
 *
 * <p>Numerics: no temperature and no power function, only IEEE additions, multiplications and
 * divisions in Python's order, so the features, the confidence and the score are bit-identical to
 * Python's.
 */
public final class LogisticDetector {
    /** The paper's rule: agreement and per-class confidence thresholds (a tuned mode without "detector"). */
    public static final String PER_CLASS = "per_class_confidence";
    public static final String LOGISTIC = "logistic";
    public static final List<String> SINGLE_FEATURES =
            Collections.unmodifiableList(Arrays.asList("confidence_0", "margin_0", "concentration_0"));
    public static final List<String> PAIR_FEATURES;

    static {
        List<String> pair = new ArrayList<>(SINGLE_FEATURES);
        pair.addAll(Arrays.asList("confidence_1", "margin_1", "concentration_1", "agree", "cross_0", "cross_1"));
        PAIR_FEATURES = Collections.unmodifiableList(pair);
    }

    private final List<String> features;
    private final double[] weights;
    private final double bias;
    private final double threshold;
    private final boolean requiresAgreement;

    /** The canonical feature names of a system of {@code minions} minions (1 or 2). */
    public static List<String> featureNames(int minions) {
        if (minions == 1) {
            return SINGLE_FEATURES;
        }
        if (minions == 2) {
            return PAIR_FEATURES;
        }
        throw new ConfigException("a system has " + minions + " minions; expected 1 or 2");
    }

    /** A fitted detector that does not require agreement. */
    public LogisticDetector(List<String> features, double[] weights, double bias, double threshold) {
        this(features, weights, bias, threshold, false);
    }

    /**
     * A fitted detector; {@code threshold} is on the score (log-odds) scale; with {@code requiresAgreement}
     * a pair's disagreement is recovered whatever its score. ConfigException unless canonical and finite.
     */
    public LogisticDetector(List<String> features, double[] weights, double bias, double threshold, boolean requiresAgreement) {
        List<String> expected = featureNames(features.size() > SINGLE_FEATURES.size() ? 2 : 1);
        if (!features.equals(expected)) {
            throw new ConfigException("logistic detector features are " + features + "; expected " + expected);
        }
        if (weights.length != features.size()) {
            throw new ConfigException("logistic detector has " + weights.length + " weights for " + features.size()
                    + " features; expected one per feature");
        }
        for (int i = 0; i < weights.length; i++) {
            finite("logistic detector weight " + i, weights[i]);
        }
        finite("logistic detector bias", bias);
        finite("logistic detector threshold", threshold);
        this.features = Collections.unmodifiableList(new ArrayList<>(features));
        this.weights = weights.clone();
        this.bias = bias;
        this.threshold = threshold;
        this.requiresAgreement = requiresAgreement;
    }

    private static double finite(String where, double value) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            throw new ConfigException(where + " is " + value + "; expected a finite number");
        }
        return value;
    }

    /**
     * From a tuned mode's {@code detector} object (kind "logistic") of a system with {@code minions}
     * minions; ConfigException naming {@code where} (Python {@code LogisticDetector.from_json}).
     */
    public static LogisticDetector fromJson(JsonElement doc, int minions, String where) {
        JsonObject o = doc != null && doc.isJsonObject() ? doc.getAsJsonObject() : null;
        if (o == null || !isString(o.get("kind")) || !LOGISTIC.equals(o.get("kind").getAsString())) {
            throw new ConfigException(where + " is " + doc + "; expected a logistic detector object");
        }
        List<String> features = new ArrayList<>();
        JsonElement f = o.get("features");
        if (f != null && f.isJsonArray()) {
            for (JsonElement name : f.getAsJsonArray()) {
                features.add(isString(name) ? name.getAsString() : String.valueOf(name));
            }
        }
        List<String> expected = featureNames(minions);
        if (!features.equals(expected)) {
            throw new ConfigException(where + ".features is " + (f == null ? "missing" : f.toString()) + "; a system of "
                    + minions + " minion(s) expects " + expected);
        }
        JsonElement w = o.get("weights");
        JsonArray items = w != null && w.isJsonArray() ? w.getAsJsonArray() : new JsonArray();
        double[] weights = new double[items.size()];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = number(where + ".weights[" + i + "]", items.get(i));
        }
        JsonElement required = o.get("requires_agreement");
        if (required != null && !(required.isJsonPrimitive() && required.getAsJsonPrimitive().isBoolean())) {
            throw new ConfigException(where + ".requires_agreement is " + required + "; expected true or false");
        }
        return new LogisticDetector(features, weights, number(where + ".bias", o.get("bias")),
                number(where + ".threshold", o.get("threshold")), required != null && required.getAsBoolean());
    }

    private static boolean isString(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString();
    }

    private static double number(String where, JsonElement e) {
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new ConfigException(where + " is " + (e == null ? "missing" : e.toString()) + "; expected a finite number");
        }
        return finite(where, e.getAsDouble());
    }

    /** The object a bundle ships (Python {@code to_json}). */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("kind", LOGISTIC);
        JsonArray f = new JsonArray();
        features.forEach(f::add);
        o.add("features", f);
        JsonArray w = new JsonArray();
        for (double v : weights) {
            w.add(v);
        }
        o.add("weights", w);
        o.addProperty("bias", bias);
        o.addProperty("threshold", threshold);
        if (requiresAgreement) { // absent means false, as Python writes it
            o.addProperty("requires_agreement", true);
        }
        return o;
    }

    public List<String> features() {
        return features;
    }

    public double[] weights() {
        return weights.clone();
    }

    public double bias() {
        return bias;
    }

    /** The score an answer must reach to be accepted. */
    public double threshold() {
        return threshold;
    }

    /** Whether a pair's disagreement is recovered whatever its score. */
    public boolean requiresAgreement() {
        return requiresAgreement;
    }

    /** Whether a frame with this score and agreement is accepted. */
    public boolean accepts(double score, boolean agree) {
        return score >= threshold && (agree || !requiresAgreement);
    }

    public int minions() {
        return features.size() == PAIR_FEATURES.size() ? 2 : 1;
    }

    /** bias + Σ_k weight_k · feature_k, left to right. */
    public double score(double[] features) {
        double z = bias;
        for (int k = 0; k < weights.length && k < features.length; k++) {
            z += weights[k] * features[k];
        }
        return z;
    }

    /** One minion's terms (Python {@code minion_summary}): {@link MinionSummary#of}. */
    public static MinionSummary minionSummary(float[] output) {
        return MinionSummary.of(output);
    }

    /** The detector's features of one frame in canonical order; null when a minion's are undefined. */
    public static double[] frameFeatures(MinionSummary[] summaries) {
        double[] features = new double[summaries.length == 2 ? PAIR_FEATURES.size() : 3 * summaries.length];
        int k = 0;
        for (MinionSummary s : summaries) {
            if (!s.usable()) {
                return null;
            }
            double confidence = s.peak / s.total;
            features[k++] = confidence;
            features[k++] = confidence - s.second / s.total;
            features[k++] = s.squares / (s.total * s.total);
        }
        if (summaries.length == 2) {
            MinionSummary a = summaries[0];
            MinionSummary b = summaries[1];
            features[k++] = a.top == b.top ? 1.0 : 0.0;
            features[k++] = a.term(b.top) / a.total;
            features[k] = b.term(a.top) / b.total;
        }
        return features;
    }

    /** A frame's verdict and score (null when the features are undefined: recovered). */
    public static final class Scored {
        private final FrameVerdict verdict;
        private final Double score;

        Scored(FrameVerdict verdict, Double score) {
            this.verdict = verdict;
            this.score = score;
        }

        public FrameVerdict verdict() {
            return verdict;
        }

        public Double score() {
            return score;
        }
    }

    /**
     * The learned detector on one frame's scores (one float32 vector per minion, dequantized for an
     * 8-bit model): the verdict (accepted when the score reaches the threshold) and the score (Python
     * {@code logistic_frame}).
     */
    public static Scored logisticFrame(float[][] outputs, LogisticDetector detector) {
        if (outputs.length != detector.minions()) {
            throw new ConfigException("the detector expects " + detector.minions() + " minion output(s); got " + outputs.length);
        }
        MinionSummary[] summaries = new MinionSummary[outputs.length];
        for (int i = 0; i < outputs.length; i++) {
            if (outputs[i].length != outputs[0].length) {
                throw new DataException("minion outputs have " + outputs[i].length + " and " + outputs[0].length
                        + " scores; expected equal lengths (one per class)");
            }
            summaries[i] = minionSummary(outputs[i]);
        }
        int answer = summaries[0].top;
        double confidence = confidence(summaries[0]);
        double lowest = confidence;
        boolean agree = true;
        for (int i = 1; i < summaries.length; i++) {
            MinionSummary s = summaries[i];
            double c = confidence(s);
            if (s.top != answer) {
                agree = false;
            }
            if (c < lowest) {
                lowest = c;
            }
            if (c > confidence) {
                answer = s.top;
                confidence = c;
            }
        }
        double shown = agree ? lowest : confidence;
        double[] features = frameFeatures(summaries);
        if (features == null) {
            return new Scored(new FrameVerdict(answer, shown, agree, false, true, detector.requiresAgreement), null);
        }
        double score = detector.score(features);
        return new Scored(new FrameVerdict(answer, shown, agree, detector.accepts(score, agree), true,
                detector.requiresAgreement), score);
    }

    /**
     * q_top = s_top / S (0.0 where the features are undefined: such a frame is recovered, so its
     * confidence only orders the answer).
     */
    private static double confidence(MinionSummary s) {
        return s.usable() ? s.peak / s.total : 0.0;
    }
}
