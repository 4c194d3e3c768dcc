package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.List;
import org.junit.Test;

public class EnergySamplerTest {

    static void waitFor(EnergySampler sampler, int samples) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (sampler.sampleCount() < samples && sampler.failure() == null) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("sampler produced " + sampler.sampleCount() + " of " + samples + " samples in 10 s");
            }
            Thread.sleep(1);
        }
    }

    @Test
    public void samplesOnAFixedGrid() throws InterruptedException {
        Fakes.FakeClock clock = new Fakes.FakeClock();  // reads take no time: every sample lands on the grid
        EnergySampler sampler = new EnergySampler(new Fakes.FakeBattery(1000), clock, 20);
        sampler.start();
        waitFor(sampler, 50);
        sampler.close();
        List<EnergySampler.Sample> all = sampler.between(Long.MIN_VALUE, Long.MAX_VALUE);
        for (int i = 0; i < 50; i++) {
            assertEquals(i * 50_000_000L, all.get(i).nanos);
        }
        assertEquals(0, sampler.overruns());
        assertEquals(20, sampler.between(100_000_000L, 1_050_000_000L).size());
    }

    @Test
    public void realClockRateIsAtLeastTheRequestedOneOnAverage() throws InterruptedException {
        Fakes.FakeBattery battery = new Fakes.FakeBattery(1000);
        EnergySampler sampler = new EnergySampler(battery, Clock.SYSTEM, 100);
        long start = System.nanoTime();
        sampler.start();
        Thread.sleep(300);
        sampler.close();
        long end = System.nanoTime();
        List<EnergySampler.Sample> got = sampler.between(start, end);
        int n = got.size();
        // 100 Hz for 0.3 s: 30 on a quiet machine. A loaded machine wakes the thread late and skips
        // slots, but counts every skipped slot: samples + overruns fill the grid of the sampled span.
        assertTrue("got " + n + " samples", n >= 2 && n <= 32);
        double slots = (got.get(n - 1).nanos - got.get(0).nanos) / 10_000_000.0 + 1;
        assertEquals(slots, n + sampler.overruns(), 1.5);
        long after = battery.reads.get();
        Thread.sleep(50);
        assertEquals("sampling stopped on close", after, battery.reads.get());
    }

    @Test
    public void aFailingReadStopsSamplingAndIsKept() throws InterruptedException {
        BatterySource broken = new BatterySource() {
            @Override
            public BatteryReading read() {
                throw new IllegalStateException("BatteryManager went away");
            }

            @Override
            public BatteryStatus status() {
                return new BatteryStatus(false, null, null, null);
            }
        };
        EnergySampler sampler = new EnergySampler(broken, new Fakes.FakeClock(), 20);
        assertNull(sampler.failure());
        sampler.start();
        waitFor(sampler, 1);
        sampler.close();
        assertEquals("BatteryManager went away", sampler.failure().getMessage());
        assertEquals(0, sampler.sampleCount());
    }

    @Test
    public void rejectsSlowRatesAndDoubleStarts() {
        assertEquals("sample rate is 5.0 Hz; expected 10.0 to 1000.0 Hz",
                assertThrows(IllegalArgumentException.class,
                        () -> new EnergySampler(new Fakes.FakeBattery(1), Clock.SYSTEM, 5)).getMessage());
        try (EnergySampler sampler = new EnergySampler(new Fakes.FakeBattery(1), Clock.SYSTEM, 10)) {
            sampler.start();
            assertThrows(IllegalStateException.class, sampler::start);
        }
        assertFalse(Thread.currentThread().isInterrupted());
    }
}
