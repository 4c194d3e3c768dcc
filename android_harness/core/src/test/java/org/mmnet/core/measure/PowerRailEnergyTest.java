package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class PowerRailEnergyTest {
    static final PowerRailSource.Monitor CPU = new PowerRailSource.Monitor("S4M_VDD_CPUCL0", PowerRailSource.Kind.MEASUREMENT);
    static final PowerRailSource.Monitor GPU = new PowerRailSource.Monitor("S2S_VDD_G3D", PowerRailSource.Kind.MEASUREMENT);
    static final PowerRailSource.Monitor MODEM = new PowerRailSource.Monitor("MODEM", PowerRailSource.Kind.CONSUMER);

    static PowerRailSource.Reading reading(Object... nameEnergyTime) {
        Map<String, Long> energy = new HashMap<>();
        Map<String, Long> time = new HashMap<>();
        for (int i = 0; i < nameEnergyTime.length; i += 3) {
            energy.put((String) nameEnergyTime[i], ((Number) nameEnergyTime[i + 1]).longValue());
            time.put((String) nameEnergyTime[i], ((Number) nameEnergyTime[i + 2]).longValue());
        }
        return new PowerRailSource.Reading(energy, time);
    }

    @Test
    public void railsWinOverConsumers() {
        assertEquals(Arrays.asList(CPU, GPU), PowerRailEnergy.chosen(Arrays.asList(MODEM, CPU, GPU)));
        assertEquals(Collections.singletonList(MODEM), PowerRailEnergy.chosen(Collections.singletonList(MODEM)));
    }

    @Test
    public void sumsEachRailOverItsOwnTimestamps() {
        // CPU: 1,500,000 µJ over 1000 ms = 1500 mW; GPU: 250,000 µJ over 500 ms = 500 mW.
        PowerRailEnergy.WindowPower p = PowerRailEnergy.windowPower(Arrays.asList(CPU, GPU),
                reading("S4M_VDD_CPUCL0", 10_000_000, 5_000, "S2S_VDD_G3D", 2_000_000, 5_250),
                reading("S4M_VDD_CPUCL0", 11_500_000, 6_000, "S2S_VDD_G3D", 2_250_000, 5_750),
                Collections.emptyList());
        assertEquals(2000.0, p.totalMw, 1e-9);
        assertEquals(Arrays.asList("S4M_VDD_CPUCL0", "S2S_VDD_G3D"), p.used);
    }

    @Test
    public void leavesOutRailsItCannotUse() {
        List<PowerRailSource.Monitor> both = Arrays.asList(CPU, GPU);
        PowerRailEnergy.WindowPower p = PowerRailEnergy.windowPower(both,
                reading("S4M_VDD_CPUCL0", -1, 5_000, "S2S_VDD_G3D", 2_000_000, 5_000),
                reading("S4M_VDD_CPUCL0", 100, 6_000, "S2S_VDD_G3D", 1_000_000, 6_000),
                Collections.emptyList());
        assertNull(p.totalMw);
        assertEquals(Arrays.asList("S4M_VDD_CPUCL0: energy unavailable",
                "S2S_VDD_G3D: counter went backwards (2000000 -> 1000000 µJ)"), p.skipped);

        PowerRailEnergy.WindowPower stale = PowerRailEnergy.windowPower(both,
                reading("S4M_VDD_CPUCL0", 1, 5_000, "S2S_VDD_G3D", 2_000_000, 5_000),
                reading("S4M_VDD_CPUCL0", 1, 5_000, "S2S_VDD_G3D", 2_100_000, 5_100),
                Collections.emptyList());
        assertEquals(1000.0, stale.totalMw, 1e-9);
        assertEquals(Collections.singletonList("S4M_VDD_CPUCL0: not updated within the window"), stale.skipped);

        PowerRailEnergy.WindowPower excluded = PowerRailEnergy.windowPower(both,
                reading("S4M_VDD_CPUCL0", 1, 5_000, "S2S_VDD_G3D", 2_000_000, 5_000),
                reading("S4M_VDD_CPUCL0", 1001, 5_100, "S2S_VDD_G3D", 2_100_000, 5_100),
                Collections.singletonList("S2S_VDD_G3D"));
        assertEquals(10.0, excluded.totalMw, 1e-9);
    }
}
