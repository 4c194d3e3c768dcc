package org.mmnet.core;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.mmnet.core.detect.LogisticDetector;

/**
 * A bundle's {@code runtime_config.json} (schema 1.0): the detector, the minion systems per network
 * profile and mode, placement, latency estimates, speculation history and server-load settings.
 * Parsing checks the fields the runtime uses (types and ranges of the JSON Schema) and the
 * cross-references of Python's {@code check_runtime_config}.
 */
public final class RuntimeConfig {
    public static final String SCHEMA_VERSION = Vocabulary.RUNTIME_CONFIG_SCHEMA_VERSION;
    /** The implicit system that runs the master alone. */
    public static final String MASTER_ONLY = Vocabulary.MASTER_ONLY;
    /** A threshold no probability reaches (detector.NEVER). */
    public static final double NEVER = Vocabulary.NEVER;

    private static final String[] PLACEMENTS = Vocabulary.PLACEMENTS.toArray(new String[0]);
    private static final Pattern SYSTEM_NAME = Pattern.compile("^(pair|single):.+$");
    private static final Pattern SELECTED_SYSTEM =
            Pattern.compile("^(" + Pattern.quote(MASTER_ONLY) + "|pair:.+|single:.+)$");

    /** Radio power model of a network profile: P = alpha × throughput + beta (mW). */
    public static final class RadioPower {
        public final double alphaUpMwPerMbps;
        public final double alphaDownMwPerMbps;
        public final double betaMw;

        RadioPower(double alphaUp, double alphaDown, double beta) {
            this.alphaUpMwPerMbps = alphaUp;
            this.alphaDownMwPerMbps = alphaDown;
            this.betaMw = beta;
        }
    }

    /** One entry of {@code network_profiles}. */
    public static final class NetworkProfile {
        public final String name;
        public final double uplinkMbps;
        public final double downlinkMbps;
        public final double rttMs;
        /** Null when the profile has no {@code power} object (the runtime then refuses it). */
        public final RadioPower power;

        NetworkProfile(String name, double uplinkMbps, double downlinkMbps, double rttMs, RadioPower power) {
            this.name = name;
            this.uplinkMbps = uplinkMbps;
            this.downlinkMbps = downlinkMbps;
            this.rttMs = rttMs;
            this.power = power;
        }
    }

    /** One entry of {@code modes}. */
    public static final class ModeSpec {
        public final boolean minions;
        public final boolean cloud;
        /** "normal" / "power_saving": the tuned thresholds the detector uses; null without minions. */
        public final String thresholds;

        ModeSpec(boolean minions, boolean cloud, String thresholds) {
            this.minions = minions;
            this.cloud = cloud;
            this.thresholds = thresholds;
        }
    }

    /** One threshold-tuned mode of a system. */
    public static final class Tuned {
        private final double[] thresholds;
        /** Null: a disagreement is recovered by the master. */
        public final Double disagreementThreshold;
        /** Validation recovery rate P_r at these thresholds (the selector's costing). */
        public final double valRecoveryRate;
        /**
         * The learned detector the mode runs ("detector" of kind "logistic"); null: the paper's rule
         * with {@link #thresholds()} ("detector" absent or of kind "per_class_confidence").
         */
        public final LogisticDetector detector;

        Tuned(double[] thresholds, Double disagreementThreshold, double valRecoveryRate, LogisticDetector detector) {
            this.thresholds = thresholds;
            this.disagreementThreshold = disagreementThreshold;
            this.valRecoveryRate = valRecoveryRate;
            this.detector = detector;
        }

        public double[] thresholds() {
            return thresholds.clone();
        }
    }

    /** One entry of {@code systems}: one or two minions and their tuned detectors. */
    public static final class MinionSystem {
        public final String name;
        public final List<String> minions;
        public final Map<String, Tuned> modes;

        MinionSystem(String name, List<String> minions, Map<String, Tuned> modes) {
            this.name = name;
            this.minions = Collections.unmodifiableList(minions);
            this.modes = Collections.unmodifiableMap(modes);
        }
    }

    /** One entry of {@code selection[profile][mode]}. */
    public static final class Selection {
        public final String system;
        public final Placement placement;
        public final List<String> runnerUps;

        Selection(String system, Placement placement, List<String> runnerUps) {
            this.system = system;
            this.placement = placement;
            this.runnerUps = Collections.unmodifiableList(runnerUps);
        }
    }

