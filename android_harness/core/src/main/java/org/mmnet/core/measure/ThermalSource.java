package org.mmnet.core.measure;

/** The phone's thermal status (PowerManager.getCurrentThermalStatus on Android 10+). */
public interface ThermalSource {
    /** What {@link #status()} returns where the platform has no thermal status (before API 29). */
    int UNAVAILABLE = -1;

    /** PowerManager.THERMAL_STATUS_* (0 none .. 6 shutdown), or {@link #UNAVAILABLE}. */
    int status();
}
