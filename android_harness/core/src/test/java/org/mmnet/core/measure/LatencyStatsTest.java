package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class LatencyStatsTest {
    @Test
    public void matchesNumpy() {
        // numpy 2.4: np.median(x) 5.5, np.percentile(x, 90) 9.1, np.percentile(x, 99) 9.91, np.std(x, ddof=1) 3.0276503540974917
        LatencyStats s = LatencyStats.of(new double[] {10, 1, 9, 2, 8, 3, 7, 4, 6, 5});
        assertEquals(10, s.count);
        assertEquals(1.0, s.min, 0);
        assertEquals(10.0, s.max, 0);
        assertEquals(5.5, s.mean, 1e-12);
        assertEquals(5.5, s.median, 1e-12);
        assertEquals(9.1, s.p90, 1e-12);
        assertEquals(9.91, s.p99, 1e-12);
        assertEquals(3.0276503540974917, s.stddev, 1e-12);
        assertEquals("median 5.500 ms, p90 9.100 ms over 10 runs", s.summary());
    }

    @Test
    public void singleValue() {
        LatencyStats s = LatencyStats.of(new double[] {2.5});
        assertEquals(2.5, s.median, 0);
        assertEquals(2.5, s.p90, 0);
        assertEquals(0.0, s.stddev, 0);
    }

    @Test
    public void rejectsEmptyAndNonFinite() {
        assertEquals("latency sample is empty; expected at least one timed run",
                assertThrows(IllegalArgumentException.class, () -> LatencyStats.of(new double[0])).getMessage());
        assertEquals("latency sample[1] is NaN; expected a finite time >= 0 ms",
                assertThrows(IllegalArgumentException.class, () -> LatencyStats.of(new double[] {1, Double.NaN}))
                        .getMessage());
    }
}