    /** One entry of {@code latency}: the device estimates the selection used. */
    public static final class Latency {
        public final double inferenceMs;
        public final double preprocessMs;
        public final double totalMs;
        /** The input resolution the model prepares; null: not given, no preparation is shared. */
        public final Integer resolution;
        public final double energyMj;

        Latency(double inferenceMs, double preprocessMs, double totalMs, Integer resolution, double energyMj) {
            this.inferenceMs = inferenceMs;
            this.preprocessMs = preprocessMs;
            this.totalMs = totalMs;
            this.resolution = resolution;
            this.energyMj = energyMj;
        }
    }

    /** The {@code upload} object: what one cloud request carries. */
    public static final class Upload {
        public final String encoding;
        /** The JPEG quality (1-95) when the encoding is "jpeg", else null. */
        public final Integer jpegQuality;
        public final long bytes;
        public final long replyBytes;
        public final double serverMs;

        Upload(String encoding, Integer jpegQuality, long bytes, long replyBytes, double serverMs) {
            this.encoding = encoding;
            this.jpegQuality = jpegQuality;
            this.bytes = bytes;
            this.replyBytes = replyBytes;
            this.serverMs = serverMs;
        }
    }

    private final JsonNode json;
    private final String bundle;
    private final String masterModel;
    private final int masterResolution;
    private final Map<String, Double> temperatures = new LinkedHashMap<>();
    private final boolean parallel;
    private final Map<String, MinionSystem> systems = new LinkedHashMap<>();
    private final Map<Mode, ModeSpec> modes = new EnumMap<>(Mode.class);
    private final String defaultProfile;
    private final Map<String, NetworkProfile> profiles = new LinkedHashMap<>();
    private final Upload upload;
    private final Map<String, Map<Mode, Selection>> selection = new LinkedHashMap<>();
    private final Map<String, Latency> latency = new LinkedHashMap<>();
    private final double temporalDistanceMs;
    private final double probeIntervalS;
    private final double rttSmoothing;

