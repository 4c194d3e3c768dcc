package org.mmnet.harness;

import com.google.gson.JsonObject;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import org.mmnet.core.Bundle;
import org.mmnet.core.Mode;
import org.mmnet.core.measure.Cancellation;
import org.mmnet.core.measure.Clock;
import org.mmnet.core.measure.Delegate;
import org.mmnet.core.measure.FramePacer;
import org.mmnet.core.measure.ProgressListener;
import org.mmnet.core.measure.RunRequest;
import org.mmnet.core.measure.RunResult;
import org.mmnet.core.measure.SystemModeSummary;
import org.mmnet.core.measure.TestSet;
import org.mmnet.core.measure.ThermalGate;
import org.mmnet.core.measure.ThermalSource;
import org.mmnet.core.measure.TraceWriter;
import org.mmnet.core.remote.TfServingMasterClient;
import org.mmnet.core.runtime.Frame;
import org.mmnet.core.runtime.FrameResult;
import org.mmnet.core.runtime.MasterClient;
import org.mmnet.core.runtime.MmnetRuntime;
import org.mmnet.core.runtime.PlacementChoice;
import org.mmnet.core.runtime.RuntimeOptions;

/**
 * A "system" run: the bundle's runtime (the core's MmnetRuntime, LiteRT as its ModelRunner) over
 * the pushed test set, once per requested mode, then the baselines: mobile-only (the master alone
 * on the phone) and, with a master URL, cloud-only (every frame to the cloud master, no master on
 * the phone). Every frame goes into traces/&lt;mode&gt;.jsonl; each mode is summed up in result.json.
 */
final class SystemRun {
    static final String MOBILE_ONLY = "mobile_only";
    static final String CLOUD_ONLY = "cloud_only";

    private final RunRequest request;
    private final RunRequest.SystemSpec spec;
    private final Bundle bundle;
    private final ModelEngine engine;
    private final File unpackDir;
    private final ThermalGate gate;
    private final Cancellation cancellation;
    private final ProgressListener progress;
    private final Path runDir;
    private final RunResult result;
    private final Clock clock = Clock.SYSTEM;
    private int replayed;
    private int replays;

    /** {@code unpackDir}: where packed models are unpacked for the engine ({@link Bundle#tfliteFile}). */
    SystemRun(RunRequest request, Bundle bundle, ModelEngine engine, File unpackDir, ThermalSource thermal,
              Cancellation cancellation, ProgressListener progress, Path runDir, RunResult result) {
        this.request = request;
        this.spec = request.system;
        this.bundle = bundle;
        this.engine = engine;
        this.unpackDir = unpackDir;
        this.gate = new ThermalGate(thermal, clock, request.thermal, cancellation);
        this.cancellation = cancellation;
        this.progress = progress;
        this.runDir = runDir;
        this.result = result;
    }

    void run() throws IOException, InterruptedException {
        TestSet testSet = TestSet.open(Paths.get(spec.testsetDir));
        int[] shape = bundle.preprocessing().frameShape();
        testSet.check(shape[0], shape[1], shape[2], bundle.numClasses(), bundle.name());
        boolean cloud = spec.masterUrl != null;
        replays = spec.modes.size() + 1 + (cloud ? 1 : 0);
        JsonObject modes = new JsonObject();
        JsonObject system = new JsonObject();
        try (LiteRtModelRunner runner = new LiteRtModelRunner(bundle, engine, unpackDir, request.delegate,
                request.threads)) {
            for (String name : spec.modes) {
                RuntimeOptions options = RuntimeOptions.builder().mode(Mode.parse(name)).network(spec.network)
                        .placement(PlacementChoice.AUTO).deviceMaster(true).build();
                modes.add(name, replay(name, options, runner, cloud ? cloudMaster() : null, testSet));
            }
            system.add("modes", modes);
            // Mission-critical runs the master alone for every frame: pinned to the phone, it is mobile-only.
            system.add(MOBILE_ONLY, replay(MOBILE_ONLY, RuntimeOptions.builder().mode(Mode.MISSION_CRITICAL)
                    .network(spec.network).placement(PlacementChoice.DEVICE).deviceMaster(true).build(),
                    runner, null, testSet));
            system.add(CLOUD_ONLY, !cloud ? null : replay(CLOUD_ONLY, RuntimeOptions.builder()
                    .mode(Mode.MISSION_CRITICAL).network(spec.network).placement(PlacementChoice.CLOUD)
                    .deviceMaster(false).build(), runner, cloudMaster(), testSet));
        }
        result.setSystem(system);
    }

