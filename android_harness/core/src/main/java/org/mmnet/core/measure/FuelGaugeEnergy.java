package org.mmnet.core.measure;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Turns raw fuel-gauge samples into power. Android specifies CURRENT_NOW in µA, positive into the
 * battery, and EXTRA_VOLTAGE in mV; phones differ (discharge reported positive, mA instead of µA,
 * V or µV), so {@link #calibrate} looks at the readings of a whole run and decides how to read them,
 * and says what it decided. Power is P[mW] = I[mA] × V[V].
 */
public final class FuelGaugeEnergy {
    /** Below this |median| a phone cannot be running (an awake CPU draws tens of mA): the gauge reports mA. */
    static final double MILLIAMP_CEILING = 10_000;

    private FuelGaugeEnergy() {
    }

    /** Which gauge property the power comes from, best first. */
    public enum Method {
        /** CURRENT_NOW × voltage, integrated over time (trapezoid): the only time-resolved one. */
        CURRENT_VOLTAGE("current x voltage"),
        /** ENERGY_COUNTER (nWh remaining) difference. */
        ENERGY_COUNTER("energy counter"),
        /** CHARGE_COUNTER (µAh remaining) difference × mean voltage. */
        CHARGE_COUNTER("charge counter x voltage");

        public final String label;

        Method(String label) {
            this.label = label;
        }
    }

    /** How to read this phone's gauge, decided once from every sample of a run. */
    public static final class Calibration {
        /** Null when no method can work; then {@link #unusable} says why. */
        public final Method method;
        /** raw CURRENT_NOW × this = discharge current in µA, positive while the battery discharges. */
        public final double currentScale;
        /** raw voltage × this = mV. */
        public final double voltageScale;
        public final String unusable;
        public final List<String> notes;

        Calibration(Method method, double currentScale, double voltageScale, String unusable, List<String> notes) {
            this.method = method;
            this.currentScale = currentScale;
            this.voltageScale = voltageScale;
            this.unusable = unusable;
            this.notes = Collections.unmodifiableList(notes);
        }
    }

    /** Mean power of one window and how it was measured. */
    public static final class WindowPower {
        /** Null when the window holds too little to say. */
        public final Double meanMw;
        public final int samples;
        /** Times CURRENT_NOW changed value inside the window: a slow gauge repeats itself. */
        public final int currentUpdates;
        public final String problem;

        WindowPower(Double meanMw, int samples, int currentUpdates, String problem) {
            this.meanMw = meanMw;
            this.samples = samples;
            this.currentUpdates = currentUpdates;
            this.problem = problem;
        }
    }

    /**
     * Decides how to read the gauge from {@code readings} (every sample of the run, in time order).
     * {@code chargingReported}: the phone said it was charging at some point of the run.
     */
    public static Calibration calibrate(List<BatteryReading> readings, boolean chargingReported) {
        List<String> notes = new ArrayList<>();
        if (readings.size() < 2) {
            return new Calibration(null, 0, 0, "only " + readings.size() + " fuel-gauge sample(s)", notes);
        }
        Long chargeTrend = trend(readings, true);
        Long energyTrend = trend(readings, false);
        boolean rose = (chargeTrend != null && chargeTrend > 0) || (energyTrend != null && energyTrend > 0);
        if (chargingReported) {
            return new Calibration(null, 0, 0, "the phone was charging: the battery current includes the charger", notes);
        }
        if (rose) {
            // Not reported as charging, yet charge went in: e.g. `dumpsys battery unplug` over a USB cable.
            return new Calibration(null, 0, 0, "the battery's charge rose during the run although the phone did not "
                    + "report charging (a cable still powering it?)", notes);
        }

        double[] current = values(readings, Field.CURRENT);
        double[] voltage = values(readings, Field.VOLTAGE);
        double voltageScale = 0;
        if (voltage.length >= readings.size() / 2 && median(voltage) > 0) {
            double v = median(voltage);
            if (v < 100) {
                voltageScale = 1000;
                notes.add("voltage reported in V");
            } else if (v > 100_000) {
                voltageScale = 1e-3;
                notes.add("voltage reported in µV");
            } else {
                voltageScale = 1;
            }
        }

        if (current.length >= readings.size() / 2 && voltageScale > 0) {
            double m = median(current);
            if (m == 0) {
                notes.add("CURRENT_NOW reads 0");
            } else {
                double sign;
                if (m > 0) {
                    // Discharging (checked above) yet positive: this vendor reports discharge as positive.
                    sign = 1;
                    notes.add("CURRENT_NOW is positive while discharging (vendor sign convention), read as discharge");
                } else {
                    sign = -1;
                }
                double unit = 1;
                if (Math.abs(m) < MILLIAMP_CEILING) {
                    unit = 1000;
                    notes.add(String.format(Locale.ROOT, "CURRENT_NOW median %.0f is implausible in µA, read as mA", m));
                }
                return new Calibration(Method.CURRENT_VOLTAGE, sign * unit, voltageScale, null, notes);
            }
        }
        if (energyTrend != null && energyTrend < 0) {
            notes.add("no usable CURRENT_NOW/voltage: energy from ENERGY_COUNTER (coarse)");
            return new Calibration(Method.ENERGY_COUNTER, 0, voltageScale, null, notes);
        }
        if (chargeTrend != null && chargeTrend < 0 && voltageScale > 0) {
            notes.add("no usable CURRENT_NOW: energy from CHARGE_COUNTER x voltage (coarse)");
            return new Calibration(Method.CHARGE_COUNTER, 0, voltageScale, null, notes);
        }
        return new Calibration(null, 0, voltageScale, "the fuel gauge reports neither current with voltage nor a "
                + "changing energy or charge counter", notes);
    }

    /** Mean power (mW) over the samples of one window. */
    public static WindowPower windowPower(List<EnergySampler.Sample> samples, Calibration cal) {
        int updates = currentUpdates(samples);
        if (cal.method == null) {
            return new WindowPower(null, samples.size(), updates, cal.unusable);
        }
        WindowPower p;
        switch (cal.method) {
            case CURRENT_VOLTAGE:
                p = integrate(samples, cal, updates);
                break;
            case ENERGY_COUNTER:
                p = counterPower(samples, cal, updates, false);
                break;
            default:
                p = counterPower(samples, cal, updates, true);
        }
        if (p.meanMw != null && p.meanMw < 0) {
            // The run as a whole discharged, yet this window charged: a charger came and went.
            return new WindowPower(null, p.samples, updates, String.format(Locale.ROOT,
                    "the battery charged during the window (mean %.1f mW into it)", -p.meanMw));
        }
        return p;
    }

    private static WindowPower integrate(List<EnergySampler.Sample> samples, Calibration cal, int updates) {
        double areaMwNs = 0;
        long first = -1;
        long prevNanos = 0;
        double prevMw = 0;
        int used = 0;
        for (EnergySampler.Sample s : samples) {
            Long i = s.reading.currentNow;
            Long v = s.reading.voltage;
            if (i == null || v == null) {
                continue;
            }
            // µA × mV / 1e6 = mA × V = mW
            double mw = i * cal.currentScale * (v * cal.voltageScale) / 1e6;
            if (used > 0) {
                areaMwNs += (mw + prevMw) / 2 * (s.nanos - prevNanos);
            } else {
                first = s.nanos;
            }
            prevNanos = s.nanos;
            prevMw = mw;
            used++;
        }
        if (used < 2 || prevNanos == first) {
            return new WindowPower(null, samples.size(), updates, "fewer than 2 current/voltage samples in the window");
        }
        return new WindowPower(areaMwNs / (prevNanos - first), samples.size(), updates, null);
    }

    private static WindowPower counterPower(List<EnergySampler.Sample> samples, Calibration cal, int updates,
                                            boolean charge) {
        EnergySampler.Sample first = null;
        EnergySampler.Sample last = null;
        double voltageSum = 0;
        int voltages = 0;
        for (EnergySampler.Sample s : samples) {
            Long counter = charge ? s.reading.chargeCounterMicroAh : s.reading.energyCounterNanoWh;
            if (counter == null) {
                continue;
            }
            if (first == null) {
                first = s;
            }
            last = s;
            if (s.reading.voltage != null) {
                voltageSum += s.reading.voltage * cal.voltageScale;
                voltages++;
            }
        }
        if (first == null || last.nanos == first.nanos) {
            return new WindowPower(null, samples.size(), updates, "fewer than 2 counter samples in the window");
        }
        long used = charge
                ? first.reading.chargeCounterMicroAh - last.reading.chargeCounterMicroAh
                : first.reading.energyCounterNanoWh - last.reading.energyCounterNanoWh;
        if (used <= 0) {
            return new WindowPower(null, samples.size(), updates,
                    "the " + (charge ? "charge" : "energy") + " counter did not fall within the window (too coarse)");
        }
        double mj;
        if (charge) {
            if (voltages == 0) {
                return new WindowPower(null, samples.size(), updates, "no voltage in the window");
            }
            mj = used * 3.6 * (voltageSum / voltages / 1000.0);  // µAh × 3.6 mC/µAh × V = mJ
        } else {
            mj = used * 3.6e-3;  // 1 nWh = 3.6 µJ
        }
        double seconds = (last.nanos - first.nanos) / 1e9;
        return new WindowPower(mj / seconds, samples.size(), updates, null);
    }

    private static int currentUpdates(List<EnergySampler.Sample> samples) {
        int changes = 0;
        Long previous = null;
        for (EnergySampler.Sample s : samples) {
            Long i = s.reading.currentNow;
            if (i != null && previous != null && !i.equals(previous)) {
                changes++;
            }
            if (i != null) {
                previous = i;
            }
        }
        return changes;
    }

    private enum Field { CURRENT, VOLTAGE }

    private static double[] values(List<BatteryReading> readings, Field field) {
        double[] out = new double[readings.size()];
        int n = 0;
        for (BatteryReading r : readings) {
            Long v = field == Field.CURRENT ? r.currentNow : r.voltage;
            if (v != null) {
                out[n++] = v;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** Last minus first value of a counter over the run, or null when it is not reported twice. */
    private static Long trend(List<BatteryReading> readings, boolean charge) {
        Long first = null;
        Long last = null;
        for (BatteryReading r : readings) {
            Long v = charge ? r.chargeCounterMicroAh : r.energyCounterNanoWh;
            if (v != null) {
                if (first == null) {
                    first = v;
                }
                last = v;
            }
        }
        return first == null ? null : last - first;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return LatencyStats.percentileOfSorted(sorted, 50);
    }
}