    private RuntimeConfig(JsonNode doc, Integer numClasses, Collection<String> shippedModels) {
        json = doc;
        String version = doc.get("schema_version").string();
        if (!SCHEMA_VERSION.equals(version)) {
            throw doc.get("schema_version").error("is \"" + version + "\"; expected \"" + SCHEMA_VERSION + "\"");
        }
        bundle = doc.get("bundle").nonEmptyString();
        doc.get("reference").oneOf("labels", "master");
        JsonNode master = doc.get("master");
        masterModel = master.get("model").matching(ModelRecord.NAME, "a model id");
        masterResolution = master.get("resolution").intAtLeast(1);
        JsonNode detector = doc.get("detector");
        detector.get("threshold_rule").oneOf("calibrated_confidence_per_class");
        Map<String, JsonNode> temps = detector.get("temperatures").entries();
        if (temps.isEmpty()) {
            throw detector.get("temperatures").error("is {}; expected a temperature per calibrated minion");
        }
        for (Map.Entry<String, JsonNode> e : temps.entrySet()) {
            temperatures.put(e.getKey(), e.getValue().above(0));
        }
        parallel = doc.get("minion_execution").oneOf("serial", "parallel").equals("parallel");

        for (Map.Entry<String, JsonNode> e : doc.get("latency").entries().entrySet()) {
            JsonNode l = e.getValue();
            Integer resolution = l.has("resolution") ? l.get("resolution").intAtLeast(1) : null;
            latency.put(e.getKey(), new Latency(l.get("inference_ms").atLeast(0), l.get("preprocess_ms").atLeast(0),
                    l.get("total_ms").atLeast(0), resolution, l.get("energy_mj").atLeast(0)));
        }

        JsonNode systemsNode = doc.get("systems");
        for (Map.Entry<String, JsonNode> e : systemsNode.entries().entrySet()) {
            String name = e.getKey();
            JsonNode s = e.getValue();
            if (!SYSTEM_NAME.matcher(name).matches()) {
                throw s.error("is a system named '" + name + "'; expected a name 'pair:...' or 'single:...'");
            }
            List<String> minions = new ArrayList<>();
            List<JsonNode> minionNodes = s.get("minions").items();
            if (minionNodes.isEmpty() || minionNodes.size() > 2) {
                throw s.get("minions").error("has " + minionNodes.size() + " minions; expected 1 or 2");
            }
            for (JsonNode m : minionNodes) {
                String model = m.matching(ModelRecord.NAME, "a model id");
                if (!temperatures.containsKey(model)) {
                    throw m.error("minion '" + model + "' has no temperature in $.detector.temperatures");
                }
                if (!latency.containsKey(model)) {
                    throw m.error("minion '" + model + "' has no entry in $.latency");
                }
                minions.add(model);
            }
            Map<String, Tuned> tunedModes = new LinkedHashMap<>();
            Map<String, JsonNode> modeNodes = s.get("modes").entries();
            if (modeNodes.isEmpty()) {
                throw s.get("modes").error("is {}; expected tuned thresholds for 'normal' and/or 'power_saving'");
            }
            for (Map.Entry<String, JsonNode> m : modeNodes.entrySet()) {
                if (!m.getKey().equals("normal") && !m.getKey().equals("power_saving")) {
                    throw m.getValue().error("is tuned mode '" + m.getKey() + "'; expected 'normal' or 'power_saving'");
                }
                tunedModes.put(m.getKey(), tuned(m.getValue(), numClasses, minions.size(), name + " " + m.getKey() + " detector"));
            }
            systems.put(name, new MinionSystem(name, minions, tunedModes));
        }

        JsonNode modesNode = doc.get("modes");
        for (Mode mode : Mode.values()) {
            JsonNode m = modesNode.get(mode.json());
            boolean minions = m.get("minions").bool();
            boolean cloud = m.get("cloud").bool();
            JsonNode t = m.get("thresholds");
            String thresholds = t.isNull() ? null : t.oneOf("normal", "power_saving");
            if (minions != (thresholds != null)) {
                throw m.error("runs minions " + minions + " with thresholds " + thresholds
                        + "; expected a mode to run minions exactly when it names thresholds");
            }
            modes.put(mode, new ModeSpec(minions, cloud, thresholds));
        }

        for (Map.Entry<String, JsonNode> e : doc.get("network_profiles").entries().entrySet()) {
            JsonNode p = e.getValue();
            p.get("source").string();
            JsonNode power = p.opt("power");
            RadioPower radio = power == null ? null : new RadioPower(power.get("alpha_up_mw_per_mbps").atLeast(0),
                    power.get("alpha_down_mw_per_mbps").atLeast(0), power.get("beta_mw").atLeast(0));
            profiles.put(e.getKey(), new NetworkProfile(e.getKey(), p.get("uplink_mbps").above(0),
                    p.get("downlink_mbps").above(0), p.get("rtt_ms").atLeast(0), radio));
        }
        if (profiles.isEmpty()) {
            throw doc.get("network_profiles").error("is {}; expected at least one network profile");
        }
        JsonNode defaultNode = doc.get("default_profile");
        defaultProfile = defaultNode.nonEmptyString();
        if (!profiles.containsKey(defaultProfile)) {
            throw defaultNode.error("is '" + defaultProfile + "', not one of $.network_profiles " + new TreeSet<>(profiles.keySet()));
        }

        JsonNode up = doc.get("upload");
        String encoding = up.get("encoding").oneOf("raw", "png", "jpeg");
        Integer jpegQuality = null;
        if (up.has("jpeg_quality")) {
            jpegQuality = up.get("jpeg_quality").intAtLeast(1);
            if (jpegQuality > 95) {
                throw up.get("jpeg_quality").error("is " + jpegQuality + "; expected an integer in [1, 95]");
            }
        }
        if ("jpeg".equals(encoding) != (jpegQuality != null)) {
            throw up.error("jpeg_quality is given exactly when encoding is 'jpeg' (encoding '" + encoding
                    + "', jpeg_quality " + jpegQuality + ")");
        }
        upload = new Upload(encoding, jpegQuality, up.get("bytes").integerAtLeast(1),
                up.get("reply_bytes").integerAtLeast(1), up.get("server_ms").atLeast(0));

        JsonNode placementNode = doc.get("placement");
        Map<String, JsonNode> placements = placementNode.entries();
        checkCoversProfiles(placementNode, placements.keySet());
        for (JsonNode p : placements.values()) {
            for (String key : new String[] {"device_ms", "cloud_ms", "device_mj", "cloud_mj"}) {
                p.get(key).atLeast(0);
            }
            p.get("choice").oneOf(PLACEMENTS);
        }

        JsonNode selectionNode = doc.get("selection");
        Map<String, JsonNode> selections = selectionNode.entries();
        checkCoversProfiles(selectionNode, selections.keySet());
        for (Map.Entry<String, JsonNode> e : selections.entrySet()) {
            Map<Mode, Selection> byMode = new EnumMap<>(Mode.class);
            for (Mode mode : Mode.values()) {
                JsonNode chosen = e.getValue().get(mode.json());
                ModeSpec spec = modes.get(mode);
                JsonNode systemNode = chosen.get("system");
                String system = systemNode.matching(SELECTED_SYSTEM, "'master-only', 'pair:...' or 'single:...'");
                Placement placement = Placement.parse(chosen.get("placement").oneOf(PLACEMENTS));
                List<String> runnerUps = new ArrayList<>();
                for (JsonNode r : chosen.get("runner_ups").items()) {
                    runnerUps.add(r.string());
                }
                if (!spec.minions && !system.equals(MASTER_ONLY)) {
                    throw systemNode.error("is '" + system + "'; mode " + mode + " runs no minions, so its system must be '"
                            + MASTER_ONLY + "'");
                }
                List<String> named = new ArrayList<>(runnerUps);
                named.add(0, system);
                for (String name : named) {
                    if (name.equals(MASTER_ONLY)) {
                        continue;
                    }
                    MinionSystem defined = systems.get(name);
                    if (defined == null) {
                        throw chosen.error("names system '" + name + "', which is not defined in $.systems");
                    }
                    if (spec.thresholds != null && !defined.modes.containsKey(spec.thresholds)) {
                        throw chosen.error("names system '" + name + "', which has no thresholds for mode '" + spec.thresholds + "'");
                    }
                }
                if (!spec.cloud && placement != Placement.DEVICE) {
                    throw chosen.get("placement").error("is 'cloud'; mode " + mode
                            + " never leaves the device, so the master must be placed on the device");
                }
                byMode.put(mode, new Selection(system, placement, runnerUps));
            }
            selection.put(e.getKey(), byMode);
        }

        if (!latency.containsKey(masterModel)) {
            throw master.get("model").error("is '" + masterModel + "', which has no entry in $.latency");
        }
        JsonNode device = doc.get("device_profile");
        device.get("compute_power_w").above(0);
        temporalDistanceMs = doc.get("speculation_history").get("temporal_distance_ms").atLeast(0);
        JsonNode load = doc.get("server_load");
        probeIntervalS = load.get("probe_interval_s").above(0);
        rttSmoothing = load.get("rtt_smoothing").above(0);
        if (rttSmoothing > 1) {
            throw load.get("rtt_smoothing").error("is " + rttSmoothing + "; expected a number in (0, 1]");
        }

        if (shippedModels != null) {
            Set<String> used = new TreeSet<>();
            used.add(masterModel);
            used.addAll(temperatures.keySet());
            used.addAll(latency.keySet());
            used.removeAll(shippedModels);
            if (!used.isEmpty()) {
                throw new BundleException(doc.source() + ": models " + used + " are not shipped in the bundle");
            }
        }
    }

