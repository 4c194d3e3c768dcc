package org.mmnet.core.measure;

/** Set from another thread (the CANCEL broadcast); the run checks it between steps. */
public final class Cancellation {
    private volatile String reason;

    public void cancel(String why) {
        reason = why == null ? "cancelled" : why;
    }

    /** Throws {@link RunCancelledException} once {@link #cancel} was called. */
    public void check() {
        String why = reason;
        if (why != null) {
            throw new RunCancelledException(why);
        }
    }
}
