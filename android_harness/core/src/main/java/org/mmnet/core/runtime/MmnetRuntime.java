package org.mmnet.core.runtime;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.mmnet.core.Bundle;
import org.mmnet.core.BundleException;
import org.mmnet.core.ConfigException;
import org.mmnet.core.DataException;
import org.mmnet.core.Mode;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.Placement;
import org.mmnet.core.PreprocessingSpec;
import org.mmnet.core.RuntimeConfig;
import org.mmnet.core.detect.Detector;
import org.mmnet.core.detect.FrameVerdict;
import org.mmnet.core.detect.LogisticDetector;
import org.mmnet.core.select.CostingCache;
import org.mmnet.core.select.Decision;
import org.mmnet.core.select.FramePath;
import org.mmnet.core.select.HistoryEntry;
import org.mmnet.core.select.Selector;
import org.mmnet.core.select.SelectorState;
import org.mmnet.core.select.SelectorTables;

/**
 * Runs a bundle frame by frame like Python {@code mobile_runtime/runtime.py}: the selector decides
 * the path, the minions run through the {@link ModelRunner}, the detector accepts their answer or
 * sends the frame to the master, on the device or through the {@link MasterClient}. Every frame
 * gets an answer: a failed cloud master falls back to the device master or, without one, to the
 * minions' answer marked unverified; every fallback is counted and recorded in the result.
 * Audit sampling (Python's audit_rate) is not part of this core. Not thread-safe: one runtime per
 * camera stream.
 */
public final class MmnetRuntime {
    private final Bundle bundle;
    private final RuntimeConfig config;
    private final Mode mode;
    private final String profile;
    private final SelectorTables tables;
    /** The selector's memo of rules 1-4 for this runtime's frames. */
    private final CostingCache costingCache = new CostingCache();
    private final Placement override;
    private final boolean deviceMaster;
    private final ModelRunner runner;
    private final MasterClient remote;
    private final Clock clock;
    private final RuntimeConfig.NetworkProfile network;
    private final Map<String, Double> energy = new HashMap<>();
    private final double[] acceptAll;
    private final Map<String, SystemSetup> systems = new HashMap<>();
    private final List<String> modelsNeeded;
    private SelectorState state;

    private int frames;
    private int recovered;
    private int unverified;
    private final Map<String, Integer> pathCounts = new LinkedHashMap<>();
    private final Map<String, Integer> fallbackCounts = new LinkedHashMap<>();

    /** A system's minions, temperatures and tuned detector in this runtime's mode. */
    private static final class SystemSetup {
        final List<ModelRecord> minions = new ArrayList<>();
        final double[] temperatures;
        final double[] thresholds;
        final Double disagreementThreshold;
        /** The tuned mode's learned detector; null: the paper's rule with {@code thresholds}. */
        final LogisticDetector detector;

        SystemSetup(MmnetRuntime rt, String name) {
            RuntimeConfig.MinionSystem system = rt.config.system(name);
            RuntimeConfig.Tuned tuned = rt.config.tuned(name, rt.mode);
            temperatures = new double[system.minions.size()];
            for (int i = 0; i < temperatures.length; i++) {
                String id = system.minions.get(i);
                minions.add(rt.bundle.model(id));
                temperatures[i] = rt.config.temperature(id);
            }
            thresholds = Detector.checkThresholds(tuned.thresholds(), rt.bundle.numClasses(), name + " thresholds");
            disagreementThreshold = tuned.disagreementThreshold;
            detector = tuned.detector;
        }
    }

