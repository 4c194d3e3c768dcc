package org.mmnet.core.measure;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Energy per inference: power while the model runs minus the idle baseline, times the active time,
 * over the inferences. The fuel gauge is sampled all along ({@link EnergySampler}); power monitors,
 * being cumulative counters, are read at the window edges. The power monitors are the source when
 * they measured; the fuel gauge's figure is then given in the note as a cross-check.
 */
public final class EnergyMeter implements AutoCloseable {
    private final BatterySource battery;
    private final PowerRailSource rails;
    private final Clock clock;
    private final EnergySampler sampler;
    private final List<PowerRailSource.Monitor> monitors;
    private final String railsProblem;

    /** A span of time whose power is measured: the idle baseline or the timed runs. */
    public final class Window {
        final long startNanos;
        long endNanos = -1;
        final PowerRailSource.Reading railsStart;
        PowerRailSource.Reading railsEnd;
        boolean charging;
        String railsError;

        private Window() {
            charging = battery.status().charging;
            railsStart = readRails();
            startNanos = clock.nanoTime();
        }

        /** Closes the window; call once. */
        public void end() {
            if (endNanos >= 0) {
                throw new IllegalStateException("energy window already ended");
            }
            endNanos = clock.nanoTime();
            railsEnd = readRails();
            charging |= battery.status().charging;
        }

        public double seconds() {
            return (endNanos - startNanos) / 1e9;
        }

        private PowerRailSource.Reading readRails() {
            if (monitors.isEmpty()) {
                return null;
            }
            try {
                return rails.read();
            } catch (IllegalStateException e) {
                railsError = e.getMessage();
                return null;
            }
        }
    }

    /** {@code rails} may be null (no power monitors on this phone or API level). */
    public EnergyMeter(BatterySource battery, PowerRailSource rails, Clock clock, double sampleHz) {
        this.battery = battery;
        this.rails = rails;
        this.clock = clock;
        this.sampler = new EnergySampler(battery, clock, sampleHz);
        List<PowerRailSource.Monitor> found = Collections.emptyList();
        String problem = null;
        if (rails == null) {
            problem = "no power monitors (Android 15+ PowerMonitor API)";
        } else {
            try {
                found = PowerRailEnergy.chosen(rails.monitors());
                if (found.isEmpty()) {
                    problem = "this phone exposes no power monitors";
                }
            } catch (IllegalStateException e) {
                problem = "power monitors unavailable: " + e.getMessage();
            }
        }
        this.monitors = found;
        this.railsProblem = problem;
    }

    public void start() {
        sampler.start();
    }

    /** Opens a window now. */
    public Window begin() {
        return new Window();
    }

