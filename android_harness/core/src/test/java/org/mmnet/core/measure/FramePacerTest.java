package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class FramePacerTest {
    static final long MS = 1_000_000L;

    @Test
    public void pacesAtTheIntervalAndDropsSlotsItOverran() throws InterruptedException {
        Fakes.FakeClock clock = new Fakes.FakeClock();
        FramePacer pacer = new FramePacer(clock, 10.0);
        pacer.start();
        assertEquals(0, pacer.awaitNextSlot());      // slot 0 is now
        assertEquals(0, clock.nanoTime());
        clock.advance(3 * MS);                        // 3 ms of work
        assertEquals(1, pacer.awaitNextSlot());       // waits for slot 1 at 10 ms
        assertEquals(10 * MS, clock.nanoTime());
        clock.advance(25 * MS);                       // overran to 35 ms: slot 2 dropped, slot 3 is waiting
        assertEquals(3, pacer.awaitNextSlot());
        assertEquals(35 * MS, clock.nanoTime());      // no sleep: the newest frame is already there
        assertEquals(1, pacer.missedDeadlines());
        clock.advance(1 * MS);
        assertEquals(4, pacer.awaitNextSlot());
        assertEquals(40 * MS, clock.nanoTime());
        assertEquals(1, pacer.missedDeadlines());
        assertEquals(4, pacer.framesServed());
    }

    @Test
    public void backToBackNeverWaits() throws InterruptedException {
        Fakes.FakeClock clock = new Fakes.FakeClock();
        FramePacer pacer = new FramePacer(clock, null);
        pacer.start();
        for (int i = 0; i < 5; i++) {
            assertEquals(i, pacer.awaitNextSlot());
            clock.advance(50 * MS);
        }
        assertEquals(250 * MS, clock.nanoTime());
        assertEquals(0, pacer.missedDeadlines());
    }

    @Test
    public void rejectsABadIntervalAndUseBeforeStart() {
        assertEquals("frame interval is 0.0 ms; expected null or > 0",
                assertThrows(IllegalArgumentException.class, () -> new FramePacer(Clock.SYSTEM, 0.0)).getMessage());
        FramePacer pacer = new FramePacer(Clock.SYSTEM, 33.3);
        assertThrows(IllegalStateException.class, pacer::awaitNextSlot);
    }
}
