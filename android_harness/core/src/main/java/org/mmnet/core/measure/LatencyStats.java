package org.mmnet.core.measure;

import java.util.Arrays;

/**
 * Summary of a latency sample in milliseconds. Percentiles interpolate linearly between order
 * statistics, as numpy's default {@code np.percentile} does, so the phone's summary matches what
 * the Python runtime and the host compute from the same list.
 */
public final class LatencyStats {
    public final int count;
    public final double min;
    public final double max;
    public final double mean;
    public final double median;
    public final double p90;
    public final double p99;
    /** Sample standard deviation (n - 1); 0 for a single value. */
    public final double stddev;

    private LatencyStats(double[] sorted) {
        count = sorted.length;
        min = sorted[0];
        max = sorted[count - 1];
        double sum = 0;
        for (double v : sorted) {
            sum += v;
        }
        mean = sum / count;
        double squares = 0;
        for (double v : sorted) {
            squares += (v - mean) * (v - mean);
        }
        stddev = count > 1 ? Math.sqrt(squares / (count - 1)) : 0.0;
        median = percentileOfSorted(sorted, 50);
        p90 = percentileOfSorted(sorted, 90);
        p99 = percentileOfSorted(sorted, 99);
    }

    /** Statistics of {@code latenciesMs}; rejects an empty sample and non-finite or negative values. */
    public static LatencyStats of(double[] latenciesMs) {
        if (latenciesMs.length == 0) {
            throw new IllegalArgumentException("latency sample is empty; expected at least one timed run");
        }
        for (int i = 0; i < latenciesMs.length; i++) {
            double v = latenciesMs[i];
            if (!(v >= 0) || Double.isInfinite(v)) {
                throw new IllegalArgumentException("latency sample[" + i + "] is " + v + "; expected a finite time >= 0 ms");
            }
        }
        double[] sorted = latenciesMs.clone();
        Arrays.sort(sorted);
        return new LatencyStats(sorted);
    }

    /** The q-th percentile (0..100) of an ascending array, linear interpolation. */
    static double percentileOfSorted(double[] sorted, double q) {
        double rank = q / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(rank);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo]);
    }

    /** One line for status messages and logs. */
    public String summary() {
        return String.format(java.util.Locale.ROOT, "median %.3f ms, p90 %.3f ms over %d runs", median, p90, count);
    }
}
