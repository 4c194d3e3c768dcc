package org.mmnet.core.measure;

/**
 * Fixed-rate pacing, like a camera: frame slot k arrives {@code k * interval} after
 * {@link #start()}. {@link #awaitNextSlot()} sleeps until the next slot arrives, or, when the
 * previous frame overran and slots arrived meanwhile, returns at once with the latest of them; the
 * older ones are dropped and counted as missed deadlines, as a camera pipeline that cannot keep up
 * only ever sees its newest frame. A null interval means back to back: no waiting, nothing missed.
 */
public final class FramePacer {
    private final Clock clock;
    private final long intervalNanos;
    private long startNanos;
    private long nextSlot;
    private long missed;
    private long served;
    private boolean started;

    /** {@code intervalMs} null or > 0. */
    public FramePacer(Clock clock, Double intervalMs) {
        if (intervalMs != null && !(intervalMs > 0)) {
            throw new IllegalArgumentException("frame interval is " + intervalMs + " ms; expected null or > 0");
        }
        this.clock = clock;
        this.intervalNanos = intervalMs == null ? 0 : Math.round(intervalMs * 1e6);
    }

    public boolean paced() {
        return intervalNanos > 0;
    }

    /** Slot 0 is now. */
    public void start() {
        startNanos = clock.nanoTime();
        nextSlot = 0;
        missed = 0;
        served = 0;
        started = true;
    }

    /**
     * Waits for the next frame slot and returns its index (0, 1, ...; gaps are dropped slots).
     * Back to back, returns the count of frames served so far without waiting.
     */
    public long awaitNextSlot() throws InterruptedException {
        if (!started) {
            throw new IllegalStateException("FramePacer.awaitNextSlot before start()");
        }
        if (!paced()) {
            return served++;
        }
        long now = clock.nanoTime();
        long due = startNanos + nextSlot * intervalNanos;
        if (now < due) {
            clock.sleepNanos(due - now);
            served++;
            return nextSlot++;
        }
        long latest = (now - startNanos) / intervalNanos;  // the newest slot that has arrived
        missed += latest - nextSlot;
        nextSlot = latest + 1;
        served++;
        return latest;
    }

    /** Slots dropped because the frame before them was still running. */
    public long missedDeadlines() {
        return missed;
    }

    public long framesServed() {
        return served;
    }
}
