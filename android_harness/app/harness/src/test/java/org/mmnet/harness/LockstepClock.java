package org.mmnet.harness;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.mmnet.core.measure.Clock;

/**
 * Virtual time for a whole run: only the run's thread (the driver) moves it, by sleeping; every other thread's
 * sleep (the fuel-gauge sampler's) waits until the driver's time reaches its wake-up, and the driver waits for
 * that thread to take its sample and sleep again before it moves on. So each sample is taken at an exact virtual
 * time with the battery as the driver left it, and the run's arithmetic can be done by hand. Actions scheduled with
 * {@link #at} run on the driver when its time passes theirs (a charger plugged in, the phone heating up).
 */
final class LockstepClock implements Clock {
    static final long EPOCH_MILLIS = 1_795_000_000_000L;
    private static final long STALL_NANOS = 10_000_000_000L;

    private final Thread driver;
    private final int followers;
    private final Map<Thread, Long> sleeping = new HashMap<>();
    private final List<Long> actionTimes = new ArrayList<>();
    private final List<Runnable> actions = new ArrayList<>();
    private long now;

    /** {@code followers}: how many other threads sleep on this clock once the run has started (the sampler: 1). */
    LockstepClock(int followers) {
        this.driver = Thread.currentThread();
        this.followers = followers;
    }

    static long ms(double millis) {
        return Math.round(millis * 1e6);
    }

    synchronized void at(long nanos, Runnable action) {
        actionTimes.add(nanos);
        actions.add(action);
    }

    @Override
    public synchronized long nanoTime() {
        return now;
    }

    @Override
    public long currentTimeMillis() {
        return EPOCH_MILLIS + nanoTime() / 1_000_000;
    }

    @Override
    public void sleepNanos(long nanos) throws InterruptedException {
        if (Thread.currentThread() == driver) {
            advance(Math.max(0, nanos));
        } else {
            follow(Math.max(0, nanos));
        }
    }

    private synchronized void follow(long nanos) throws InterruptedException {
        Thread me = Thread.currentThread();
        long wake = now + nanos;
        sleeping.put(me, wake);
        notifyAll();
        try {
            while (now < wake) {
                wait();
            }
        } finally {
            sleeping.remove(me);
            notifyAll();
        }
    }

    private synchronized void advance(long nanos) throws InterruptedException {
        long target = now + nanos;
        while (true) {
            awaitFollowersAsleep();
            long wake = Long.MAX_VALUE;
            for (long w : sleeping.values()) {
                wake = Math.min(wake, w);
            }
            int due = -1;
            for (int i = 0; i < actions.size(); i++) {
                if (due < 0 || actionTimes.get(i) < actionTimes.get(due)) {
                    due = i;
                }
            }
            long actionAt = due < 0 ? Long.MAX_VALUE : actionTimes.get(due);
            if (actionAt <= target && actionAt <= wake) {
                now = Math.max(now, actionAt);
                actionTimes.remove(due);
                actions.remove(due).run();
                notifyAll();  // a sampler due at this same time samples after the action
            } else if (wake <= target) {
                now = wake;
                notifyAll();
            } else {
                break;
            }
        }
        now = target;
        notifyAll();
    }

    /** Until every follower sleeps with a wake-up after now (it took the sample that was due). */
    private void awaitFollowersAsleep() throws InterruptedException {
        long deadline = System.nanoTime() + STALL_NANOS;
        while (sleeping.size() < followers || sleeping.values().stream().anyMatch(w -> w <= now)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the sampler did not go back to sleep at virtual time " + now + " ns");
            }
            wait(50);
        }
    }
}
