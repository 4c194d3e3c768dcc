package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

/**
 * Real time, short windows: idle 2000 mW, then 6000 mW while "inferring". Expected energies use the
 * windows' measured length: on a loaded machine a 300 ms sleep lasts longer.
 */
public class EnergyMeterTest {
    static final int INFERENCES = 30;
    /** Length of the last measured active window. */
    static double activeSeconds;

    static EnergyResult measure(Fakes.FakeBattery battery, Fakes.FakeRails rails, boolean baseline)
            throws InterruptedException {
        try (EnergyMeter meter = new EnergyMeter(battery, rails, Clock.SYSTEM, 200)) {
            meter.start();
            EnergyMeter.Window idle = null;
            if (baseline) {
                idle = meter.begin();
                Thread.sleep(300);
                idle.end();
            }
            battery.mw = 6000;
            if (rails != null) {
                rails.read();  // settle the fake counter at the old power, then switch
                rails.mw = 3000;
            }
            EnergyMeter.Window active = meter.begin();
            Thread.sleep(300);
            active.end();
            activeSeconds = active.seconds();
            return meter.result(idle, active, INFERENCES);
        }
    }

    /** Marginal 4000 mW over ~0.3 s / 30 = ~40 mJ per inference. */
    @Test
    public void fuelGaugeAboveTheBaseline() throws InterruptedException {
        EnergyResult r = measure(new Fakes.FakeBattery(2000), null, true);
        assertEquals("fuel_gauge", r.source);
        assertEquals(2000.0, r.idleBaselineMw, 1e-6);
        assertEquals(6000.0, r.activeMw, 200);   // the switch may fall between two samples
        double expected = 4000 * activeSeconds / INFERENCES;
        assertEquals(expected, r.mjPerInference, 0.1 * expected);
        assertTrue("samples " + r.samples, r.samples > 20);
        assertTrue(r.note, r.note.startsWith("fuel gauge by current x voltage; "));
        assertTrue(r.note, r.note.contains("power monitors: no power monitors (Android 15+ PowerMonitor API)"));
    }

    /** Rails: 1000 -> 3000 mW, marginal 2000 mW × 0.3 s / 30 = ~20 mJ; the gauge's ~40 mJ is in the note. */
    @Test
    public void powerMonitorsAreTheSourceWhenTheyMeasure() throws InterruptedException {
        EnergyResult r = measure(new Fakes.FakeBattery(2000), new Fakes.FakeRails(1000), true);
        assertEquals("power_monitor", r.source);
        assertEquals(1000.0, r.idleBaselineMw, 50);
        assertEquals(3000.0, r.activeMw, 100);
        double expected = 2000 * activeSeconds / INFERENCES;
        assertEquals(expected, r.mjPerInference, 0.1 * expected);
        assertTrue(r.note, r.note.contains("1 power monitor(s) summed"));
        assertTrue(r.note, r.note.contains("fuel gauge: "));
    }

    @Test
    public void chargingLeavesNoEnergyWithoutPowerMonitors() throws InterruptedException {
        Fakes.FakeBattery battery = new Fakes.FakeBattery(2000);
        battery.charging = true;
        EnergyResult r = measure(battery, null, true);
        assertNull(r.source);
        assertNull(r.mjPerInference);
        assertNull(r.activeMw);
        assertTrue(r.note, r.note.startsWith("fuel gauge: the phone was charging"));
        assertEquals("[source, mj_per_inference, idle_baseline_mw, active_mw, samples, sample_hz, note]",
                r.toJson().keySet().toString());
    }

    @Test
    public void withoutABaselineTheFiguresIncludeIdlePower() throws InterruptedException {
        EnergyResult r = measure(new Fakes.FakeBattery(2000), null, false);
        assertEquals("fuel_gauge", r.source);
        assertNull(r.idleBaselineMw);
        double expected = 6000 * activeSeconds / INFERENCES;
        assertEquals(expected, r.mjPerInference, 0.1 * expected);
        assertTrue(r.note, r.note.contains("no idle baseline"));
    }
}
