package org.mmnet.core.measure;

import java.util.Locale;

/**
 * Waits for the phone to be cool enough before a model is measured. When the thermal status is
 * above {@code max_status} it polls until the status drops, then rests {@code cooldown_s} more
 * (the status is coarse: the chip is still warm when it steps down); if the status rises again
 * during the rest it waits again. After {@code max_wait_s} it gives up and the model is measured
 * anyway, with a warning, so one hot phone does not stall a whole run.
 */
public final class ThermalGate {
    static final long POLL_NANOS = 1_000_000_000L;

    /** What the gate saw and did. */
    public static final class Outcome {
        /** Status when the gate opened, or null where the platform has none. */
        public final Integer status;
        public final double waitedS;
        /** Null, or why the measurement that follows is thermally suspect. */
        public final String warning;

        Outcome(Integer status, double waitedS, String warning) {
            this.status = status;
            this.waitedS = waitedS;
            this.warning = warning;
        }
    }

    private final ThermalSource source;
    private final Clock clock;
    private final RunRequest.ThermalSpec spec;
    private final Cancellation cancellation;

    public ThermalGate(ThermalSource source, Clock clock, RunRequest.ThermalSpec spec, Cancellation cancellation) {
        this.source = source;
        this.clock = clock;
        this.spec = spec;
        this.cancellation = cancellation;
    }

    /** The status now, or null where the platform has none. */
    public Integer status() {
        int s = source.status();
        return s == ThermalSource.UNAVAILABLE ? null : s;
    }

    public Outcome await() throws InterruptedException {
        Integer status = status();
        if (status == null) {
            return new Outcome(null, 0, "thermal status unavailable (Android < 10): no thermal gate");
        }
        if (status <= spec.maxStatus) {
            return new Outcome(status, 0, null);
        }
        long start = clock.nanoTime();
        long limit = Math.round(spec.maxWaitS * 1e9);
        long cooledAt = -1;  // when the status last dropped to max_status or below
        long rest = Math.round(spec.cooldownS * 1e9);
        while (true) {
            long waited = clock.nanoTime() - start;
            if (cooledAt >= 0 && clock.nanoTime() - cooledAt >= rest) {
                return new Outcome(status, waited / 1e9, null);
            }
            if (waited >= limit) {
                String warning = cooledAt >= 0 ? null : String.format(Locale.ROOT,
                        "thermal status %d still above max_status %d after waiting %.0f s (max_wait_s): measured anyway",
                        status, spec.maxStatus, waited / 1e9);
                return new Outcome(status, waited / 1e9, warning);
            }
            long step = Math.min(POLL_NANOS, limit - waited);
            if (cooledAt >= 0) {
                step = Math.min(step, rest - (clock.nanoTime() - cooledAt));
            }
            clock.sleepNanos(step);
            cancellation.check();
            status = status();
            if (status == null) {
                return new Outcome(null, (clock.nanoTime() - start) / 1e9, "thermal status became unavailable");
            }
            if (status > spec.maxStatus) {
                cooledAt = -1;
            } else if (cooledAt < 0) {
                cooledAt = clock.nanoTime();
            }
        }
    }
}
