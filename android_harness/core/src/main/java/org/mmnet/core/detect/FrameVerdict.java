package org.mmnet.core.detect;

/** The detector's verdict on one frame (Python detector.FrameVerdict). */
public final class FrameVerdict {
    private final int answer;
    private final double confidence;
    private final boolean agree;
    private final boolean accept;
    private final boolean scored;

    FrameVerdict(int answer, double confidence, boolean agree, boolean accept) {
        this(answer, confidence, agree, accept, false);
    }

    /** {@code scored}: judged by the learned detector's score ({@link LogisticDetector}). */
    FrameVerdict(int answer, double confidence, boolean agree, boolean accept, boolean scored) {
        this.answer = answer;
        this.confidence = confidence;
        this.agree = agree;
        this.accept = accept;
        this.scored = scored;
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

    /** Whether the learned detector's score judged the frame (not the paper's per-class rule). */
    public boolean scored() {
        return scored;
    }

    /** "accepted", "low_score" (learned detector), "low_confidence" or "disagree" (the paper's rule). */
    public String reason() {
        if (accept) {
            return "accepted";
        }
        if (scored) {
            return "low_score";
        }
        return agree ? "low_confidence" : "disagree";
    }
}
