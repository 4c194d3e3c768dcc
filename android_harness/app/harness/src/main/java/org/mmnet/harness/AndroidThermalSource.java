package org.mmnet.harness;

import android.content.Context;
import android.os.PowerManager;
import org.mmnet.core.measure.ThermalSource;

/**
 * PowerManager's thermal status (Android 10+, API 29): a listener keeps the latest value, so
 * reading it from the run's thread costs nothing. Construct only on API 29 or later.
 */
final class AndroidThermalSource implements ThermalSource, AutoCloseable {
    private final PowerManager power;
    private volatile int status;
    private final PowerManager.OnThermalStatusChangedListener listener = s -> status = s;

    AndroidThermalSource(Context context) {
        power = context.getSystemService(PowerManager.class);
        status = power.getCurrentThermalStatus();
        // Delivered on the main thread, whose looper the app's process runs; the listener only stores an int.
        power.addThermalStatusListener(listener);
    }

    @Override
    public int status() {
        return status;
    }

    @Override
    public void close() {
        power.removeThermalStatusListener(listener);
    }
}