    /**
     * {@code remote} null means no cloud master (the master then always runs on the device);
     * {@code clock} times the stages and stands in for missing timestamps.
     */
    public MmnetRuntime(Bundle bundle, RuntimeOptions options, ModelRunner runner, MasterClient remote, Clock clock) {
        if (bundle == null || options == null || runner == null || clock == null) {
            throw new ConfigException("bundle, options, runner and clock are required; got null");
        }
        this.bundle = bundle;
        this.config = bundle.runtimeConfig();
        if (config == null) {
            throw new BundleException("bundle " + bundle.dir() + " has no runtime_config.json; run `mmnet configure " + bundle.dir() + "`");
        }
        mode = options.mode();
        PlacementChoice placement = options.placement();
        boolean cloudMode = config.mode(mode).cloud;
        if (placement == PlacementChoice.CLOUD && remote == null) {
            throw new ConfigException("placement 'cloud' needs a master client (a master URL)");
        }
        if (placement == PlacementChoice.CLOUD && !cloudMode) {
            throw new ConfigException("mode " + mode + " never leaves the device; placement 'cloud' is not allowed");
        }
        if (!options.deviceMaster() && (remote == null || !cloudMode)) {
            throw new ConfigException("without a device master the runtime needs a master client and a mode that may use the cloud; got "
                    + (remote == null ? "no master client" : "a master client") + ", mode " + mode);
        }
        profile = options.network() == null ? config.defaultProfile() : options.network();
        network = config.profile(profile);
        if (network.power == null) {
            throw new ConfigException("network profile '" + profile + "' of the runtime config has no 'power' object; "
                    + "expected alpha_up_mw_per_mbps, alpha_down_mw_per_mbps and beta_mw for the radio energy");
        }
        tables = SelectorTables.from(config);
        state = Selector.initialState(tables, profile);
        // Without a cloud master (or without a device master) placement is not the selector's choice.
        Placement forced = placement == PlacementChoice.AUTO ? null
                : placement == PlacementChoice.DEVICE ? Placement.DEVICE : Placement.CLOUD;
        if (remote == null) {
            forced = Placement.DEVICE;
        } else if (!options.deviceMaster()) {
            forced = Placement.CLOUD;
        }
        override = forced;
        deviceMaster = options.deviceMaster();
        this.runner = runner;
        this.remote = remote;
        this.clock = clock;
        for (Map.Entry<String, RuntimeConfig.Latency> e : config.latency().entrySet()) {
            energy.put(e.getKey(), e.getValue().energyMj);
        }
        acceptAll = new double[bundle.numClasses()];
        TreeSet<String> needed = new TreeSet<>();
        for (RuntimeConfig.MinionSystem s : config.systems().values()) {
            needed.addAll(s.minions);
        }
        if (deviceMaster) {
            needed.add(config.masterModel());
        }
        for (String id : needed) {
            ModelRecord m = bundle.model(id);
            if (!m.shipped()) {
                throw new BundleException("model '" + id + "' in bundle " + bundle.dir() + " is not shipped (file is null): " + m.reason());
            }
        }
        modelsNeeded = Collections.unmodifiableList(new ArrayList<>(needed));
    }

    /** Model ids the runner must run: every configured minion, and the master when it is on the device. */
    public List<String> modelsNeeded() {
        return modelsNeeded;
    }

    public Mode mode() {
        return mode;
    }

    /** The network profile in use. */
    public String profile() {
        return profile;
    }

    public SelectorState selectorState() {
        return state;
    }

    public SelectorTables tables() {
        return tables;
    }

    private SystemSetup system(String name) {
        SystemSetup s = systems.get(name);
        if (s == null) {
            s = new SystemSetup(this, name);
            systems.put(name, s);
        }
        return s;
    }

    /** Classifies {@code frame} with the clock's time as its timestamp. */
    public FrameResult classify(Frame frame) {
        return classify(frame, Double.NaN);
    }

    /** Per-frame working values (Python keeps them as locals of classify). */
    private final class Work {
        final Frame frame;
        final Map<Integer, float[]> inputs = new HashMap<>();
        double preprocessMs;
        double minionsMs;
        double masterMs;
        double remoteMs;
        final List<String> fallbacks = new ArrayList<>();

        Work(Frame frame) {
            this.frame = frame;
        }

        ModelInput input(ModelRecord model) {
            float[] x = inputs.get(model.resolution());
            if (x == null) {
                double tick = clock.seconds();
                x = Preprocessor.preprocess(frame, bundle.preprocessing(), model.resolution());
                inputs.put(model.resolution(), x);
                preprocessMs += 1000.0 * (clock.seconds() - tick);
            }
            return Preprocessor.toInput(x, model);
        }

        /** Runs a minion; its time counts as minion time. */
        float[] runMinion(ModelRecord model, ModelInput input) {
            double tick = clock.seconds();
            float[] probabilities = Preprocessor.dequantize(runner.run(model.id(), input), model);
            minionsMs += 1000.0 * (clock.seconds() - tick);
            return probabilities;
        }
    }

    /** The master's answer: label, confidence, placement, energy; label null when no master could answer. */
    private static final class MasterAnswer {
        final Integer label;
        final double confidence;
        final Placement placement;
        final double energyMj;

        MasterAnswer(Integer label, double confidence, Placement placement, double energyMj) {
            this.label = label;
            this.confidence = confidence;
            this.placement = placement;
            this.energyMj = energyMj;
        }
    }

