package org.mmnet.core.measure;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/** The run's result.json (PROTOCOL.md), written once when the run is done. */
public final class RunResult {
    private final String runId;
    private final RunRequest.Kind kind;
    private final DeviceInfo device;
    private final AppInfo app;
    private final BatteryStatus batteryAtStart;
    private final List<String> warnings = Collections.synchronizedList(new ArrayList<>());
    private final List<ModelResult> models = new ArrayList<>();
    private JsonObject system;

    /** {@code batteryAtStart}: the battery when the run began; a charging phone gets its warning here. */
    public RunResult(RunRequest request, DeviceInfo device, AppInfo app, BatteryStatus batteryAtStart) {
        this.runId = request.runId;
        this.kind = request.kind;
        this.device = device;
        this.app = app;
        this.batteryAtStart = batteryAtStart;
        if (batteryAtStart.charging) {
            warnings.add(chargingWarning(batteryAtStart));
        }
    }

    /** Why a charging phone's fuel-gauge numbers are not energy numbers. */
    public static String chargingWarning(BatteryStatus status) {
        return "the phone is charging" + (status.plugged == null ? "" : " (" + status.plugged + ")")
                + ": the battery current includes the charger, so the fuel gauge cannot measure energy; "
                + "unplug it (adb over Wi-Fi) for energy numbers";
    }

    public void warn(String warning) {
        if (!warnings.contains(warning)) {
            warnings.add(warning);
        }
    }

    public List<String> warnings() {
        synchronized (warnings) {
            return new ArrayList<>(warnings);
        }
    }

    public void addModel(ModelResult model) {
        models.add(model);
        if (model.missedDeadlines > 0) {
            warn(String.format(Locale.ROOT, "%s: %d frame slot(s) missed: the model is slower than the frame interval",
                    model.modelId, model.missedDeadlines));
        }
    }

    public List<ModelResult> models() {
        return Collections.unmodifiableList(models);
    }

    /** The "system" object of a system run (see SystemRunSummary). */
    public void setSystem(JsonObject system) {
        if (kind != RunRequest.Kind.SYSTEM) {
            throw new IllegalStateException("run " + runId + " is a profile run; it has no system result");
        }
        this.system = system;
    }

    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("protocol_version", RunRequest.PROTOCOL_VERSION);
        o.addProperty("run_id", runId);
        o.addProperty("kind", kind.name().toLowerCase(Locale.ROOT));
        o.add("device", device.toJson());
        o.add("app", app.toJson());
        JsonObject env = new JsonObject();
        env.addProperty("charging", batteryAtStart.charging);
        env.addProperty("battery_level", batteryAtStart.level);
        env.addProperty("battery_temp_c", batteryAtStart.temperatureC);
        JsonArray w = new JsonArray();
        for (String warning : warnings()) {
            w.add(warning);
        }
        env.add("warnings", w);
        o.add("environment", env);
        JsonArray m = new JsonArray();
        for (ModelResult model : models) {
            m.add(model.toJson());
        }
        o.add("models", m);
        o.add("system", system);
        return o;
    }

    public void write(Path runDir) throws IOException {
        if (kind == RunRequest.Kind.SYSTEM && system == null) {
            throw new IllegalStateException("system run " + runId + " has no system result to write");
        }
        JsonFiles.writeAtomic(runDir.resolve("result.json"), toJson());
    }
}
