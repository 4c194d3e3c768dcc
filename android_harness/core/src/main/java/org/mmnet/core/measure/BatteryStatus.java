package org.mmnet.core.measure;

/** What the phone says about its battery besides the gauge: charging, level, temperature. */
public final class BatteryStatus {
    /** A charger is connected (EXTRA_PLUGGED != 0) or the status is CHARGING. */
    public final boolean charging;
    /** How it is plugged ("ac", "usb", "wireless", "dock"), or null when unplugged. */
    public final String plugged;
    /** Charge level 0..1, or null when unknown. */
    public final Double level;
    /** Battery temperature in °C, or null when unknown. */
    public final Double temperatureC;

    public BatteryStatus(boolean charging, String plugged, Double level, Double temperatureC) {
        this.charging = charging;
        this.plugged = plugged;
        this.level = level;
        this.temperatureC = temperatureC;
    }
}
