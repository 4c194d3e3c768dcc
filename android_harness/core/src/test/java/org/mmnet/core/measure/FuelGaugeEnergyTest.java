package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.junit.Test;

public class FuelGaugeEnergyTest {
    static final long PERIOD = 100_000_000L;  // 10 Hz

    /** {@code n} samples 0.1 s apart, reading {@code at(i)}. */
    static List<EnergySampler.Sample> samples(int n, IntFunction<BatteryReading> at) {
        List<EnergySampler.Sample> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new EnergySampler.Sample(i * PERIOD, at.apply(i)));
        }
        return out;
    }

    static List<BatteryReading> readings(List<EnergySampler.Sample> samples) {
        List<BatteryReading> out = new ArrayList<>();
        for (EnergySampler.Sample s : samples) {
            out.add(s.reading);
        }
        return out;
    }

    static FuelGaugeEnergy.WindowPower power(List<EnergySampler.Sample> samples, boolean charging) {
        return FuelGaugeEnergy.windowPower(samples, FuelGaugeEnergy.calibrate(readings(samples), charging));
    }

    /** 500 mA at 4 V = 2000 mW, whichever way the vendor reports it. */
    @Test
    public void normalisesSignAndUnits() {
        assertEquals(2000.0, power(samples(20, i -> new BatteryReading(-500_000L, 4000L, null, null)), false).meanMw, 1e-9);
        assertEquals(2000.0, power(samples(20, i -> new BatteryReading(500_000L, 4000L, null, null)), false).meanMw, 1e-9);
        assertEquals(2000.0, power(samples(20, i -> new BatteryReading(-500L, 4000L, null, null)), false).meanMw, 1e-9);
        assertEquals(2000.0, power(samples(20, i -> new BatteryReading(500_000L, 4L, null, null)), false).meanMw, 1e-9);
        assertEquals(2000.0, power(samples(20, i -> new BatteryReading(-500_000L, 4_000_000L, null, null)), false).meanMw,
                1e-9);
    }

    @Test
    public void saysWhatItNormalised() {
        List<BatteryReading> r = readings(samples(5, i -> new BatteryReading(500L, 4L, null, null)));
        FuelGaugeEnergy.Calibration cal = FuelGaugeEnergy.calibrate(r, false);
        assertEquals(FuelGaugeEnergy.Method.CURRENT_VOLTAGE, cal.method);
        assertEquals(1000.0, cal.currentScale, 0);
        assertEquals(1000.0, cal.voltageScale, 0);
        assertEquals("[voltage reported in V, CURRENT_NOW is positive while discharging (vendor sign convention), "
                + "read as discharge, CURRENT_NOW median 500 is implausible in µA, read as mA]", cal.notes.toString());
    }

    @Test
    public void integratesOverTime() {
        // Power ramps 1000 -> 2900 mW over 20 samples: the trapezoid mean of a line is its midpoint, 1950 mW.
        FuelGaugeEnergy.WindowPower p = power(samples(20, i -> new BatteryReading(-(250_000L + 25_000L * i), 4000L,
                null, null)), false);
        assertEquals(1950.0, p.meanMw, 1e-9);
        assertEquals(20, p.samples);
        assertEquals(19, p.currentUpdates);
    }

    @Test
    public void chargingMakesTheGaugeUnusable() {
        List<EnergySampler.Sample> s = samples(20, i -> new BatteryReading(-500_000L, 4000L, null, null));
        FuelGaugeEnergy.WindowPower p = power(s, true);
        assertNull(p.meanMw);
        assertEquals("the phone was charging: the battery current includes the charger", p.problem);
    }

    @Test
    public void risingChargeCounterMeansACableIsCharging() {
        // Reported "not charging" (e.g. `dumpsys battery unplug`) but the counter climbs.
        List<EnergySampler.Sample> s = samples(20, i -> new BatteryReading(300_000L, 4000L, 3_000_000L + i, null));
        FuelGaugeEnergy.Calibration cal = FuelGaugeEnergy.calibrate(readings(s), false);
        assertNull(cal.method);
        assertTrue(cal.unusable, cal.unusable.startsWith("the battery's charge rose during the run"));
    }

    @Test
    public void fallsBackToTheEnergyCounter() {
        // No current; remaining energy falls 200 nWh per 0.1 s = 2000 nWh/s = 7.2 mW.
        List<EnergySampler.Sample> s = samples(21, i -> new BatteryReading(null, 4000L, null, 10_000_000L - 200L * i));
        FuelGaugeEnergy.Calibration cal = FuelGaugeEnergy.calibrate(readings(s), false);
        assertEquals(FuelGaugeEnergy.Method.ENERGY_COUNTER, cal.method);
        assertEquals(7.2, FuelGaugeEnergy.windowPower(s, cal).meanMw, 1e-9);
    }

    @Test
    public void fallsBackToTheChargeCounterTimesVoltage() {
        // 1 µAh per 0.1 s = 10 µAh/s × 3.6 mC/µAh × 4 V = 144 mW.
        List<EnergySampler.Sample> s = samples(21, i -> new BatteryReading(0L, 4000L, 3_000_000L - i, null));
        FuelGaugeEnergy.Calibration cal = FuelGaugeEnergy.calibrate(readings(s), false);
        assertEquals(FuelGaugeEnergy.Method.CHARGE_COUNTER, cal.method);
        assertEquals(144.0, FuelGaugeEnergy.windowPower(s, cal).meanMw, 1e-9);
    }

    @Test
    public void aCounterThatDoesNotMoveWithinTheWindowSaysSo() {
        List<EnergySampler.Sample> run = samples(21, i -> new BatteryReading(null, 4000L, 3_000_000L - i, null));
        FuelGaugeEnergy.Calibration cal = FuelGaugeEnergy.calibrate(readings(run), false);
        List<EnergySampler.Sample> flat = samples(5, i -> new BatteryReading(null, 4000L, 2_999_990L, null));
        FuelGaugeEnergy.WindowPower p = FuelGaugeEnergy.windowPower(flat, cal);
        assertNull(p.meanMw);
        assertEquals("the charge counter did not fall within the window (too coarse)", p.problem);
    }

    @Test
    public void aWindowThatChargedHasNoPower() {
        // The run discharges overall (-500 mA), but the second window has current flowing in.
        List<EnergySampler.Sample> run = samples(20, i -> new BatteryReading(i < 15 ? -500_000L : 300_000L, 4000L,
                null, null));
        FuelGaugeEnergy.Calibration cal = FuelGaugeEnergy.calibrate(readings(run), false);
        FuelGaugeEnergy.WindowPower p = FuelGaugeEnergy.windowPower(run.subList(15, 20), cal);
        assertNull(p.meanMw);
        assertEquals("the battery charged during the window (mean 1200.0 mW into it)", p.problem);
    }

    @Test
    public void nothingUsable() {
        List<EnergySampler.Sample> s = samples(5, i -> new BatteryReading(null, null, null, null));
        FuelGaugeEnergy.Calibration cal = FuelGaugeEnergy.calibrate(readings(s), false);
        assertNull(cal.method);
        assertEquals("the fuel gauge reports neither current with voltage nor a changing energy or charge counter",
                cal.unusable);
    }
}