    private Tuned tuned(JsonNode node, Integer numClasses, int minions, String detectorWhere) {
        JsonNode thresholdsNode = node.get("thresholds");
        List<JsonNode> items = thresholdsNode.items();
        if (items.size() < 2) {
            throw thresholdsNode.error("has " + items.size() + " values; expected one per class (at least 2)");
        }
        if (numClasses != null && items.size() != numClasses) {
            throw thresholdsNode.error("has " + items.size() + " values; expected one per class (" + numClasses + ")");
        }
        double[] thresholds = new double[items.size()];
        for (int i = 0; i < thresholds.length; i++) {
            thresholds[i] = items.get(i).within(0, NEVER);
        }
        Double disagreement = node.get("disagreement_threshold").nullableWithin(0, NEVER);
        double rate = node.get("val").get("recovery_rate").within(0, 1);
        return new Tuned(thresholds, disagreement, rate, learnedDetector(node.opt("detector"), minions, detectorWhere));
    }

    /**
     * A tuned mode's learned detector (Python runtime {@code _learned_detector}); null when the mode
     * runs the paper's rule: no "detector", or one of kind "per_class_confidence". ConfigException
     * when a logistic detector's features are not the canonical ones for {@code minions} minions or
     * its weights are not one per feature.
     */
    private static LogisticDetector learnedDetector(JsonNode spec, int minions, String where) {
        if (spec == null) {
            return null;
        }
        String kind = spec.get("kind").oneOf(LogisticDetector.PER_CLASS, LogisticDetector.LOGISTIC);
        if (!kind.equals(LogisticDetector.LOGISTIC)) {
            return null;
        }
        return LogisticDetector.fromJson(spec.element(), minions, where);
    }

