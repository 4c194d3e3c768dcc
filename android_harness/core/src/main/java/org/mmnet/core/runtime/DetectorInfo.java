package org.mmnet.core.runtime;

import com.google.gson.JsonObject;
import org.mmnet.core.detect.FrameVerdict;

/** The detector's view of a frame whose minions ran: verdict, class threshold, disagreement threshold. */
public final class DetectorInfo {
    private final FrameVerdict verdict;
    private final double threshold;
    private final Double disagreementThreshold;
    private final boolean checked;

    DetectorInfo(FrameVerdict verdict, double threshold, Double disagreementThreshold, boolean checked) {
        this.verdict = verdict;
        this.threshold = threshold;
        this.disagreementThreshold = disagreementThreshold;
        this.checked = checked;
    }

    public FrameVerdict verdict() {
        return verdict;
    }

    public boolean agree() {
        return verdict.agree();
    }

    public double confidence() {
        return verdict.confidence();
    }

    /** The tuned threshold of the answered class. */
    public double threshold() {
        return threshold;
    }

    public Double disagreementThreshold() {
        return disagreementThreshold;
    }

    /** "accepted", "low_confidence", "disagree", or "unchecked" (history rule 1: no detection). */
    public String verdictName() {
        return checked ? verdict.reason() : "unchecked";
    }

    JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("agree", verdict.agree());
        o.addProperty("confidence", verdict.confidence());
        o.addProperty("threshold", threshold);
        o.addProperty("disagreement_threshold", disagreementThreshold);
        o.addProperty("verdict", verdictName());
        return o;
    }
}
