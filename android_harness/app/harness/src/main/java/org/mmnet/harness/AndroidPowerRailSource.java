package org.mmnet.harness;

import android.content.Context;
import android.os.OutcomeReceiver;
import android.os.PowerMonitor;
import android.os.PowerMonitorReadings;
import android.os.health.SystemHealthManager;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.mmnet.core.measure.PowerRailSource;

/**
 * On-device power monitors through SystemHealthManager (Android 15, API 35):
 * getSupportedPowerMonitors lists ODPM rails and energy consumers, getPowerMonitorReadings returns
 * each one's energy since boot in µW·s (= µJ) with its timestamp. Both calls are asynchronous; this
 * class waits (up to 5 s) for their answers. Construct only on API 35 or later.
 */
final class AndroidPowerRailSource implements PowerRailSource {
    private static final long TIMEOUT_S = 5;

    private final SystemHealthManager health;
    private List<PowerMonitor> monitors;

    AndroidPowerRailSource(Context context) {
        health = context.getSystemService(SystemHealthManager.class);
    }

    /** Lists the phone's monitors once; an IllegalStateException when the platform does not answer. */
    @Override
    public synchronized List<Monitor> monitors() {
        if (monitors == null) {
            CompletableFuture<List<PowerMonitor>> listed = new CompletableFuture<>();
            health.getSupportedPowerMonitors(Runnable::run, listed::complete);
            monitors = Collections.unmodifiableList(await(listed, "listing"));
        }
        List<Monitor> out = new ArrayList<>();
        for (PowerMonitor m : monitors) {
            out.add(new Monitor(m.getName(), m.getType() == PowerMonitor.POWER_MONITOR_TYPE_MEASUREMENT
                    ? Kind.MEASUREMENT : Kind.CONSUMER));
        }
        return out;
    }

    @Override
    public synchronized Reading read() {
        if (monitors == null) {
            throw new IllegalStateException("power monitors read before they were listed");
        }
        CompletableFuture<PowerMonitorReadings> answer = new CompletableFuture<>();
        health.getPowerMonitorReadings(monitors, Runnable::run,
                new OutcomeReceiver<PowerMonitorReadings, RuntimeException>() {
                    @Override
                    public void onResult(PowerMonitorReadings readings) {
                        answer.complete(readings);
                    }

                    @Override
                    public void onError(RuntimeException error) {
                        answer.completeExceptionally(error);
                    }
                });
        PowerMonitorReadings readings = await(answer, "reading");
        Map<String, Long> energy = new HashMap<>();
        Map<String, Long> time = new HashMap<>();
        for (PowerMonitor m : monitors) {
            energy.put(m.getName(), readings.getConsumedEnergy(m));
            time.put(m.getName(), readings.getTimestampMillis(m));
        }
        return new Reading(energy, time);
    }

    private static <T> T await(CompletableFuture<T> future, String what) {
        try {
            return future.get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException(what + " power monitors failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException(what + " power monitors: no answer within " + TIMEOUT_S + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(what + " power monitors was interrupted", e);
        }
    }
}
