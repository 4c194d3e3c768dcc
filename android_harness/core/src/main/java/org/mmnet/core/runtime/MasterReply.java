package org.mmnet.core.runtime;

/** The remote master's class probabilities for one frame and the round trip of the answering request. */
public final class MasterReply {
    private final float[] probabilities;
    private final double rttMs;
    private final int attempts;

    public MasterReply(float[] probabilities, double rttMs, int attempts) {
        if (probabilities == null || probabilities.length == 0) {
            throw new IllegalArgumentException("MasterReply.probabilities is empty; expected one value per class");
        }
        if (!(rttMs >= 0) || Double.isInfinite(rttMs)) {
            throw new IllegalArgumentException("MasterReply.rttMs is " + rttMs + "; expected a finite number >= 0");
        }
        if (attempts < 1) {
            throw new IllegalArgumentException("MasterReply.attempts is " + attempts + "; expected >= 1");
        }
        this.probabilities = probabilities.clone();
        this.rttMs = rttMs;
        this.attempts = attempts;
    }

    public float[] probabilities() {
        return probabilities.clone();
    }

    /** Request sent to reply parsed, of the successful attempt (ms). */
    public double rttMs() {
        return rttMs;
    }

    public int attempts() {
        return attempts;
    }
}
