package org.mmnet.core.detect;

/** The detector's verdict on one frame (Python detector.FrameVerdict). */
public final class FrameVerdict {
    private final int answer;
    private final double confidence;
    private final boolean agree;
    private final boolean accept;

    FrameVerdict(int answer, double confidence, boolean agree, boolean accept) {
        this.answer = answer;
        this.confidence = confidence;
        this.agree = agree;
        this.accept = accept;
    }

    /** The common top-1 class, or on disagreement the most confident minion's. */
    public int answer() {
        return answer;
    }

    /** Agreeing: the lowest calibrated top-1 confidence; else the most confident minion's. */
    public double confidence() {
        return confidence;
    }

    public boolean agree() {
        return agree;
    }

    public boolean accept() {
        return accept;
    }

    /** "accepted", "low_confidence" or "disagree". */
    public String reason() {
        return accept ? "accepted" : (agree ? "low_confidence" : "disagree");
    }
}
