package org.mmnet.core;

import java.io.File;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * A device profile (schema {@code device_profile} 1.0): what one device measured per model, read
 * like Python's {@code DeviceProfile.from_json} (schema rules plus latency order and the
 * energy_mj / energy_source pairing).
 */
public final class DeviceProfile {
    public static final String SCHEMA_VERSION = Vocabulary.DEVICE_PROFILE_SCHEMA_VERSION;
    private static final Pattern UTC = Pattern.compile("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$");
    private static final Pattern RESOLUTION = Pattern.compile("^[1-9][0-9]*$");

    /** Latency (and, when known, energy) of one inference of one model. */
    public static final class ModelTiming {
        public final double medianMs;
        public final double p90Ms;
        public final double meanMs;
        /** Null when not recorded. */
        public final Double minMs;
        public final int runs;
        /** Null when energy was not recorded (then estimated from compute power). */
        public final Double energyMj;
        /** "measured" / "estimated", null exactly when energyMj is null. */
        public final String energySource;
        public final String sha256;
        public final String delegate;
        public final Integer threads;

        ModelTiming(JsonNode node) {
            JsonNode latency = node.get("latency_ms");
            checkKeys(latency, Arrays.asList("median", "p90", "mean", "runs"), Arrays.asList("min"));
            medianMs = latency.get("median").atLeast(0);
            p90Ms = latency.get("p90").atLeast(0);
            meanMs = latency.get("mean").atLeast(0);
            JsonNode min = latency.opt("min");
            minMs = min == null ? null : min.atLeast(0);
            runs = latency.get("runs").intAtLeast(1);
            checkKeys(node, Arrays.asList("sha256", "latency_ms", "energy_mj", "energy_source", "delegate", "threads"),
                    Collections.<String>emptyList());
            JsonNode energy = node.get("energy_mj");
            energyMj = energy.isNull() ? null : energy.atLeast(0);
            JsonNode source = node.get("energy_source");
            energySource = source.isNull() ? null : source.oneOf("measured", "estimated");
            JsonNode sha = node.get("sha256");
            sha256 = sha.isNull() ? null : sha.matching(ModelRecord.SHA256, "64 lowercase hex digits or null");
            JsonNode delegateNode = node.get("delegate");
            delegate = delegateNode.isNull() ? null : delegateNode.nonEmptyString();
            JsonNode threadsNode = node.get("threads");
            threads = threadsNode.isNull() ? null : threadsNode.intAtLeast(1);
            if (minMs != null && (minMs > medianMs || minMs > meanMs)) {
                throw latency.error("min is " + minMs + ", above median " + medianMs + " or mean " + meanMs
                        + "; expected min <= median and min <= mean");
            }
            if (medianMs > p90Ms) {
                throw latency.error("median is " + medianMs + ", above p90 " + p90Ms + "; expected median <= p90");
            }
            if ((energyMj == null) != (energySource == null)) {
                throw node.error("energy_mj is " + energyMj + " and energy_source is " + energySource
                        + "; expected both null or both set");
            }
        }
    }

    /** An energy estimate and where it comes from. */
    public static final class Energy {
        public final double mj;
        public final String source;

        Energy(double mj, String source) {
            this.mj = mj;
            this.source = source;
        }
    }

    private final JsonNode json;
    private final String name;
    private final String kind;
    private final double computePowerW;
    private final boolean powerMeasured;
    private final Map<String, ModelTiming> models = new LinkedHashMap<>();
    private final Map<Integer, Double> preprocessingMs = new TreeMap<>();

