package org.mmnet.harness;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static org.robolectric.Shadows.shadowOf;

import android.os.BatteryManager;
import android.os.PowerManager;
import android.os.PowerMonitor;
import java.util.List;
import org.junit.Before;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.mmnet.core.measure.BatteryReading;
import org.mmnet.core.measure.BatteryStatus;
import org.mmnet.core.measure.PowerRailSource;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.RuntimeEnvironment;
import org.robolectric.annotation.Config;

/** The app's readers of BatteryManager, PowerManager's thermal status and the API 35 power monitors. */
@RunWith(RobolectricTestRunner.class)
@Config(shadows = ScriptedPowerMonitors.class)
public class AndroidSourcesTest {
    @Before
    public void setUp() {
        ScriptedPowerMonitors.reset();
    }

    @Test
    public void aDeviceWithoutABatteryBroadcastIsRefused() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new AndroidBatterySource(RuntimeEnvironment.getApplication()));
        assertTrue(e.getMessage(), e.getMessage().contains("this device reports no battery"));
    }

    @Test
    public void theFuelGaugeIsReadFromBatteryManagerAndTheLatestBroadcast() {
        ScriptedPhone phone = new ScriptedPhone(-123_456);
        phone.battery.setLongProperty(BatteryManager.BATTERY_PROPERTY_ENERGY_COUNTER, 42_000_000);
        try (AndroidBatterySource source = new AndroidBatterySource(phone.context)) {
            BatteryReading r = source.read();
            assertEquals(Long.valueOf(-123_456), r.currentNow);
            assertEquals(Long.valueOf(ScriptedPhone.VOLTAGE_MV), r.voltage);
            assertEquals(Long.valueOf(3_000_000), r.chargeCounterMicroAh);
            assertEquals(Long.valueOf(42_000_000), r.energyCounterNanoWh);
            BatteryStatus s = source.status();
            assertEquals(false, s.charging);
            assertNull(s.plugged);

            phone.current(Long.MIN_VALUE);  // CURRENT_NOW unsupported
            phone.battery.setLongProperty(BatteryManager.BATTERY_PROPERTY_CHARGE_COUNTER, 0);
            assertNull(source.read().currentNow);
            assertNull(source.read().chargeCounterMicroAh);

            phone.plug(BatteryManager.BATTERY_PLUGGED_WIRELESS);
            assertEquals(true, source.status().charging);
            assertEquals("wireless", source.status().plugged);
            phone.plug(8);  // BATTERY_PLUGGED_DOCK
            assertEquals("other (8)", source.status().plugged);
        }
    }

    @Test
    public void theThermalSourceFollowsPowerManagersListener() {
        ScriptedPhone phone = new ScriptedPhone(-100_000);
        phone.thermal(PowerManager.THERMAL_STATUS_LIGHT);
        AndroidThermalSource source = new AndroidThermalSource(phone.context);
        assertEquals(PowerManager.THERMAL_STATUS_LIGHT, source.status());
        phone.thermal(PowerManager.THERMAL_STATUS_CRITICAL);
        assertEquals(PowerManager.THERMAL_STATUS_CRITICAL, source.status());
        source.close();
        assertTrue(shadowOf(phone.power).getThermalStatusListeners().isEmpty());
    }

    @Test
    public void thePowerMonitorReaderListsKindsAndReadsEachMonitorsCounter() {
        PowerMonitor rail = ScriptedPowerMonitors.add("S4M_VDD_CPUCL0", PowerMonitor.POWER_MONITOR_TYPE_MEASUREMENT);
        ScriptedPowerMonitors.add("CPU", PowerMonitor.POWER_MONITOR_TYPE_CONSUMER);
        ScriptedPowerMonitors.energy = m -> m == rail ? 1_234_567 : PowerRailSource.ENERGY_UNAVAILABLE;
        ScriptedPowerMonitors.timestampMillis = m -> m == rail ? 5_000 : 4_000;
        AndroidPowerRailSource source = new AndroidPowerRailSource(RuntimeEnvironment.getApplication());
        IllegalStateException early = assertThrows(IllegalStateException.class, source::read);
        assertTrue(early.getMessage(), early.getMessage().contains("read before they were listed"));
        List<PowerRailSource.Monitor> monitors = source.monitors();
        assertEquals(2, monitors.size());
        assertEquals("S4M_VDD_CPUCL0", monitors.get(0).name);
        assertEquals(PowerRailSource.Kind.MEASUREMENT, monitors.get(0).kind);
        assertEquals(PowerRailSource.Kind.CONSUMER, monitors.get(1).kind);
        PowerRailSource.Reading reading = source.read();
        assertEquals(Long.valueOf(1_234_567), reading.energyMicroJoules.get("S4M_VDD_CPUCL0"));
        assertEquals(Long.valueOf(PowerRailSource.ENERGY_UNAVAILABLE), reading.energyMicroJoules.get("CPU"));
        assertEquals(Long.valueOf(5_000), reading.timestampMillis.get("S4M_VDD_CPUCL0"));
        assertEquals(Long.valueOf(4_000), reading.timestampMillis.get("CPU"));
    }

    @Test
    public void aFailedPowerMonitorReadingSaysWhy() {
        ScriptedPowerMonitors.add("S4M_VDD_CPUCL0", PowerMonitor.POWER_MONITOR_TYPE_MEASUREMENT);
        ScriptedPowerMonitors.readingError = new IllegalStateException("power stats HAL died");
        AndroidPowerRailSource source = new AndroidPowerRailSource(RuntimeEnvironment.getApplication());
        source.monitors();
        IllegalStateException e = assertThrows(IllegalStateException.class, source::read);
        assertTrue(e.getMessage(), e.getMessage().startsWith("reading power monitors failed:")
                && e.getMessage().contains("power stats HAL died"));
    }
}