    /**
     * Classifies one uint8 frame with the manifest's channels; a frame of another height and width
     * is conformed to the manifest's frame_shape with its resize policy first, and that frame is
     * what a cloud master receives. {@code timestampS} is the frame's
     * time in seconds on any monotonic clock (NaN: the clock's time).
     */
    public FrameResult classify(Frame frame, double timestampS) {
        double started = clock.seconds();
        double timestamp = Double.isNaN(timestampS) ? started : timestampS;
        checkFrame(frame);
        int index = frames;
        Decision decision = Selector.decide(tables, state, mode, timestamp, override, costingCache);
        boolean runsDetector = decision.path() == FramePath.MINIONS;
        boolean runsMinions = runsDetector || decision.path() == FramePath.MINIONS_UNCHECKED;
        Work work = conformed(frame);
        double energyMj = 0.0;
        Integer minionAnswer = null;
        double confidence = 0.0;
        boolean wasRecovered = false;
        boolean verified = true;
        Placement masterPlacement = null;
        Integer masterAnswer = null;
        DetectorInfo detector = null;

        if (runsMinions) {
            SystemSetup setup = system(decision.system());
            float[][] raw = new float[setup.minions.size()][];
            for (int i = 0; i < raw.length; i++) {
                ModelRecord model = setup.minions.get(i);
                raw[i] = work.runMinion(model, work.input(model));
                energyMj += energy.get(model.id());
            }
            FrameVerdict verdict;
            if (setup.detector != null) {  // history rule 1 (no detection) ignores its verdict below
                LogisticDetector.Scored scored = LogisticDetector.logisticFrame(raw, setup.detector);
                verdict = scored.verdict();
                detector = DetectorInfo.logistic(verdict, setup.detector.threshold(), scored.score(), runsDetector);
            } else {
                Double relaxed = setup.disagreementThreshold;
                // History rule 1 accepts the minions as they are: no threshold, any disagreement.
                verdict = runsDetector
                        ? Detector.detectFrame(raw, setup.temperatures, setup.thresholds, relaxed)
                        : Detector.detectFrame(raw, setup.temperatures, acceptAll, 0.0);
                detector = new DetectorInfo(verdict, setup.thresholds[verdict.answer()], relaxed, runsDetector);
            }
            minionAnswer = verdict.answer();
            confidence = verdict.confidence();
            wasRecovered = runsDetector && !verdict.accept();
        }

        if (!runsMinions || wasRecovered) {
            MasterAnswer m = runMaster(work, decision, timestamp);
            energyMj += m.energyMj;
            masterAnswer = m.label;
            masterPlacement = m.placement;
            if (masterAnswer == null) {
                if (minionAnswer == null) {
                    double[] emergency = emergencyMinions(work);
                    minionAnswer = (int) emergency[0];
                    confidence = emergency[1];
                    energyMj += emergency[2];
                }
                verified = false;
            } else {
                confidence = m.confidence;
            }
        }

        int label = masterAnswer != null ? masterAnswer : minionAnswer;
        FramePath path = decision.path();
        if (path == FramePath.MASTER_CLOUD && masterPlacement == Placement.DEVICE) {
            path = FramePath.MASTER_DEVICE;
        }
        // A recovery no master answered leaves no verdict for the history rules to follow.
        state = Selector.afterFrame(state,
                new HistoryEntry(timestamp, minionAnswer, masterAnswer, wasRecovered && masterAnswer != null));
        double total = 1000.0 * (clock.seconds() - started);
        Map<String, Double> timings = new LinkedHashMap<>();
        timings.put("preprocess", work.preprocessMs);
        timings.put("minions", work.minionsMs);
        timings.put("master", work.masterMs);
        timings.put("remote", work.remoteMs);
        timings.put("total", total);
        timings.put("overhead", Math.max(0.0, total - work.preprocessMs - work.minionsMs - work.masterMs - work.remoteMs));
        count(path, wasRecovered, verified, work.fallbacks);
        return new FrameResult(index, timestamp, label, bundle.labels().get(label), confidence, path, wasRecovered, verified,
                minionAnswer, masterAnswer, masterPlacement, timings, energyMj, work.fallbacks, decision, detector);
    }

    private void checkFrame(Frame frame) {
        int[] shape = bundle.preprocessing().frameShape();
        if (frame == null) {
            throw new DataException("frame is null; expected a uint8 frame of shape " + Arrays.toString(shape) + " (H, W, C)");
        }
        if (frame.channels() != shape[2]) {
            throw new DataException("frame has shape " + Arrays.toString(new int[] {frame.height(), frame.width(), frame.channels()})
                    + "; expected " + shape[2] + " channels (any H x W x " + shape[2] + ", conformed to "
                    + Arrays.toString(shape) + " as the bundle's manifest says)");
        }
    }