    private void checkCoversProfiles(JsonNode table, Set<String> keys) {
        if (!keys.equals(profiles.keySet())) {
            throw table.error("covers profiles " + new TreeSet<>(keys) + "; expected " + new TreeSet<>(profiles.keySet()));
        }
    }

    /**
     * Parses and checks a runtime config document. {@code numClasses} (when not null) is the length
     * every threshold vector must have; {@code shippedModels} (when not null) must hold every model
     * the config names. BundleException naming {@code source} and the JSON path.
     */
    public static RuntimeConfig parse(String text, String source, Integer numClasses, Collection<String> shippedModels) {
        return new RuntimeConfig(JsonNode.parse(text, source), numClasses, shippedModels);
    }

    /** The same checks on an already parsed document (e.g. one a tool edited). */
    public static RuntimeConfig fromJson(JsonNode doc, Integer numClasses, Collection<String> shippedModels) {
        return new RuntimeConfig(doc, numClasses, shippedModels);
    }

    public JsonNode json() {
        return json;
    }

    public String bundle() {
        return bundle;
    }

    public String masterModel() {
        return masterModel;
    }

    public int masterResolution() {
        return masterResolution;
    }

    /** True for "parallel" minion execution (minion cost max(L_m1, L_m2) instead of the sum). */
    public boolean parallelMinions() {
        return parallel;
    }

    public double temperature(String model) {
        Double t = temperatures.get(model);
        if (t == null) {
            throw new ConfigException("no temperature for model '" + model + "'; calibrated minions: " + new TreeSet<>(temperatures.keySet()));
        }
        return t;
    }

    /** Systems in document order. */
    public Map<String, MinionSystem> systems() {
        return Collections.unmodifiableMap(systems);
    }

    public MinionSystem system(String name) {
        MinionSystem s = systems.get(name);
        if (s == null) {
            throw new ConfigException("system '" + name + "' is not defined; systems: " + new TreeSet<>(systems.keySet()));
        }
        return s;
    }

    public ModeSpec mode(Mode mode) {
        return modes.get(mode);
    }

    /** The tuned detector of {@code system} in user {@code mode}. */
    public Tuned tuned(String system, Mode mode) {
        String tuning = modes.get(mode).thresholds;
        if (tuning == null) {
            throw new ConfigException("mode " + mode + " runs no minions, so it has no detector");
        }
        Tuned t = system(system).modes.get(tuning);
        if (t == null) {
            throw new ConfigException("system '" + system + "' has no " + tuning + " thresholds");
        }
        return t;
    }

    public String defaultProfile() {
        return defaultProfile;
    }

    /** Network profiles in document order. */
    public Map<String, NetworkProfile> profiles() {
        return Collections.unmodifiableMap(profiles);
    }

    public NetworkProfile profile(String name) {
        NetworkProfile p = profiles.get(name);
        if (p == null) {
            throw new ConfigException("network profile is '" + name + "'; expected one of " + new ArrayList<>(profiles.keySet()));
        }
        return p;
    }

    public Upload upload() {
        return upload;
    }

    public Selection selection(String profile, Mode mode) {
        Map<Mode, Selection> byMode = selection.get(profile);
        if (byMode == null) {
            throw new ConfigException("network profile is '" + profile + "'; expected one of " + new TreeSet<>(selection.keySet()));
        }
        return byMode.get(mode);
    }

    /** Latency and energy estimates per model. */
    public Map<String, Latency> latency() {
        return Collections.unmodifiableMap(latency);
    }

    public double temporalDistanceMs() {
        return temporalDistanceMs;
    }

    public double probeIntervalS() {
        return probeIntervalS;
    }

    public double rttSmoothing() {
        return rttSmoothing;
    }
}
