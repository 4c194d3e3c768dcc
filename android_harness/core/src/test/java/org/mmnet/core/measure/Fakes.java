package org.mmnet.core.measure;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongToIntFunction;

/** Test doubles for everything the phone provides. */
final class Fakes {
    private Fakes() {
    }

    /** Time moves only when someone sleeps (or calls {@link #advance}); sleeps return at once. */
    static final class FakeClock implements Clock {
        static final long EPOCH_MILLIS = 1_795_000_000_000L;  // 2026-11-18, any fixed wall time
        final AtomicLong nanos = new AtomicLong();

        @Override
        public long nanoTime() {
            return nanos.get();
        }

        @Override
        public long currentTimeMillis() {
            return EPOCH_MILLIS + nanos.get() / 1_000_000;
        }

        @Override
        public void sleepNanos(long n) {
            if (n > 0) {
                nanos.addAndGet(n);
            }
        }

        void advance(long n) {
            nanos.addAndGet(n);
        }
    }

    /** A fuel gauge drawing {@code mw} (settable) at 4 V, reported the Android way: negative µA, mV. */
    static final class FakeBattery implements BatterySource {
        volatile double mw;
        volatile boolean charging;
        final AtomicLong reads = new AtomicLong();

        FakeBattery(double mw) {
            this.mw = mw;
        }

        @Override
        public BatteryReading read() {
            reads.incrementAndGet();
            long microAmps = Math.round(mw / 4.0 * 1000);  // mW / V = mA
            return new BatteryReading(-microAmps, 4000L, null, null);
        }

        @Override
        public BatteryStatus status() {
            return new BatteryStatus(charging, charging ? "usb" : null, 0.8, 30.0);
        }
    }

    /** One rail whose counter integrates {@code mw} (settable) over the real clock. */
    static final class FakeRails implements PowerRailSource {
        volatile double mw;
        private double microJoules;
        private long lastNanos = System.nanoTime();

        FakeRails(double mw) {
            this.mw = mw;
        }

        @Override
        public List<Monitor> monitors() {
            return Arrays.asList(new Monitor("S4M_VDD_CPUCL0", Kind.MEASUREMENT), new Monitor("CPU", Kind.CONSUMER));
        }

        @Override
        public synchronized Reading read() {
            long now = System.nanoTime();
            microJoules += mw * (now - lastNanos) / 1e6;  // mW × ns / 1e6 = µJ
            lastNanos = now;
            Map<String, Long> energy = new HashMap<>();
            Map<String, Long> time = new HashMap<>();
            energy.put("S4M_VDD_CPUCL0", Math.round(microJoules));
            time.put("S4M_VDD_CPUCL0", now / 1_000_000);
            energy.put("CPU", PowerRailSource.ENERGY_UNAVAILABLE);
            time.put("CPU", now / 1_000_000);
            return new Reading(energy, time);
        }
    }

    /** Thermal status as a function of the clock's time. */
    static final class FakeThermal implements ThermalSource {
        private final Clock clock;
        private final LongToIntFunction statusAt;

        FakeThermal(Clock clock, LongToIntFunction statusAt) {
            this.clock = clock;
            this.statusAt = statusAt;
        }

        @Override
        public int status() {
            return statusAt.applyAsInt(clock.nanoTime());
        }
    }

    /** An engine whose inferences take {@code invokeNanos} of real time and set the battery's draw while running. */
    static final class FakeEngine implements InferenceEngine {
        final long invokeNanos;
        final FakeBattery battery;
        final double activeMw;
        final List<String> opened = new ArrayList<>();
        int invokes;
        int closed;
        String failDelegate;

        FakeEngine(long invokeNanos, FakeBattery battery, double activeMw) {
            this.invokeNanos = invokeNanos;
            this.battery = battery;
            this.activeMw = activeMw;
        }

        @Override
        public String runtimeVersion() {
            return "fake-1.0";
        }

        @Override
        public Session open(Path modelFile, Delegate delegate, int threads) {
            if (delegate.wireName().equals(failDelegate)) {
                throw new EngineException("delegate " + delegate.wireName() + " unavailable: no OpenCL on this phone");
            }
            opened.add(modelFile.getFileName() + "@" + delegate.wireName() + "x" + threads);
            ByteBuffer input = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder());
            double idle = battery.mw;
            return new Session() {
                @Override
                public ByteBuffer input() {
                    return input;
                }

                @Override
                public void invoke() {
                    battery.mw = activeMw;
                    long end = System.nanoTime() + invokeNanos;
                    while (System.nanoTime() < end) {
                        Thread.onSpinWait();
                    }
                    battery.mw = idle;
                    invokes++;
                }

                @Override
                public void close() {
                    closed++;
                }
            };
        }
    }
}
