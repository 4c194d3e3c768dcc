package org.mmnet.core.runtime;

import com.google.gson.JsonObject;
import org.mmnet.core.detect.FrameVerdict;
import org.mmnet.core.detect.LogisticDetector;

/**
 * The detector's view of a frame whose minions ran (Python {@code FrameResult.detector}): the
 * verdict and, for the paper's rule, the answered class's threshold and the disagreement threshold;
 * for the learned detector ({@link #kind()} "logistic"), the score threshold and the score.
 */
public final class DetectorInfo {
    private final FrameVerdict verdict;
    private final double threshold;
    private final Double disagreementThreshold;
    private final Double score;
    private final boolean checked;

    /** The paper's rule: the answered class's threshold and the disagreement threshold. */
    DetectorInfo(FrameVerdict verdict, double threshold, Double disagreementThreshold, boolean checked) {
        this(verdict, threshold, disagreementThreshold, null, checked);
    }

    private DetectorInfo(FrameVerdict verdict, double threshold, Double disagreementThreshold, Double score, boolean checked) {
        this.verdict = verdict;
        this.threshold = threshold;
        this.disagreementThreshold = disagreementThreshold;
        this.score = score;
        this.checked = checked;
    }

    /** The learned detector: its score threshold and the frame's score (null: features undefined). */
    static DetectorInfo logistic(FrameVerdict verdict, double threshold, Double score, boolean checked) {
        return new DetectorInfo(verdict, threshold, null, score, checked);
    }

    public FrameVerdict verdict() {
        return verdict;
    }

    /** "logistic" for the learned detector, "per_class_confidence" for the paper's rule. */
    public String kind() {
        return verdict.scored() ? LogisticDetector.LOGISTIC : LogisticDetector.PER_CLASS;
    }

    public boolean agree() {
        return verdict.agree();
    }

    public double confidence() {
        return verdict.confidence();
    }

    /** The tuned threshold of the answered class, or the learned detector's score threshold. */
    public double threshold() {
        return threshold;
    }

    /** The paper's rule only (null for the learned detector, which has none). */
    public Double disagreementThreshold() {
        return disagreementThreshold;
    }

    /** The learned detector's score; null for the paper's rule or when the features are undefined. */
    public Double score() {
        return score;
    }

    /** "accepted", "low_confidence", "disagree", "low_score", or "unchecked" (history rule 1: no detection). */
    public String verdictName() {
        return checked ? verdict.reason() : "unchecked";
    }

    /** Python's dict, keys in its order; the paper's rule has no "kind" or "score". */
    JsonObject toJson() {
        JsonObject o = new JsonObject();
        if (verdict.scored()) {
            o.addProperty("kind", LogisticDetector.LOGISTIC);
            o.addProperty("agree", verdict.agree());
            o.addProperty("confidence", verdict.confidence());
            o.addProperty("score", score);
            o.addProperty("threshold", threshold);
            o.addProperty("verdict", verdictName());
            return o;
        }
        o.addProperty("agree", verdict.agree());
        o.addProperty("confidence", verdict.confidence());
        o.addProperty("threshold", threshold);
        o.addProperty("disagreement_threshold", disagreementThreshold);
        o.addProperty("verdict", verdictName());
        return o;
    }
}
