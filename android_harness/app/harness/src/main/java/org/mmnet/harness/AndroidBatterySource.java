package org.mmnet.harness;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.content.IntentFilter;
import android.os.BatteryManager;
import org.mmnet.core.measure.BatteryReading;
import org.mmnet.core.measure.BatterySource;
import org.mmnet.core.measure.BatteryStatus;

/**
 * The fuel gauge through BatteryManager: CURRENT_NOW, CHARGE_COUNTER and ENERGY_COUNTER are read
 * on every sample; voltage, plug state, level and temperature come from the latest
 * ACTION_BATTERY_CHANGED broadcast, kept by a receiver (asking for the sticky intent at 20 Hz would
 * be a binder call per sample).
 */
final class AndroidBatterySource implements BatterySource, AutoCloseable {
    private final Context context;
    private final BatteryManager manager;
    private volatile Intent battery;

    private final BroadcastReceiver receiver = new BroadcastReceiver() {
        @Override
        public void onReceive(Context c, Intent intent) {
            battery = intent;
        }
    };

    AndroidBatterySource(Context context) {
        this.context = context;
        this.manager = context.getSystemService(BatteryManager.class);
        // A system broadcast: no export flag needed; the sticky intent comes back at once.
        battery = context.registerReceiver(receiver, new IntentFilter(Intent.ACTION_BATTERY_CHANGED));
        if (battery == null) {
            context.unregisterReceiver(receiver);
            throw new IllegalStateException("no ACTION_BATTERY_CHANGED broadcast: this device reports no battery");
        }
    }

    @Override
    public BatteryReading read() {
        Intent last = battery;
        int millivolts = last.getIntExtra(BatteryManager.EXTRA_VOLTAGE, -1);
        return new BatteryReading(
                property(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW, false),
                millivolts > 0 ? Long.valueOf(millivolts) : null,
                property(BatteryManager.BATTERY_PROPERTY_CHARGE_COUNTER, true),
                property(BatteryManager.BATTERY_PROPERTY_ENERGY_COUNTER, true));
    }

    /** Null when the gauge does not report it: Long.MIN_VALUE (targetSdk 28+), or 0 for a counter. */
    private Long property(int id, boolean counter) {
        long value = manager.getLongProperty(id);
        if (value == Long.MIN_VALUE || (counter && value == 0)) {
            return null;
        }
        return value;
    }

    @Override
    public BatteryStatus status() {
        Intent last = battery;
        int plugged = last.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0);
        int state = last.getIntExtra(BatteryManager.EXTRA_STATUS, BatteryManager.BATTERY_STATUS_UNKNOWN);
        int level = last.getIntExtra(BatteryManager.EXTRA_LEVEL, -1);
        int scale = last.getIntExtra(BatteryManager.EXTRA_SCALE, -1);
        int tenths = last.getIntExtra(BatteryManager.EXTRA_TEMPERATURE, Integer.MIN_VALUE);
        return new BatteryStatus(
                plugged != 0 || state == BatteryManager.BATTERY_STATUS_CHARGING,
                plugName(plugged),
                level >= 0 && scale > 0 ? (double) level / scale : null,
                tenths == Integer.MIN_VALUE ? null : tenths / 10.0);
    }

    private static String plugName(int plugged) {
        switch (plugged) {
            case 0:
                return null;
            case BatteryManager.BATTERY_PLUGGED_AC:
                return "ac";
            case BatteryManager.BATTERY_PLUGGED_USB:
                return "usb";
            case BatteryManager.BATTERY_PLUGGED_WIRELESS:
                return "wireless";
            default:
                return "other (" + plugged + ")";  // e.g. BATTERY_PLUGGED_DOCK (8, Android 13+)
        }
    }

    @Override
    public void close() {
        context.unregisterReceiver(receiver);
    }
}