    /** Energy of {@code inferences} run inside {@code active}; {@code baseline} (nothing running) may be null. */
    public EnergyResult result(Window baseline, Window active, long inferences) {
        if (active.endNanos < 0 || (baseline != null && baseline.endNanos < 0)) {
            throw new IllegalStateException("energy windows must be ended before their result is computed");
        }
        if (inferences < 1) {
            throw new IllegalArgumentException("inferences is " + inferences + "; expected >= 1");
        }
        List<String> notes = new ArrayList<>();
        long from = baseline != null ? baseline.startNanos : active.startNanos;
        List<EnergySampler.Sample> all = sampler.between(from, active.endNanos);
        List<BatteryReading> readings = new ArrayList<>(all.size());
        for (EnergySampler.Sample s : all) {
            readings.add(s.reading);
        }
        boolean charging = active.charging || (baseline != null && baseline.charging);
        FuelGaugeEnergy.Calibration cal = FuelGaugeEnergy.calibrate(readings, charging);
        notes.addAll(cal.notes);
        FuelGaugeEnergy.WindowPower gaugeActive = FuelGaugeEnergy.windowPower(
                sampler.between(active.startNanos, active.endNanos), cal);
        FuelGaugeEnergy.WindowPower gaugeIdle = baseline == null ? null : FuelGaugeEnergy.windowPower(
                sampler.between(baseline.startNanos, baseline.endNanos), cal);
        if (cal.method == FuelGaugeEnergy.Method.CURRENT_VOLTAGE && gaugeActive.currentUpdates < 2) {
            notes.add(String.format(Locale.ROOT, "fuel gauge current changed %d time(s) in %.1f s of runs: it updates "
                    + "slower than that; use a longer run (duration_s)", gaugeActive.currentUpdates, active.seconds()));
        }
        if (sampler.overruns() > 0) {
            notes.add(sampler.overruns() + " sample slot(s) skipped so far in this run: the gauge reads slower than the "
                    + "sampling period");
        }
        if (sampler.failure() != null) {
            notes.add("fuel-gauge sampling stopped: " + sampler.failure());
        }
        Double gaugeMj = perInference(gaugeActive.meanMw, gaugeIdle == null ? null : gaugeIdle.meanMw,
                baseline != null, active.seconds(), inferences, "fuel gauge", notes,
                gaugeActive.problem != null ? gaugeActive.problem : gaugeIdle == null ? null : gaugeIdle.problem);

        Double railsActive = null;
        Double railsIdle = null;
        Double railsMj = null;
        String railsWhy = railsProblem;
        if (railsWhy == null) {
            railsWhy = firstNonNull(active.railsError, baseline == null ? null : baseline.railsError);
        }
        if (railsWhy == null) {
            // A monitor must be usable in both windows, or the difference mixes different sets of rails.
            Set<String> skip = new LinkedHashSet<>();
            List<String> skipped = new ArrayList<>();
            PowerRailEnergy.WindowPower a = PowerRailEnergy.windowPower(monitors, active.railsStart, active.railsEnd,
                    Collections.emptyList());
            PowerRailEnergy.WindowPower b = baseline == null ? null : PowerRailEnergy.windowPower(monitors,
                    baseline.railsStart, baseline.railsEnd, Collections.emptyList());
            for (PowerRailEnergy.WindowPower w : b == null ? Collections.singletonList(a) : Arrays.asList(a, b)) {
                for (String s : w.skipped) {
                    skip.add(s.substring(0, s.indexOf(':')));
                    skipped.add(s);
                }
            }
            if (!skip.isEmpty()) {
                List<String> excluded = new ArrayList<>(skip);
                a = PowerRailEnergy.windowPower(monitors, active.railsStart, active.railsEnd, excluded);
                b = b == null ? null : PowerRailEnergy.windowPower(monitors, baseline.railsStart, baseline.railsEnd,
                        excluded);
                notes.add("power monitors left out: " + String.join("; ", skipped));
            }
            railsActive = a.totalMw;
            railsIdle = b == null ? null : b.totalMw;
            if (railsActive == null || (b != null && railsIdle == null)) {
                railsWhy = "no power monitor gave a usable reading";
            } else {
                notes.add(a.used.size() + " power monitor(s) summed");
                railsMj = perInference(railsActive, railsIdle, baseline != null, active.seconds(), inferences,
                        "power monitors", notes, null);
            }
        }

        int samples = gaugeActive.samples + (gaugeIdle == null ? 0 : gaugeIdle.samples);
        double seconds = active.seconds() + (baseline == null ? 0 : baseline.seconds());
        double hz = seconds > 0 ? samples / seconds : 0;
        if (baseline == null) {
            notes.add("no idle baseline (idle_baseline_s 0): the figures include the phone's idle power");
        }

        if (railsWhy == null) {
            if (gaugeMj != null) {
                notes.add(String.format(Locale.ROOT, "fuel gauge: %.4f mJ/inference", gaugeMj));
            } else if (cal.unusable != null) {
                notes.add("fuel gauge: " + cal.unusable);
            }
            return new EnergyResult(EnergyResult.POWER_MONITOR, railsMj, railsIdle, railsActive, samples, hz,
                    String.join("; ", notes));
        }
        notes.add("power monitors: " + railsWhy);
        if (gaugeActive.meanMw != null) {
            notes.add(0, "fuel gauge by " + cal.method.label);
            return new EnergyResult(EnergyResult.FUEL_GAUGE, gaugeMj, gaugeIdle == null ? null : gaugeIdle.meanMw,
                    gaugeActive.meanMw, samples, hz, String.join("; ", notes));
        }
        notes.add(0, "fuel gauge: " + (cal.unusable != null ? cal.unusable : gaugeActive.problem));
        return new EnergyResult(null, null, null, null, samples, hz, String.join("; ", notes));
    }

    /** (active - idle) × seconds / inferences, or null with a note when it cannot be trusted. */
    private static Double perInference(Double activeMw, Double idleMw, boolean hasBaseline, double seconds,
                                       long inferences, String what, List<String> notes, String problem) {
        if (activeMw == null || (hasBaseline && idleMw == null)) {
            if (problem != null && activeMw != null) {
                notes.add(what + " idle baseline: " + problem);
            }
            return null;
        }
        double marginal = hasBaseline ? activeMw - idleMw : activeMw;
        if (marginal <= 0) {
            notes.add(String.format(Locale.ROOT, "%s: active %.1f mW is not above the idle %.1f mW: the inference's "
                    + "energy is below what it resolves; use a longer run", what, activeMw, idleMw));
            return null;
        }
        return marginal * seconds / inferences;  // mW × s = mJ
    }

    private static String firstNonNull(String a, String b) {
        return a != null ? a : b;
    }

    @Override
    public void close() {
        sampler.close();
    }
}
