package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class ThermalGateTest {
    static final long S = 1_000_000_000L;
    static final RunRequest.ThermalSpec SPEC = new RunRequest.ThermalSpec(1, 3, 60);

    static ThermalGate gate(Fakes.FakeClock clock, java.util.function.LongToIntFunction status, Cancellation c) {
        return new ThermalGate(new Fakes.FakeThermal(clock, status), clock, SPEC, c);
    }

    @Test
    public void aCoolPhonePassesAtOnce() throws InterruptedException {
        Fakes.FakeClock clock = new Fakes.FakeClock();
        ThermalGate.Outcome o = gate(clock, t -> 1, new Cancellation()).await();
        assertEquals(Integer.valueOf(1), o.status);
        assertEquals(0.0, o.waitedS, 0);
        assertNull(o.warning);
        assertEquals(0, clock.nanoTime());
    }

    @Test
    public void aHotPhoneWaitsUntilCoolThenRests() throws InterruptedException {
        Fakes.FakeClock clock = new Fakes.FakeClock();
        // Severe (3) until 5 s, then light (1): seen at the 5 s poll, rested 3 s more.
        ThermalGate.Outcome o = gate(clock, t -> t < 5 * S ? 3 : 1, new Cancellation()).await();
        assertEquals(Integer.valueOf(1), o.status);
        assertEquals(8.0, o.waitedS, 1e-9);
        assertNull(o.warning);
    }

    @Test
    public void heatingUpAgainDuringTheRestRestartsTheWait() throws InterruptedException {
        Fakes.FakeClock clock = new Fakes.FakeClock();
        // Hot, cool at 2 s, hot again at 4 s (inside the 3 s rest), cool for good at 10 s: open at 13 s.
        ThermalGate.Outcome o = gate(clock, t -> t < 2 * S ? 3 : t < 4 * S ? 0 : t < 10 * S ? 2 : 0,
                new Cancellation()).await();
        assertEquals(13.0, o.waitedS, 1e-9);
    }

    @Test
    public void givesUpAfterMaxWaitWithAWarning() throws InterruptedException {
        Fakes.FakeClock clock = new Fakes.FakeClock();
        ThermalGate.Outcome o = gate(clock, t -> 4, new Cancellation()).await();
        assertEquals(Integer.valueOf(4), o.status);
        assertEquals(60.0, o.waitedS, 1e-9);
        assertEquals("thermal status 4 still above max_status 1 after waiting 60 s (max_wait_s): measured anyway",
                o.warning);
    }

    @Test
    public void noThermalApiNoGate() throws InterruptedException {
        ThermalGate.Outcome o = gate(new Fakes.FakeClock(), t -> ThermalSource.UNAVAILABLE, new Cancellation()).await();
        assertNull(o.status);
        assertEquals("thermal status unavailable (Android < 10): no thermal gate", o.warning);
    }

    @Test
    public void cancellationEndsTheWait() {
        Fakes.FakeClock clock = new Fakes.FakeClock();
        Cancellation cancel = new Cancellation();
        ThermalGate g = gate(clock, t -> {
            if (t >= 3 * S) {
                cancel.cancel("cancelled by the host");
            }
            return 5;
        }, cancel);
        assertEquals("cancelled by the host", assertThrows(RunCancelledException.class, g::await).getMessage());
        assertEquals(4 * S, clock.nanoTime());
    }
}
