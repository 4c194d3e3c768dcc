package org.mmnet.core.select;

/** One rule a decision hit: a machine-readable code and a human-readable sentence. */
public final class Reason {
    private final ReasonCode code;
    private final String text;

    public Reason(ReasonCode code, String text) {
        this.code = code;
        this.text = text;
    }

    public ReasonCode code() {
        return code;
    }

    public String text() {
        return text;
    }

    @Override
    public String toString() {
        return code + ": " + text;
    }
}
