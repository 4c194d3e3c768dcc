package org.mmnet.core.measure;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The per-model profile of a "profile" run. For each model: load it on the requested delegate,
 * pass the thermal gate, measure the idle baseline (model loaded, nothing running), warm up, then
 * time the runs (back to back or paced), each run being one frame's input preparation (timed as
 * preprocessing) and one inference (timed as latency). Energy covers the timed runs, preparation
 * included: what one camera frame costs the phone.
 */
public final class ProfileRunner {
    /** Status updates at most this often: each one rewrites a file. */
    static final long PROGRESS_NANOS = 1_000_000_000L;
    /** Longest sleep between cancellation checks while idling. */
    static final long IDLE_STEP_NANOS = 200_000_000L;

    private final RunRequest request;
    private final InferenceEngine engine;
    private final BatterySource battery;
    private final PowerRailSource rails;
    private final Clock clock;
    private final Cancellation cancellation;
    private final ProgressListener progress;
    private final ThermalGate gate;
    private long lastProgress = Long.MIN_VALUE;

    public ProfileRunner(RunRequest request, InferenceEngine engine, BatterySource battery, PowerRailSource rails,
                         ThermalSource thermal, Clock clock, Cancellation cancellation, ProgressListener progress) {
        if (request.kind != RunRequest.Kind.PROFILE) {
            throw new IllegalArgumentException("ProfileRunner needs a profile request; run " + request.runId
                    + " is a " + request.kind.name().toLowerCase(Locale.ROOT) + " run");
        }
        this.request = request;
        this.engine = engine;
        this.battery = battery;
        this.rails = rails;
        this.clock = clock;
        this.cancellation = cancellation;
        this.progress = progress;
        this.gate = new ThermalGate(thermal, clock, request.thermal, cancellation);
    }

    /** Profiles every target in order and adds each model's result to {@code result}. */
    public void run(List<ProfileTarget> targets, RunResult result) throws InterruptedException {
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("no models to profile in run " + request.runId);
        }
        try (EnergyMeter meter = new EnergyMeter(battery, rails, clock, request.energy.sampleHz)) {
            meter.start();
            for (int i = 0; i < targets.size(); i++) {
                cancellation.check();
                result.addModel(profile(targets.get(i), i, targets.size(), meter, result));
            }
        }
    }

    private ModelResult profile(ProfileTarget target, int index, int count, EnergyMeter meter, RunResult result)
            throws InterruptedException {
        String label = "model " + (index + 1) + "/" + count + ": " + target.modelId;
        report(index, count, 0, label + ": loading on " + target.delegate.wireName(), true);
        long started = clock.currentTimeMillis();
        try (InferenceEngine.Session session = engine.open(target.file, target.delegate, request.threads)) {
            ByteBuffer input = session.input();

            report(index, count, 0, label + ": thermal gate", true);
            ThermalGate.Outcome thermal = gate.await();
            if (thermal.warning != null) {
                result.warn(target.modelId + ": " + thermal.warning);
            }

            EnergyMeter.Window baseline = null;
            if (request.energy.idleBaselineS > 0) {
                report(index, count, 0, label + ": idle baseline", true);
                baseline = meter.begin();
                idle(Math.round(request.energy.idleBaselineS * 1e9));
                baseline.end();
            }

            report(index, count, 0, label + ": warm-up", true);
            for (int w = 0; w < request.warmupRuns; w++) {
                input.clear();
                target.input.write(input);
                session.invoke();
                cancellation.check();
            }

            DoubleList latencies = new DoubleList();
            DoubleList preprocessing = new DoubleList();
            FramePacer pacer = new FramePacer(clock, request.frameIntervalMs);
            long durationNanos = request.durationS == null ? Long.MAX_VALUE : Math.round(request.durationS * 1e9);
            EnergyMeter.Window active = meter.begin();
            long activeStart = clock.nanoTime();
            pacer.start();
            while (true) {
                pacer.awaitNextSlot();
                long t0 = clock.nanoTime();
                input.clear();
                target.input.write(input);
                long t1 = clock.nanoTime();
                session.invoke();
                long t2 = clock.nanoTime();
                preprocessing.add((t1 - t0) / 1e6);
                latencies.add((t2 - t1) / 1e6);
                cancellation.check();
                long elapsed = t2 - activeStart;
                double done = request.runs != null ? (double) latencies.size() / request.runs
                        : Math.min(1.0, (double) elapsed / durationNanos);
                if (request.runs != null ? latencies.size() >= request.runs : elapsed >= durationNanos) {
                    break;
                }
                report(index, count, done, label + ": " + latencies.size() + " runs", false);
            }
            active.end();
            Integer after = gate.status();
            EnergyResult energy = meter.result(baseline, active, latencies.size());
            double[] times = latencies.toArray();
            report(index, count, 1, label + ": " + LatencyStats.of(times).summary(), true);
            return new ModelResult(target.modelId, target.sha256, target.tfliteSha256, target.delegate,
                    request.threads, times, preprocessing.toArray(), energy, thermal.status, after, thermal.waitedS,
                    started, clock.currentTimeMillis(), pacer.missedDeadlines());
        }
    }

    private void idle(long nanos) throws InterruptedException {
        long end = clock.nanoTime() + nanos;
        for (long left = nanos; left > 0; left = end - clock.nanoTime()) {
            clock.sleepNanos(Math.min(left, IDLE_STEP_NANOS));
            cancellation.check();
        }
    }

    private void report(int index, int count, double withinModel, String message, boolean always) {
        long now = clock.nanoTime();
        if (!always && now - lastProgress < PROGRESS_NANOS) {
            return;
        }
        lastProgress = now;
        progress.progress(Math.min(1.0, (index + withinModel) / count), message);
    }

    /** A growable double array: duration-bounded runs do not know their count up front. */
    private static final class DoubleList {
        private double[] values = new double[256];
        private int size;

        void add(double v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        int size() {
            return size;
        }

        double[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }
}