    /** The frame's work, conformed to the manifest's frame shape first (counted as preprocessing) when it is another size. */
    private Work conformed(Frame frame) {
        PreprocessingSpec spec = bundle.preprocessing();
        int[] shape = spec.frameShape();
        if (frame.height() == shape[0] && frame.width() == shape[1]) {
            return new Work(frame);
        }
        double tick = clock.seconds();
        Work work = new Work(Preprocessor.conform(frame, shape[0], shape[1], spec.resizePolicy()));
        work.preprocessMs += 1000.0 * (clock.seconds() - tick);
        return work;
    }

    private MasterAnswer runMaster(Work work, Decision decision, double timestamp) {
        String master = config.masterModel();
        if (decision.placement() == Placement.CLOUD && remote != null) {
            double tick = clock.seconds();
            MasterReply reply;
            try {
                reply = remote.predict(work.frame);
            } catch (MasterException e) {
                double waited = 1000.0 * (clock.seconds() - tick);
                work.remoteMs += waited;
                // A dead or failing server reads as an overloaded one: the selector backs off.
                state = Selector.observeRtt(tables, state, waited, timestamp);
                work.fallbacks.add("cloud_" + e.kind().json());
                if (!deviceMaster) {
                    return new MasterAnswer(null, 0.0, null, 0.0);
                }
                reply = null;
            }
            if (reply != null) {
                work.remoteMs += 1000.0 * (clock.seconds() - tick);
                float[] probabilities = reply.probabilities();
                if (probabilities.length != bundle.numClasses()) {
                    throw new DataException("the cloud master returned " + probabilities.length + " probabilities; expected "
                            + bundle.numClasses() + " (one per class)");
                }
                double rtt = Selector.rttFromRequestMs(tables, state.link(), reply.rttMs());
                state = Selector.observeRtt(tables, state, rtt, timestamp);
                RuntimeConfig.Upload upload = config.upload();
                double radio = RadioEnergy.transferEnergyMj(network, upload.bytes, upload.replyBytes, rtt + upload.serverMs);
                int answer = argmax(probabilities);
                return new MasterAnswer(answer, probabilities[answer], Placement.CLOUD, radio);
            }
        }
        if (!deviceMaster) {
            work.fallbacks.add("no_device_master");
            return new MasterAnswer(null, 0.0, null, 0.0);
        }
        ModelRecord model = bundle.model(master);
        ModelInput x = work.input(model);
        double tick = clock.seconds();
        float[] probabilities = Preprocessor.dequantize(runner.run(master, x), model);
        work.masterMs += 1000.0 * (clock.seconds() - tick);
        int answer = argmax(probabilities);
        return new MasterAnswer(answer, probabilities[answer], Placement.DEVICE, energy.containsKey(master) ? energy.get(master) : 0.0);
    }

    /** The default system's first minion, when the master was meant to answer alone and could not: {answer, confidence, mJ}. */
    private double[] emergencyMinions(Work work) {
        String system = config.selection(profile, Mode.NORMAL).system;
        if (system.equals(RuntimeConfig.MASTER_ONLY)) {
            if (config.systems().isEmpty()) {
                throw new BundleException("no master answered and the runtime config defines no minion system to fall back on");
            }
            system = config.systems().keySet().iterator().next();
        }
        String id = config.system(system).minions.get(0);
        ModelRecord model = bundle.model(id);
        float[] raw = work.runMinion(model, work.input(model));
        double[] probabilities = Detector.applyTemperature(raw, config.temperature(id));
        int answer = 0;
        for (int i = 1; i < probabilities.length; i++) {
            if (probabilities[i] > probabilities[answer]) {
                answer = i;
            }
        }
        return new double[] {answer, probabilities[answer], energy.containsKey(id) ? energy.get(id) : 0.0};
    }

    static int argmax(float[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    private void count(FramePath path, boolean wasRecovered, boolean verified, List<String> fallbacks) {
        frames++;
        pathCounts.merge(path.json(), 1, Integer::sum);
        if (wasRecovered) {
            recovered++;
        }
        if (!verified) {
            unverified++;
        }
        for (String f : fallbacks) {
            fallbackCounts.merge(f, 1, Integer::sum);
        }
    }

    public RuntimeStats stats() {
        return new RuntimeStats(frames, pathCounts, recovered, unverified, fallbackCounts);
    }
}
