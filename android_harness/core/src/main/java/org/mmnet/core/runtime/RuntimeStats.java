package org.mmnet.core.runtime;

import com.google.gson.JsonObject;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** Counters of a runtime (Python Runtime.stats() without audits, which this core does not run). */
public final class RuntimeStats {
    private final int frames;
    private final Map<String, Integer> pathCounts;
    private final int recovered;
    private final int unverified;
    private final Map<String, Integer> fallbacks;

    RuntimeStats(int frames, Map<String, Integer> pathCounts, int recovered, int unverified, Map<String, Integer> fallbacks) {
        this.frames = frames;
        this.pathCounts = Collections.unmodifiableMap(new LinkedHashMap<>(pathCounts));
        this.recovered = recovered;
        this.unverified = unverified;
        this.fallbacks = Collections.unmodifiableMap(new LinkedHashMap<>(fallbacks));
    }

    public int frames() {
        return frames;
    }

    /** Frames per executed path, in order of first occurrence. */
    public Map<String, Integer> pathCounts() {
        return pathCounts;
    }

    public int recovered() {
        return recovered;
    }

    public int unverified() {
        return unverified;
    }

    /** Fallbacks by name (e.g. cloud_timeout, no_device_master), in order of first occurrence. */
    public Map<String, Integer> fallbacks() {
        return fallbacks;
    }

    public int fallbacksTotal() {
        int total = 0;
        for (int n : fallbacks.values()) {
            total += n;
        }
        return total;
    }

    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("frames", frames);
        JsonObject paths = new JsonObject();
        for (Map.Entry<String, Integer> e : pathCounts.entrySet()) {
            paths.addProperty(e.getKey(), e.getValue());
        }
        o.add("path_counts", paths);
        o.addProperty("recovered", recovered);
        o.addProperty("unverified", unverified);
        JsonObject f = new JsonObject();
        for (Map.Entry<String, Integer> e : fallbacks.entrySet()) {
            f.addProperty(e.getKey(), e.getValue());
        }
        o.add("fallbacks", f);
        o.addProperty("fallbacks_total", fallbacksTotal());
        return o;
    }
}
