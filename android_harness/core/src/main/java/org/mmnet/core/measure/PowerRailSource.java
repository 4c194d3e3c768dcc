package org.mmnet.core.measure;

import java.util.List;
import java.util.Map;

/**
 * On-device power monitors (android.os.PowerMonitor on Android 15+): ODPM rails and modelled
 * energy consumers, each a cumulative energy counter.
 */
public interface PowerRailSource {
    /** What {@link Reading#energyMicroJoules} holds for a monitor with no value (PowerMonitorReadings.ENERGY_UNAVAILABLE). */
    long ENERGY_UNAVAILABLE = -1;

    enum Kind {
        /** A directly measured power rail (PowerMonitor.POWER_MONITOR_TYPE_MEASUREMENT). */
        MEASUREMENT,
        /** A subsystem's energy, measured or modelled (POWER_MONITOR_TYPE_CONSUMER); overlaps the rails. */
        CONSUMER
    }

    /** One monitor. */
    final class Monitor {
        public final String name;
        public final Kind kind;

        public Monitor(String name, Kind kind) {
            this.name = name;
            this.kind = kind;
        }
    }

    /** Cumulative energy since boot per monitor name, each with the time its value was taken. */
    final class Reading {
        /** µJ (= µW·s, the unit of PowerMonitorReadings#getConsumedEnergy) per monitor name. */
        public final Map<String, Long> energyMicroJoules;
        /** Elapsed-realtime milliseconds of each monitor's value. */
        public final Map<String, Long> timestampMillis;

        public Reading(Map<String, Long> energyMicroJoules, Map<String, Long> timestampMillis) {
            this.energyMicroJoules = energyMicroJoules;
            this.timestampMillis = timestampMillis;
        }
    }

    /** The monitors this phone has; empty where the platform or the device has none. */
    List<Monitor> monitors();

    /** Reads every monitor; throws {@link IllegalStateException} when the platform refuses. */
    Reading read();
}
