package org.mmnet.core.runtime;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.mmnet.core.Placement;
import org.mmnet.core.select.Decision;
import org.mmnet.core.select.FramePath;

/** One classified frame: the answer, how it was reached, what it cost, and why (Python FrameResult). */
public final class FrameResult {
    private final int index;
    private final double timestampS;
    private final int label;
    private final String labelName;
    private final double confidence;
    private final FramePath path;
    private final boolean recovered;
    private final boolean verified;
    private final Integer minionAnswer;
    private final Integer masterAnswer;
    private final Placement masterPlacement;
    private final Map<String, Double> timingsMs;
    private final double energyMj;
    private final List<String> fallbacks;
    private final Decision decision;
    private final DetectorInfo detector;

    FrameResult(int index, double timestampS, int label, String labelName, double confidence, FramePath path, boolean recovered,
                boolean verified, Integer minionAnswer, Integer masterAnswer, Placement masterPlacement,
                Map<String, Double> timingsMs, double energyMj, List<String> fallbacks, Decision decision, DetectorInfo detector) {
        this.index = index;
        this.timestampS = timestampS;
        this.label = label;
        this.labelName = labelName;
        this.confidence = confidence;
        this.path = path;
        this.recovered = recovered;
        this.verified = verified;
        this.minionAnswer = minionAnswer;
        this.masterAnswer = masterAnswer;
        this.masterPlacement = masterPlacement;
        this.timingsMs = Collections.unmodifiableMap(new LinkedHashMap<>(timingsMs));
        this.energyMj = energyMj;
        this.fallbacks = Collections.unmodifiableList(fallbacks);
        this.decision = decision;
        this.detector = detector;
    }

    public int index() {
        return index;
    }

    public double timestampS() {
        return timestampS;
    }

    public int label() {
        return label;
    }

    public String labelName() {
        return labelName;
    }

    /** The master's probability of the label, or the minions' calibrated confidence. */
    public double confidence() {
        return confidence;
    }

    /** The path as executed: a failed cloud master answered on the device reads MASTER_DEVICE. */
    public FramePath path() {
        return path;
    }

    public String system() {
        return decision.system();
    }

    public boolean recovered() {
        return recovered;
    }

    /** False: a minion answer the master should have checked but could not. */
    public boolean verified() {
        return verified;
    }

    public Integer minionAnswer() {
        return minionAnswer;
    }

    public Integer masterAnswer() {
        return masterAnswer;
    }

    /** Where the master actually ran; null when it did not answer. */
    public Placement masterPlacement() {
        return masterPlacement;
    }

    /** preprocess, minions, master, remote, total, overhead (ms). */
    public Map<String, Double> timingsMs() {
        return timingsMs;
    }

    public double energyMj() {
        return energyMj;
    }

    public List<String> fallbacks() {
        return fallbacks;
    }

    public Decision decision() {
        return decision;
    }

    /** Null when no minion ran. */
    public DetectorInfo detector() {
        return detector;
    }

    /** The keys of Python FrameResult.to_json (one line of a per-frame trace). */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("index", index);
        o.addProperty("timestamp_s", timestampS);
        o.addProperty("label", label);
        o.addProperty("label_name", labelName);
        o.addProperty("confidence", confidence);
        o.addProperty("path", path.json());
        o.addProperty("system", decision.system());
        o.addProperty("recovered", recovered);
        o.addProperty("verified", verified);
        o.addProperty("minion_answer", minionAnswer);
        o.addProperty("master_answer", masterAnswer);
        o.addProperty("master_placement", masterPlacement == null ? null : masterPlacement.json());
        JsonObject timings = new JsonObject();
        for (Map.Entry<String, Double> e : timingsMs.entrySet()) {
            timings.addProperty(e.getKey(), e.getValue());
        }
        o.add("timings_ms", timings);
        o.addProperty("energy_mj", energyMj);
        JsonArray f = new JsonArray();
        for (String name : fallbacks) {
            f.add(name);
        }
        o.add("fallbacks", f);
        o.addProperty("audited", false);
        JsonObject d = decision.toJson();
        d.add("detector", detector == null ? new JsonObject() : detector.toJson());
        o.add("decision", d);
        return o;
    }
}
