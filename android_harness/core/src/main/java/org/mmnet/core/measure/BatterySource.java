package org.mmnet.core.measure;

/** The phone's fuel gauge (BatteryManager on Android); fakes in tests. Must be callable from any thread. */
public interface BatterySource {
    /** One gauge reading; cheap enough to call at the sampling rate. */
    BatteryReading read();

    BatteryStatus status();
}
