package org.mmnet.harness;

import android.os.OutcomeReceiver;
import android.os.PowerMonitor;
import android.os.PowerMonitorReadings;
import android.os.health.SystemHealthManager;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.function.ToLongFunction;
import org.robolectric.annotation.Implementation;
import org.robolectric.annotation.Implements;
import org.robolectric.annotation.Resetter;

/**
 * SystemHealthManager's power-monitor calls (API 35) answering with scripted monitors and counters: Robolectric's
 * own shadow has none. The real PowerMonitor and PowerMonitorReadings classes carry the values.
 */
@Implements(SystemHealthManager.class)
public class ScriptedPowerMonitors {
    static final List<PowerMonitor> MONITORS = new ArrayList<>();
    /** Each monitor's energy in µJ, asked at every reading. */
    static volatile ToLongFunction<PowerMonitor> energy = m -> 0;
    static volatile ToLongFunction<PowerMonitor> timestampMillis = m -> 0;
    /** When set, readings fail with it (the platform's onError). */
    static volatile RuntimeException readingError;

    @Resetter
    public static void reset() {
        MONITORS.clear();
        energy = m -> 0;
        timestampMillis = m -> 0;
        readingError = null;
    }

    static PowerMonitor add(String name, int type) {
        PowerMonitor monitor = new PowerMonitor(MONITORS.size(), type, name);
        MONITORS.add(monitor);
        return monitor;
    }

    @Implementation(minSdk = 35)
    protected void getSupportedPowerMonitors(Executor executor, Consumer<List<PowerMonitor>> onResult) {
        List<PowerMonitor> listed = new ArrayList<>(MONITORS);
        executor.execute(() -> onResult.accept(listed));
    }

    @Implementation(minSdk = 35)
    protected void getPowerMonitorReadings(List<PowerMonitor> monitors, Executor executor,
                                           OutcomeReceiver<PowerMonitorReadings, RuntimeException> onResult) {
        RuntimeException error = readingError;
        if (error != null) {
            executor.execute(() -> onResult.onError(error));
            return;
        }
        PowerMonitor[] asked = monitors.toArray(new PowerMonitor[0]);
        long[] uj = new long[asked.length];
        long[] ms = new long[asked.length];
        for (int i = 0; i < asked.length; i++) {
            uj[i] = energy.applyAsLong(asked[i]);
            ms[i] = timestampMillis.applyAsLong(asked[i]);
        }
        PowerMonitorReadings readings = new PowerMonitorReadings(asked, uj, ms);
        executor.execute(() -> onResult.onResult(readings));
    }
}
