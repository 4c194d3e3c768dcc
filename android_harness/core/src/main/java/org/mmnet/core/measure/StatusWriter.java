package org.mmnet.core.measure;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Locale;

/** Rewrites the run's status.json (PROTOCOL.md) atomically; a final state is final. */
public final class StatusWriter {
    public enum State {
        QUEUED, RUNNING, DONE, FAILED, CANCELLED;

        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public boolean isFinal() {
            return this == DONE || this == FAILED || this == CANCELLED;
        }
    }

    private final Path file;
    private final String runId;
    private final Clock clock;
    private State last;

    public StatusWriter(Path runDir, String runId, Clock clock) {
        this.file = runDir.resolve("status.json");
        this.runId = runId;
        this.clock = clock;
    }

    /** {@code progress} in [0, 1] or null; throws UncheckedIOException when the file cannot be written. */
    public synchronized void write(State state, Double progress, String message) {
        if (last != null && last.isFinal()) {
            throw new IllegalStateException("status of run " + runId + " is already " + last.wireName()
                    + "; cannot change it to " + state.wireName());
        }
        if (progress != null && !(progress >= 0 && progress <= 1)) {
            throw new IllegalArgumentException("progress is " + progress + "; expected null or a fraction in [0, 1]");
        }
        JsonObject doc = new JsonObject();
        doc.addProperty("protocol_version", RunRequest.PROTOCOL_VERSION);
        doc.addProperty("run_id", runId);
        doc.addProperty("state", state.wireName());
        doc.addProperty("progress", progress);
        doc.addProperty("message", message);
        doc.addProperty("updated_utc", JsonFiles.utc(clock.currentTimeMillis()));
        try {
            JsonFiles.writeAtomic(file, doc);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
        last = state;
    }
}