    /** A fresh client per runtime, as the core's client asks (its reply length is fixed by its first reply). */
    private MasterClient cloudMaster() {
        return TfServingMasterClient.options(spec.masterUrl, bundle.name()).numClasses(bundle.numClasses()).build();
    }

    private JsonObject replay(String name, RuntimeOptions options, LiteRtModelRunner runner, MasterClient cloud,
                              TestSet testSet) throws IOException, InterruptedException {
        String label = "system " + (replayed + 1) + "/" + replays + ": " + name;
        progress.progress((double) replayed / replays, label + ": loading models");
        MmnetRuntime runtime = new MmnetRuntime(bundle, options, runner, cloud, org.mmnet.core.runtime.Clock.SYSTEM);
        for (Map.Entry<String, Delegate> e : runner.load(runtime.modelsNeeded()).entrySet()) {
            if (e.getValue() != request.delegate) {
                result.warn(e.getKey() + ": the manifest says " + request.delegate.wireName() + " cannot run this model; "
                        + "it ran on " + e.getValue().wireName());
            }
        }
        progress.progress((double) replayed / replays, label + ": thermal gate");
        ThermalGate.Outcome thermal = gate.await();
        if (thermal.warning != null) {
            result.warn(name + ": " + thermal.warning);
        }
        SystemModeSummary summary = new SystemModeSummary();
        FramePacer pacer = new FramePacer(clock, spec.frameIntervalMs);
        double interval = spec.frameIntervalMs == null ? 0 : spec.frameIntervalMs / 1000.0;
        long lastReport = clock.nanoTime();
        try (TraceWriter trace = new TraceWriter(runDir, name)) {
            long start = clock.nanoTime();
            pacer.start();
            for (int i = 0; i < testSet.count; i++) {
                long slot = pacer.awaitNextSlot();
                // A camera stamps a frame when it arrives: its slot when paced, now when back to back.
                double timestamp = pacer.paced() ? slot * interval : (clock.nanoTime() - start) / 1e9;
                Frame frame = Frame.of(testSet.frame(i), testSet.height, testSet.width, testSet.channels);
                long t0 = clock.nanoTime();
                FrameResult r = runtime.classify(frame, timestamp);
                double ms = (clock.nanoTime() - t0) / 1e6;
                int truth = testSet.label(i);
                JsonObject line = r.toJson();
                line.addProperty("true_label", truth);
                line.addProperty("wall_ms", ms);
                trace.append(line);
                summary.add(truth, r.label(), r.recovered(), r.path().json(), ms);
                cancellation.check();
                if (clock.nanoTime() - lastReport > 1_000_000_000L) {
                    lastReport = clock.nanoTime();
                    progress.progress((replayed + (double) (i + 1) / testSet.count) / replays,
                            label + ": frame " + (i + 1) + "/" + testSet.count);
                }
            }
            summary.setMissedDeadlines(pacer.missedDeadlines());
            if (pacer.missedDeadlines() > 0) {
                result.warn(name + ": " + pacer.missedDeadlines() + " frame slot(s) missed: frames took longer than "
                        + "the frame interval");
            }
            replayed++;
            return summary.toJson(trace.relativePath);
        }
    }
}
