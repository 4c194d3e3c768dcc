package org.mmnet.core.runtime;

/** A monotonic clock in seconds, injected so tests and replays control time. */
public interface Clock {
    /** {@link System#nanoTime()} in seconds. */
    Clock SYSTEM = () -> System.nanoTime() / 1e9;

    double seconds();
}
