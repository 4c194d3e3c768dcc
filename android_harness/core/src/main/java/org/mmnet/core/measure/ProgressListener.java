package org.mmnet.core.measure;

/** Told how far a run is (status.json on the phone). */
public interface ProgressListener {
    /** {@code fraction} in [0, 1]. */
    void progress(double fraction, String message);
}
