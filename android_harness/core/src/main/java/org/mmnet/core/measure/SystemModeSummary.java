package org.mmnet.core.measure;

import com.google.gson.JsonObject;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/** One system-run mode's frames summed up as result.json's system.modes.&lt;mode&gt; (PROTOCOL.md). */
public final class SystemModeSummary {
    private int frames;
    private int correct;
    private int recovered;
    private double[] latencies = new double[256];
    private final Map<String, Integer> paths = new TreeMap<>();
    private long missedDeadlines;

    /** One classified frame: its true label, the answer, whether the master recovered it, its path and time. */
    public void add(int label, int answer, boolean wasRecovered, String path, double latencyMs) {
        if (frames == latencies.length) {
            latencies = Arrays.copyOf(latencies, frames * 2);
        }
        latencies[frames++] = latencyMs;
        if (label == answer) {
            correct++;
        }
        if (wasRecovered) {
            recovered++;
        }
        paths.merge(path, 1, Integer::sum);
    }

    public void setMissedDeadlines(long missed) {
        missedDeadlines = missed;
    }

    public double[] latenciesMs() {
        return Arrays.copyOf(latencies, frames);
    }

    /** {@code tracePath}: the trace file relative to the run directory, or null. */
    public JsonObject toJson(String tracePath) {
        JsonObject o = new JsonObject();
        o.addProperty("frames", frames);
        o.add("accuracy", frames == 0 ? null : Json.number((double) correct / frames));
        o.add("recovery_rate", frames == 0 ? null : Json.number((double) recovered / frames));
        o.add("latency_ms", Json.numbers(latenciesMs()));
        JsonObject counts = new JsonObject();
        for (Map.Entry<String, Integer> e : paths.entrySet()) {
            counts.addProperty(e.getKey(), e.getValue());
        }
        o.add("path_counts", counts);
        o.addProperty("trace", tracePath);
        // Beyond PROTOCOL.md's list (the host ignores it): frames a paced replay had to drop.
        o.addProperty("missed_deadlines", missedDeadlines);
        return o;
    }
}
