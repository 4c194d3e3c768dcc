package org.mmnet.core.select;

import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.mmnet.core.Placement;

/** What to do with one frame, and why (Python selector.Decision). */
public final class Decision {
    private final FramePath path;
    private final String system;
    private final Placement placement;
    private final String thresholdsMode;
    private final boolean probe;
    private final List<Reason> reasons;
    private final Estimates estimates;

    Decision(FramePath path, String system, Placement placement, String thresholdsMode, boolean probe, List<Reason> reasons,
             Estimates estimates) {
        this.path = path;
        this.system = system;
        this.placement = placement;
        this.thresholdsMode = thresholdsMode;
        this.probe = probe;
        this.reasons = Collections.unmodifiableList(new ArrayList<>(reasons));
        this.estimates = estimates;
    }

    public FramePath path() {
        return path;
    }

    /** The minion system to run, or {@code master-only}. */
    public String system() {
        return system;
    }

    /** Where the master runs if the frame needs it. */
    public Placement placement() {
        return placement;
    }

    /** "normal" / "power_saving" for the detector's thresholds; null when no detector runs. */
    public String thresholdsMode() {
        return thresholdsMode;
    }

    /** This frame's master call (if any) is a cloud probe: feed its RTT to observeRtt. */
    public boolean probe() {
        return probe;
    }

    /** The rules hit, in order, the mode's first. */
    public List<Reason> reasons() {
        return reasons;
    }

    public List<ReasonCode> reasonCodes() {
        List<ReasonCode> codes = new ArrayList<>();
        for (Reason r : reasons) {
            codes.add(r.code());
        }
        return codes;
    }

    public Estimates estimates() {
        return estimates;
    }

    /** Python's Decision.to_json: each reason as {"code", "values", "text"}. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("path", path.json());
        o.addProperty("system", system);
        o.addProperty("placement", placement.json());
        o.addProperty("thresholds_mode", thresholdsMode);
        o.addProperty("probe", probe);
        JsonArray reasonsJson = new JsonArray();
        for (Reason r : reasons) {
            reasonsJson.add(r.toJson());
        }
        o.add("reasons", reasonsJson);
        JsonObject e = new JsonObject();
        e.addProperty("L_m", estimates.lM);
        e.addProperty("L_t", estimates.lT);
        e.addProperty("L_t_nominal", estimates.lTNominal);
        e.addProperty("master_ms", estimates.masterMs);
        JsonObject expected = new JsonObject();
        for (Map.Entry<String, Double> x : estimates.expectedMs.entrySet()) {
            expected.addProperty(x.getKey(), x.getValue());
        }
        e.add("expected_ms", expected);
        e.addProperty("rtt_ms", estimates.rttMs);
        e.addProperty("uplink_mbps", estimates.uplinkMbps);
        e.addProperty("downlink_mbps", estimates.downlinkMbps);
        if (estimates.dtMs == null) {
            e.add("dt_ms", JsonNull.INSTANCE);
        } else {
            e.addProperty("dt_ms", estimates.dtMs);
        }
        o.add("estimates", e);
        return o;
    }
}
