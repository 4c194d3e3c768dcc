package org.mmnet.core.measure;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/** One run's request.json (PROTOCOL.md, protocol version 1), parsed and validated. */
public final class RunRequest {
    public static final int PROTOCOL_VERSION = 1;
    /** The floor: a fuel gauge sampled slower than this misses short bursts. */
    public static final double MIN_SAMPLE_HZ = 10.0;
    public static final double MAX_SAMPLE_HZ = 1000.0;
    /** PowerManager.THERMAL_STATUS_NONE .. THERMAL_STATUS_SHUTDOWN. */
    public static final int MAX_THERMAL_STATUS = 6;

    /** Run ids become directory names on the phone and the host. */
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");
    private static final Set<String> FIELDS = set("protocol_version", "run_id", "kind", "bundle_dir", "models",
            "delegate", "threads", "warmup_runs", "runs", "duration_s", "frame_interval_ms", "energy", "thermal",
            "system");
    private static final Set<String> ENERGY_FIELDS = set("sample_hz", "idle_baseline_s");
    private static final Set<String> THERMAL_FIELDS = set("max_status", "cooldown_s", "max_wait_s");
    private static final Set<String> SYSTEM_FIELDS = set("testset_dir", "modes", "network", "master_url",
            "frame_interval_ms");

    public enum Kind { PROFILE, SYSTEM }

    /** How the fuel gauge is sampled and how long the idle baseline lasts. */
    public static final class EnergySpec {
        public final double sampleHz;
        public final double idleBaselineS;

        public EnergySpec(double sampleHz, double idleBaselineS) {
            this.sampleHz = sampleHz;
            this.idleBaselineS = idleBaselineS;
        }
    }

    /** The thermal gate: wait until the status is at most {@code maxStatus}, rest {@code cooldownS}, give up after {@code maxWaitS}. */
    public static final class ThermalSpec {
        public final int maxStatus;
        public final double cooldownS;
        public final double maxWaitS;

        public ThermalSpec(int maxStatus, double cooldownS, double maxWaitS) {
            this.maxStatus = maxStatus;
            this.cooldownS = cooldownS;
            this.maxWaitS = maxWaitS;
        }
    }

    /** What a system run replays: the pushed test set, the runtime modes, the network and the cloud master. */
    public static final class SystemSpec {
        public final String testsetDir;
        public final List<String> modes;
        /** Network profile name; null: the bundle's default profile. */
        public final String network;
        /** Cloud master base URL; null: no cloud (no cloud-only baseline, device master only). */
        public final String masterUrl;
        /** Frame period like a camera; null: back to back. */
        public final Double frameIntervalMs;

        public SystemSpec(String testsetDir, List<String> modes, String network, String masterUrl,
                          Double frameIntervalMs) {
            this.testsetDir = testsetDir;
            this.modes = Collections.unmodifiableList(modes);
            this.network = network;
            this.masterUrl = masterUrl;
            this.frameIntervalMs = frameIntervalMs;
        }
    }

    public final String source;
    public final String runId;
    public final Kind kind;
    public final String bundleDir;
    /** Manifest model ids; empty: every blessed model. */
    public final List<String> models;
    public final Delegate delegate;
    public final int threads;
    public final int warmupRuns;
    /** Timed runs per model, or null when {@link #durationS} bounds the runs instead. */
    public final Integer runs;
    public final Double durationS;
    public final Double frameIntervalMs;
    public final EnergySpec energy;
    public final ThermalSpec thermal;
    /** Null for a profile run. */
    public final SystemSpec system;

