package org.mmnet.core.measure;

import com.google.gson.JsonObject;

/** One model's profile, as result.json's "models[]" carries it. */
public final class ModelResult {
    public final String modelId;
    /** The manifest's sha256 of the shipped file (for a packed model, the packed file). */
    public final String sha256;
    /** The sha256 of the flatbuffer that ran (for a packed model, the unpacked one; else {@link #sha256}). */
    public final String tfliteSha256;
    public final Delegate delegate;
    public final int threads;
    public final double[] latenciesMs;
    public final double[] preprocessingMs;
    public final EnergyResult energy;
    public final Integer thermalBefore;
    public final Integer thermalAfter;
    public final double cooldownWaitedS;
    public final long startedMillis;
    public final long endedMillis;
    /** Frame slots dropped by pacing (0 when back to back). */
    public final long missedDeadlines;

    public ModelResult(String modelId, String sha256, String tfliteSha256, Delegate delegate, int threads,
                       double[] latenciesMs, double[] preprocessingMs, EnergyResult energy, Integer thermalBefore,
                       Integer thermalAfter, double cooldownWaitedS, long startedMillis, long endedMillis, long missedDeadlines) {
        this.modelId = modelId;
        this.sha256 = sha256;
        this.tfliteSha256 = tfliteSha256;
        this.delegate = delegate;
        this.threads = threads;
        this.latenciesMs = latenciesMs;
        this.preprocessingMs = preprocessingMs;
        this.energy = energy;
        this.thermalBefore = thermalBefore;
        this.thermalAfter = thermalAfter;
        this.cooldownWaitedS = cooldownWaitedS;
        this.startedMillis = startedMillis;
        this.endedMillis = endedMillis;
        this.missedDeadlines = missedDeadlines;
    }

    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("model_id", modelId);
        o.addProperty("sha256", sha256);
        o.addProperty("tflite_sha256", tfliteSha256);
        o.addProperty("delegate", delegate.wireName());
        o.addProperty("threads", threads);
        o.add("latencies_ms", Json.numbers(latenciesMs));
        o.add("preprocessing_ms", Json.numbers(preprocessingMs));
        o.add("energy", energy.toJson());
        JsonObject thermal = new JsonObject();
        thermal.addProperty("status_before", thermalBefore);
        thermal.addProperty("status_after", thermalAfter);
        thermal.addProperty("cooldown_waited_s", cooldownWaitedS);
        o.add("thermal", thermal);
        o.addProperty("started_utc", JsonFiles.utc(startedMillis));
        o.addProperty("ended_utc", JsonFiles.utc(endedMillis));
        // Beyond PROTOCOL.md's list (the host ignores fields it does not know): pacing that could not keep up.
        o.addProperty("missed_deadlines", missedDeadlines);
        return o;
    }
}
