package org.mmnet.core.measure;

import java.util.concurrent.locks.LockSupport;

/**
 * Time as the harness sees it: a monotonic clock for intervals, wall time for timestamps, and a
 * sleep. Injected everywhere so tests drive time by hand.
 */
public interface Clock {

    /** Monotonic nanoseconds; only differences mean anything. */
    long nanoTime();

    /** Wall time in milliseconds since the epoch (UTC), for timestamps in status and results. */
    long currentTimeMillis();

    /** Sleeps for {@code nanos} (at least roughly); returns at once when {@code nanos <= 0}. */
    void sleepNanos(long nanos) throws InterruptedException;

    /** The JVM's (and Android's) clocks. */
    Clock SYSTEM = new Clock() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }

        @Override
        public long currentTimeMillis() {
            return System.currentTimeMillis();
        }

        @Override
        public void sleepNanos(long nanos) throws InterruptedException {
            long deadline = System.nanoTime() + nanos;
            // parkNanos may return early (spurious wake-ups), so loop until the deadline.
            for (long left = nanos; left > 0; left = deadline - System.nanoTime()) {
                LockSupport.parkNanos(left);
                if (Thread.interrupted()) {
                    throw new InterruptedException("sleep interrupted");
                }
            }
        }
    };
}