    private RunRequest(String source, JsonObject doc) {
        this.source = source;
        Json.rejectUnknown(doc, FIELDS, source, "the request");
        long version = Json.integer(doc, "protocol_version", 0, Integer.MAX_VALUE, source);
        if (version != PROTOCOL_VERSION) {
            throw new InvalidRequestException(source + ": protocol_version is " + version + "; this app speaks "
                    + PROTOCOL_VERSION + " (PROTOCOL.md): install the app built from the same checkout as the host");
        }
        runId = id(doc, "run_id");
        String kindName = Json.string(doc, "kind", source);
        if (kindName.equals("profile")) {
            kind = Kind.PROFILE;
        } else if (kindName.equals("system")) {
            kind = Kind.SYSTEM;
        } else {
            throw new InvalidRequestException(source + ": kind is \"" + kindName + "\"; expected \"profile\" or \"system\"");
        }
        bundleDir = Json.string(doc, "bundle_dir", source);
        if (!bundleDir.startsWith("/")) {
            throw new InvalidRequestException(source + ": bundle_dir is \"" + bundleDir + "\"; expected an absolute path on the phone");
        }
        models = Collections.unmodifiableList(Json.strings(doc, "models", source));
        for (String model : models) {
            if (!ID.matcher(model).matches()) {
                throw new InvalidRequestException(source + ": models names \"" + model + "\"; expected manifest model ids");
            }
        }
        String delegateName = Json.string(doc, "delegate", source);
        delegate = Delegate.fromWireName(delegateName);
        if (delegate == null) {
            throw new InvalidRequestException(source + ": delegate is \"" + delegateName
                    + "\"; expected one of \"cpu\", \"xnnpack\", \"gpu\", \"nnapi\"");
        }
        threads = (int) Json.integer(doc, "threads", 1, 64, source);
        warmupRuns = (int) Json.integer(doc, "warmup_runs", 0, 1_000_000, source);
        Long runCount = Json.nullableInteger(doc, "runs", 1, 10_000_000, source);
        runs = runCount == null ? null : runCount.intValue();
        durationS = Json.nullableReal(doc, "duration_s", 0, true, 86_400, source);
        if ((runs == null) == (durationS == null)) {
            throw new InvalidRequestException(source + ": runs is " + runs + " and duration_s is " + durationS
                    + "; expected exactly one of them to be set");
        }
        frameIntervalMs = Json.nullableReal(doc, "frame_interval_ms", 0, true, 60_000, source);

        JsonObject e = Json.object(doc, "energy", source);
        Json.rejectUnknown(e, ENERGY_FIELDS, source, "energy");
        energy = new EnergySpec(
                Json.real(e, "sample_hz", MIN_SAMPLE_HZ, false, MAX_SAMPLE_HZ, source + " energy"),
                Json.real(e, "idle_baseline_s", 0, false, 3600, source + " energy"));

        JsonObject t = Json.object(doc, "thermal", source);
        Json.rejectUnknown(t, THERMAL_FIELDS, source, "thermal");
        thermal = new ThermalSpec(
                (int) Json.integer(t, "max_status", 0, MAX_THERMAL_STATUS, source + " thermal"),
                Json.real(t, "cooldown_s", 0, false, 3600, source + " thermal"),
                Json.real(t, "max_wait_s", 0, false, 86_400, source + " thermal"));

        if (kind == Kind.PROFILE) {
            if (!Json.isNull(doc, "system", source)) {
                throw new InvalidRequestException(source + ": system is set for a profile run; expected null");
            }
            system = null;
        } else {
            system = system(Json.object(doc, "system", source));
        }
    }

    private SystemSpec system(JsonObject s) {
        String where = source + " system";
        Json.rejectUnknown(s, SYSTEM_FIELDS, source, "system");
        String testsetDir = Json.string(s, "testset_dir", where);
        List<String> modes = Json.strings(s, "modes", where);
        if (modes.isEmpty()) {
            throw new InvalidRequestException(where + ": modes is []; expected at least one runtime mode");
        }
        String network = Json.nullableString(s, "network", where);
        String masterUrl = Json.nullableString(s, "master_url", where);
        if (masterUrl != null && !(masterUrl.startsWith("http://") || masterUrl.startsWith("https://"))) {
            throw new InvalidRequestException(where + ": master_url is \"" + masterUrl + "\"; expected null or an http(s):// URL");
        }
        return new SystemSpec(testsetDir, modes, network, masterUrl,
                Json.nullableReal(s, "frame_interval_ms", 0, true, 60_000, where));
    }

    private String id(JsonObject doc, String field) {
        String value = Json.string(doc, field, source);
        if (!isValidRunId(value)) {
            throw new InvalidRequestException(source + ": " + field + " is \"" + value
                    + "\"; expected letters, digits, '.', '_' or '-' (it names a directory)");
        }
        return value;
    }

    /** A run id is safe as a directory name: letters, digits, '.', '_', '-', not starting with '.' or '-'. */
    public static boolean isValidRunId(String runId) {
        return runId != null && ID.matcher(runId).matches();
    }

    /** Parses request text; {@code source} names it in error messages. */
    public static RunRequest parse(String json, String source) {
        return new RunRequest(source, Json.parseObject(json, source));
    }

    /** Reads and parses a request file. */
    public static RunRequest read(Path path) {
        String text;
        try {
            text = new String(Files.readAllBytes(path), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new InvalidRequestException(path + ": cannot read the request: " + e, e);
        }
        return parse(text, path.toString());
    }

    /** The intent names the run too; both must agree or the host and app would look in different places. */
    public void requireRunId(String intentRunId) {
        if (!runId.equals(intentRunId)) {
            throw new InvalidRequestException(source + ": run_id is \"" + runId + "\" but the intent's run_id extra is \""
                    + intentRunId + "\"; expected the same id");
        }
    }

    private static Set<String> set(String... names) {
        return Collections.unmodifiableSet(new HashSet<>(Arrays.asList(names)));
    }
}
