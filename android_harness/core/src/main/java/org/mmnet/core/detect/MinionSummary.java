package org.mmnet.core.detect;

/**
 * One minion's output on one frame, as the learned detector's features need it (Python
 * {@code learned_detector.MinionSummary}): the terms s_j = max(p_j, 0) (the float32 scores widened
 * to double, clipped at 0), their sum S and sum of squares (both left to right), the top term and
 * the largest other one.
 */
public final class MinionSummary {
    /** The top-1 class: the first index of the largest term. */
    public final int top;
    /** S = Σ_j s_j, left to right. */
    public final double total;
    /** s_top. */
    public final double peak;
    /** The largest s_j at any index but top (0.0 with a single class). */
    public final double second;
    /** Σ_j s_j·s_j, left to right. */
    public final double squares;
    private final double[] terms;

    MinionSummary(int top, double total, double peak, double second, double squares, double[] terms) {
        this.top = top;
        this.total = total;
        this.peak = peak;
        this.second = second;
        this.squares = squares;
        this.terms = terms;
    }

    /** The terms s_j in class order. */
    public double[] terms() {
        return terms.clone();
    }

    double term(int index) {
        return terms[index];
    }

    /** Whether the features are defined: S and S·S are positive and finite. */
    public boolean usable() {
        return 0.0 < total && total < Double.POSITIVE_INFINITY
                && 0.0 < total * total && total * total < Double.POSITIVE_INFINITY;
    }

    /**
     * The terms of one minion's scores (float32 as the model outputs them, or dequantized from its
     * 8-bit codes, which are the values of Python's {@code score_table}): s_j = p_j if p_j > 0 else
     * 0.0, sums left to right, the first maximum on ties. No power function: only additions and
     * multiplications, so the bits are Python's.
     */
    public static MinionSummary of(float[] output) {
        if (output.length < 1) {
            throw new org.mmnet.core.DataException("a minion output has no scores; expected one per class");
        }
        double[] terms = new double[output.length];
        double total = 0.0;
        double squares = 0.0;
        int top = 0;
        for (int j = 0; j < output.length; j++) {
            double p = output[j];
            double s = p > 0 ? p : 0.0;  // NaN and -0.0 give 0.0, as in Python
            terms[j] = s;
            total += s;
            squares += s * s;
            if (s > terms[top]) {
                top = j;
            }
        }
        double second = 0.0;
        if (terms.length > 1) {
            second = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < terms.length; j++) {
                if (j != top && terms[j] > second) {
                    second = terms[j];
                }
            }
        }
        return new MinionSummary(top, total, terms[top], second, squares, terms);
    }
}