    private DeviceProfile(JsonNode doc) {
        json = doc;
        checkKeys(doc, Arrays.asList("schema_version", "device", "source", "compute_power_w", "models"),
                Arrays.asList("preprocessing_ms"));
        String version = doc.get("schema_version").string();
        if (!SCHEMA_VERSION.equals(version)) {
            throw doc.get("schema_version").error("is \"" + version + "\"; expected \"" + SCHEMA_VERSION + "\"");
        }
        JsonNode device = doc.get("device");
        checkKeys(device, Arrays.asList("name", "kind", "manufacturer", "model", "os", "soc", "cpu_cores"),
                Collections.<String>emptyList());
        name = device.get("name").nonEmptyString();
        kind = device.get("kind").oneOf("host", "android", "other");
        for (String key : new String[] {"manufacturer", "model", "os", "soc"}) {
            JsonNode text = device.get(key);
            if (!text.isNull()) {
                text.nonEmptyString();
            }
        }
        JsonNode cores = device.get("cpu_cores");
        if (!cores.isNull()) {
            cores.intAtLeast(1);
        }
        JsonNode source = doc.get("source");
        checkKeys(source, Arrays.asList("tool", "created_utc", "notes"), Collections.<String>emptyList());
        source.get("tool").nonEmptyString();
        source.get("created_utc").matching(UTC, "UTC time 'YYYY-MM-DDTHH:MM:SSZ'");
        source.get("notes").string();
        JsonNode power = doc.get("compute_power_w");
        checkKeys(power, Arrays.asList("value", "measured", "source"), Collections.<String>emptyList());
        computePowerW = power.get("value").above(0);
        powerMeasured = power.get("measured").bool();
        power.get("source").nonEmptyString();
        JsonNode modelsNode = doc.get("models");
        for (Map.Entry<String, JsonNode> e : modelsNode.entries().entrySet()) {
            if (!ModelRecord.NAME.matcher(e.getKey()).matches()) {
                throw e.getValue().error("is model id '" + e.getKey() + "'; expected letters, digits, '.', '_' or '-'");
            }
            models.put(e.getKey(), new ModelTiming(e.getValue()));
        }
        if (models.isEmpty()) {
            throw modelsNode.error("is {}; expected at least one model");
        }
        JsonNode pre = doc.opt("preprocessing_ms");
        if (pre != null) {
            for (Map.Entry<String, JsonNode> e : pre.entries().entrySet()) {
                if (!RESOLUTION.matcher(e.getKey()).matches() || e.getKey().length() > 9) {
                    throw e.getValue().error("is keyed '" + e.getKey() + "'; expected a resolution as a decimal string");
                }
                preprocessingMs.put(Integer.parseInt(e.getKey()), e.getValue().atLeast(0));
            }
        }
    }

    static void checkKeys(JsonNode node, List<String> required, List<String> optional) {
        Set<String> keys = new TreeSet<>(node.entries().keySet());
        Set<String> missing = new TreeSet<>(required);
        missing.removeAll(keys);
        keys.removeAll(required);
        keys.removeAll(optional);
        if (!missing.isEmpty() || !keys.isEmpty()) {
            throw node.error("has missing keys " + missing + " and unknown keys " + keys + "; expected " + required
                    + (optional.isEmpty() ? "" : " and optionally " + optional));
        }
    }

    public static DeviceProfile parse(String text, String source) {
        return new DeviceProfile(JsonNode.parse(text, source));
    }

    public static DeviceProfile load(File file) {
        if (!file.isFile()) {
            throw new BundleException("device profile " + file + " does not exist");
        }
        return parse(Bundle.readText(file), file.getPath());
    }

    public JsonNode json() {
        return json;
    }

    public String name() {
        return name;
    }

    /** "host", "android" or "other". */
    public String kind() {
        return kind;
    }

    public double computePowerW() {
        return computePowerW;
    }

    public boolean powerMeasured() {
        return powerMeasured;
    }

    public Map<String, ModelTiming> models() {
        return Collections.unmodifiableMap(models);
    }

    public boolean hasModel(String id) {
        return models.containsKey(id);
    }

    public ModelTiming timing(String id) {
        ModelTiming t = models.get(id);
        if (t == null) {
            throw new ConfigException("device profile '" + name + "' has no model '" + id + "'; known ids: " + models.keySet());
        }
        return t;
    }

    /** Median latency (ms) of one inference. */
    public double latencyMs(String id) {
        return timing(id).medianMs;
    }

    /** The recorded energy, else compute power × median latency (W × ms = mJ). */
    public Energy energyMj(String id) {
        ModelTiming t = timing(id);
        if (t.energyMj != null) {
            return new Energy(t.energyMj, t.energySource.equals("measured") ? "measured" : "estimated: recorded in the profile");
        }
        return new Energy(computePowerW * t.medianMs, "estimated: " + g(computePowerW) + " W x " + g(t.medianMs) + " ms");
    }

    /** Frame preprocessing time (ms) for a model input resolution; null when not measured. */
    public Double preprocessingMs(int resolution) {
        return preprocessingMs.get(resolution);
    }

    /**
     * Warnings about using this profile for the bundle of {@code manifest}: a shipped model the
     * profile lacks, or one measured on a file with another sha256. Empty when it fits.
     */
    public List<String> warningsFor(Manifest manifest) {
        List<String> warnings = new ArrayList<>();
        for (ModelRecord m : manifest.models()) {
            if (!m.shipped()) {
                continue;
            }
            ModelTiming t = models.get(m.id());
            if (t == null) {
                warnings.add("device profile '" + name + "' has no model '" + m.id() + "' of bundle '" + manifest.name() + "'");
            } else if (t.sha256 != null && !t.sha256.equals(m.sha256())) {
                warnings.add("device profile '" + name + "' measured model '" + m.id() + "' with sha256 " + t.sha256
                        + ", but bundle '" + manifest.name() + "' ships sha256 " + m.sha256() + " (measured on a different file)");
            }
        }
        return warnings;
    }

    /** Six significant digits without trailing zeros, like Python's {@code :g} for ordinary magnitudes. */
    static String g(double value) {
        return new BigDecimal(value).round(new MathContext(6)).stripTrailingZeros().toPlainString();
    }
}
