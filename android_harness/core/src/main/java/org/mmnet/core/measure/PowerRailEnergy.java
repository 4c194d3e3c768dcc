package org.mmnet.core.measure;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Power from on-device power monitors: cumulative energy counters read at the edges of a window.
 * Rails (MEASUREMENT) are summed when the phone has any; consumers (CONSUMER) overlap the rails and
 * are summed only on phones without rails. Each monitor's power is its energy difference over its
 * own timestamps (µJ / ms = mW), so monitors snapshotted at different times still add up.
 */
public final class PowerRailEnergy {
    private PowerRailEnergy() {
    }

    /** The monitors whose readings count: the rails, or the consumers where there are no rails. */
    public static List<PowerRailSource.Monitor> chosen(List<PowerRailSource.Monitor> monitors) {
        List<PowerRailSource.Monitor> rails = new ArrayList<>();
        List<PowerRailSource.Monitor> consumers = new ArrayList<>();
        for (PowerRailSource.Monitor m : monitors) {
            (m.kind == PowerRailSource.Kind.MEASUREMENT ? rails : consumers).add(m);
        }
        return rails.isEmpty() ? consumers : rails;
    }

    /** Total power of the monitors over one window, and which monitors had to be left out and why. */
    public static final class WindowPower {
        /** Null when no monitor gave a usable difference. */
        public final Double totalMw;
        public final List<String> used;
        public final List<String> skipped;

        WindowPower(Double totalMw, List<String> used, List<String> skipped) {
            this.totalMw = totalMw;
            this.used = Collections.unmodifiableList(used);
            this.skipped = Collections.unmodifiableList(skipped);
        }
    }

    /** Power of {@code monitors} between two readings; a monitor named in {@code exclude} is left out. */
    public static WindowPower windowPower(List<PowerRailSource.Monitor> monitors, PowerRailSource.Reading start,
                                         PowerRailSource.Reading end, List<String> exclude) {
        double total = 0;
        List<String> used = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        for (PowerRailSource.Monitor m : monitors) {
            if (exclude.contains(m.name)) {
                continue;
            }
            String problem = problem(m.name, start, end);
            if (problem != null) {
                skipped.add(m.name + ": " + problem);
                continue;
            }
            long energy = end.energyMicroJoules.get(m.name) - start.energyMicroJoules.get(m.name);
            long millis = end.timestampMillis.get(m.name) - start.timestampMillis.get(m.name);
            total += (double) energy / millis;
            used.add(m.name);
        }
        return new WindowPower(used.isEmpty() ? null : total, used, skipped);
    }

    private static String problem(String name, PowerRailSource.Reading start, PowerRailSource.Reading end) {
        Long e0 = start.energyMicroJoules.get(name);
        Long e1 = end.energyMicroJoules.get(name);
        Long t0 = start.timestampMillis.get(name);
        Long t1 = end.timestampMillis.get(name);
        if (e0 == null || e1 == null || t0 == null || t1 == null) {
            return "no reading";
        }
        if (e0 == PowerRailSource.ENERGY_UNAVAILABLE || e1 == PowerRailSource.ENERGY_UNAVAILABLE) {
            return "energy unavailable";
        }
        if (t1 <= t0) {
            return "not updated within the window";
        }
        if (e1 < e0) {
            return String.format(Locale.ROOT, "counter went backwards (%d -> %d µJ)", e0, e1);
        }
        return null;
    }
}
