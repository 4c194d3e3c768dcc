package org.mmnet.core.measure;

import com.google.gson.JsonObject;

/** One model's energy as result.json carries it (PROTOCOL.md, models[].energy). */
public final class EnergyResult {
    public static final String POWER_MONITOR = "power_monitor";
    public static final String FUEL_GAUGE = "fuel_gauge";

    /** {@link #POWER_MONITOR}, {@link #FUEL_GAUGE}, or null when neither could measure. */
    public final String source;
    public final Double mjPerInference;
    public final Double idleBaselineMw;
    public final Double activeMw;
    public final int samples;
    public final double sampleHz;
    public final String note;

    public EnergyResult(String source, Double mjPerInference, Double idleBaselineMw, Double activeMw, int samples,
                        double sampleHz, String note) {
        this.source = source;
        this.mjPerInference = mjPerInference;
        this.idleBaselineMw = idleBaselineMw;
        this.activeMw = activeMw;
        this.samples = samples;
        this.sampleHz = sampleHz;
        this.note = note;
    }

    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("source", source);
        o.add("mj_per_inference", Json.number(mjPerInference));
        o.add("idle_baseline_mw", Json.number(idleBaselineMw));
        o.add("active_mw", Json.number(activeMw));
        o.addProperty("samples", samples);
        o.add("sample_hz", Json.number(sampleHz));
        o.addProperty("note", note);
        return o;
    }
}
