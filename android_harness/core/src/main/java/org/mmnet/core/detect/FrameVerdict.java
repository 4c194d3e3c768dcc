package org.mmnet.core.detect;

/** The detector's verdict on one frame (Python detector.FrameVerdict). */
public final class FrameVerdict {
    private final int answer;
    private final double confidence;
    private final boolean agree;
    private final boolean accept;
    private final boolean scored;
    private final boolean requiresAgreement;

    FrameVerdict(int answer, double confidence, boolean agree, boolean accept) {
        this(answer, confidence, agree, accept, false, true);
    }

    /**
     * {@code scored}: judged by the learned detector's score ({@link LogisticDetector});
     * {@code requiresAgreement}: a disagreement is recovered whatever the confidence or score.
     */
    FrameVerdict(int answer, double confidence, boolean agree, boolean accept, boolean scored, boolean requiresAgreement) {
        this.answer = answer;
        this.confidence = confidence;
        this.agree = agree;
        this.accept = accept;
        this.scored = scored;
        this.requiresAgreement = requiresAgreement;
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

    /**
     * "accepted", "disagree" (a rule requiring agreement), "low_score" (learned detector) or
     * "low_confidence" (the paper's rule).
     */
    public String reason() {
        if (accept) {
            return "accepted";
        }
        if (!agree && requiresAgreement) {
            return "disagree";
        }
        return scored ? "low_score" : "low_confidence";
    }
}
