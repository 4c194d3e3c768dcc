package org.mmnet.core.measure;

import java.util.ArrayList;
import java.util.List;

/**
 * Samples the fuel gauge at a fixed rate on its own thread, on a fixed grid from {@link #start()}
 * so the rate does not drift with read times. A read slower than one period skips the grid points
 * it overran (counted in {@link #overruns()}); a read that throws stops sampling and is kept in
 * {@link #failure()}, so the energy result can say why it has no samples.
 */
public final class EnergySampler implements AutoCloseable {

    /** One reading and when it was taken (the sampler's clock). */
    public static final class Sample {
        public final long nanos;
        public final BatteryReading reading;

        public Sample(long nanos, BatteryReading reading) {
            this.nanos = nanos;
            this.reading = reading;
        }
    }

    private final BatterySource source;
    private final Clock clock;
    private final long periodNanos;
    private final List<Sample> samples = new ArrayList<>();
    private volatile boolean running;
    private volatile RuntimeException failure;
    private volatile long overruns;
    private Thread thread;

    public EnergySampler(BatterySource source, Clock clock, double sampleHz) {
        if (!(sampleHz >= RunRequest.MIN_SAMPLE_HZ && sampleHz <= RunRequest.MAX_SAMPLE_HZ)) {
            throw new IllegalArgumentException("sample rate is " + sampleHz + " Hz; expected "
                    + RunRequest.MIN_SAMPLE_HZ + " to " + RunRequest.MAX_SAMPLE_HZ + " Hz");
        }
        this.source = source;
        this.clock = clock;
        this.periodNanos = Math.round(1e9 / sampleHz);
    }

    public synchronized void start() {
        if (thread != null) {
            throw new IllegalStateException("EnergySampler already started");
        }
        running = true;
        thread = new Thread(this::loop, "mmnet-energy-sampler");
        thread.setDaemon(true);
        // Above normal: a late sample skews the integral more than it costs the measured model.
        thread.setPriority(Math.min(Thread.MAX_PRIORITY, Thread.NORM_PRIORITY + 1));
        thread.start();
    }

    private void loop() {
        long origin = clock.nanoTime();
        long tick = 0;
        try {
            while (running) {
                long now = clock.nanoTime();
                BatteryReading reading = source.read();
                synchronized (samples) {
                    samples.add(new Sample(now, reading));
                }
                tick++;
                long after = clock.nanoTime();
                long next = origin + tick * periodNanos;
                if (after > next) {
                    long skipTo = (after - origin) / periodNanos + 1;
                    overruns += skipTo - tick;
                    tick = skipTo;
                    next = origin + tick * periodNanos;
                }
                clock.sleepNanos(next - after);
            }
        } catch (InterruptedException e) {
            // close() interrupts the sleep: the normal way out.
        } catch (RuntimeException e) {
            failure = e;
        }
    }

    /** Samples taken in [fromNanos, toNanos], oldest first. */
    public List<Sample> between(long fromNanos, long toNanos) {
        List<Sample> out = new ArrayList<>();
        synchronized (samples) {
            for (Sample s : samples) {
                if (s.nanos >= fromNanos && s.nanos <= toNanos) {
                    out.add(s);
                }
            }
        }
        return out;
    }

    public int sampleCount() {
        synchronized (samples) {
            return samples.size();
        }
    }

    /** Grid points skipped because a read took longer than one period. */
    public long overruns() {
        return overruns;
    }

    /** What stopped the sampling, or null. */
    public RuntimeException failure() {
        return failure;
    }

    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            t = thread;
            running = false;
        }
        if (t == null) {
            return;
        }
        t.interrupt();
        try {
            t.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
