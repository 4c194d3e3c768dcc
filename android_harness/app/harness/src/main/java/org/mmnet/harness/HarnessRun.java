package org.mmnet.harness;

import android.content.Context;
import android.os.Build;
import android.util.Log;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.mmnet.core.Bundle;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.runtime.Frame;
import org.mmnet.core.runtime.ModelInput;
import org.mmnet.core.runtime.Preprocessor;
import org.mmnet.core.measure.Cancellation;
import org.mmnet.core.measure.Clock;
import org.mmnet.core.measure.Delegate;
import org.mmnet.core.measure.EngineException;
import org.mmnet.core.measure.PowerRailSource;
import org.mmnet.core.measure.ProfileRunner;
import org.mmnet.core.measure.ProfileTarget;
import org.mmnet.core.measure.ProgressListener;
import org.mmnet.core.measure.RunCancelledException;
import org.mmnet.core.measure.RunRequest;
import org.mmnet.core.measure.RunResult;
import org.mmnet.core.measure.StatusWriter;
import org.mmnet.core.measure.ThermalSource;

/**
 * One run from request.json to result.json, in the run directory the host pulls
 * ({@code getExternalFilesDir(null)/runs/<run_id>/}). Every way it can end is written to
 * status.json: done, failed (with the reason) or cancelled.
 */
final class HarnessRun {
    /** Where packed SIEVE models are unpacked, under the app's cache directory, as {@code <sha256>.tflite}. */
    static final String UNPACKED = "unpacked";

    private final Context context;
    private final String runId;
    private final String requestPath;
    private final Cancellation cancellation;
    private final Path runDir;
    private final StatusWriter status;
    private final ModelEngine engine;
    private final Clock clock;
    private final File unpackDir;

    /** {@code runId} is valid (RunRequest.isValidRunId); {@code requestPath} may be null (reported as a failure). */
    HarnessRun(Context context, String runId, String requestPath, Cancellation cancellation) {
        // The cache directory: Android may clear it, and Bundle.tfliteFile unpacks again when a file is missing.
        this(context, runId, requestPath, cancellation, new LiteRtEngine(), Clock.SYSTEM,
                new File(context.getCacheDir(), UNPACKED));
    }

    /**
     * With the engine, the profile run's clock and the directory packed models are unpacked into given (LiteRT, the
     * system clock and the app's cache directory on a phone).
     */
    HarnessRun(Context context, String runId, String requestPath, Cancellation cancellation, ModelEngine engine,
               Clock clock, File unpackDir) {
        this.engine = engine;
        this.clock = clock;
        this.unpackDir = unpackDir;
        this.context = context;
        this.runId = runId;
        this.requestPath = requestPath;
        this.cancellation = cancellation;
        File files = context.getExternalFilesDir(null);
        if (files == null) {
            throw new IllegalStateException("the app's external files directory is unavailable (storage not mounted?); "
                    + "nowhere to write status.json");
        }
        this.runDir = files.toPath().resolve("runs").resolve(runId);
        this.status = new StatusWriter(runDir, runId, clock);
    }

    void queued() {
        write(StatusWriter.State.QUEUED, 0.0, "queued");
    }

    void execute() {
        try {
            if (requestPath == null) {
                throw new IllegalArgumentException("the intent has no request extra; expected --es request "
                        + "<path of request.json> (PROTOCOL.md)");
            }
            write(StatusWriter.State.RUNNING, 0.0, "reading " + requestPath);
            RunRequest request = RunRequest.read(Paths.get(requestPath));
            request.requireRunId(runId);
            cancellation.check();
            write(StatusWriter.State.RUNNING, 0.0, "loading and checking bundle " + request.bundleDir);
            Bundle bundle = Bundle.load(new File(request.bundleDir));  // sizes and sha256 of every shipped file
            cancellation.check();
            measure(request, bundle);
        } catch (RunCancelledException e) {
            write(StatusWriter.State.CANCELLED, null, e.getMessage());
        } catch (InterruptedException e) {
            write(StatusWriter.State.CANCELLED, null, "interrupted: the harness service was stopped");
        } catch (RuntimeException | IOException | LinkageError e) {
            // LinkageError: LiteRT's native library missing for this ABI, or an API this phone lacks.
            Log.e(HarnessActivity.TAG, "run " + runId + " failed", e);
            write(StatusWriter.State.FAILED, null, describe(e));
        }
    }

    private void measure(RunRequest request, Bundle bundle) throws IOException, InterruptedException {
        ProgressListener progress = (fraction, message) -> write(StatusWriter.State.RUNNING, fraction, message);
        PowerRailSource rails = Build.VERSION.SDK_INT >= 35 ? new AndroidPowerRailSource(context) : null;
        AndroidThermalSource androidThermal = Build.VERSION.SDK_INT >= 29 ? new AndroidThermalSource(context) : null;
        ThermalSource thermal = androidThermal != null ? androidThermal : () -> ThermalSource.UNAVAILABLE;
        try (AndroidBatterySource battery = new AndroidBatterySource(context)) {
            RunResult result = new RunResult(request, Devices.device(), Devices.app(context, engine.runtimeVersion()),
                    battery.status());
            String done;
            if (request.kind == RunRequest.Kind.PROFILE) {
                new ProfileRunner(request, engine, battery, rails, thermal, clock, cancellation, progress)
                        .run(targets(request, bundle, unpackDir, result), result);
                done = result.models().size() + " model(s) profiled";
            } else {
                new SystemRun(request, bundle, engine, unpackDir, thermal, cancellation, progress, runDir, result)
                        .run();
                done = "system run over " + request.system.modes.size() + " mode(s) and the baselines";
            }
            result.write(runDir);
            write(StatusWriter.State.DONE, 1.0, "done: " + done + ", " + result.warnings().size() + " warning(s)");
        } finally {
            if (androidThermal != null) {
                androidThermal.close();
            }
        }
    }

    /**
     * The request's models ([] = every blessed one), each with a fixed frame prepared as the runtime does. A packed
     * SIEVE model is unpacked into {@code unpackDir} first: the engine opens and times that flatbuffer, so its target
     * carries the flatbuffer's sha256 (the packing spec's, checked on unpacking) beside the shipped file's.
     */
    static List<ProfileTarget> targets(RunRequest request, Bundle bundle, File unpackDir, RunResult result) {
        List<ModelRecord> records = new ArrayList<>();
        if (request.models.isEmpty()) {
            records.addAll(bundle.blessedModels(null));
        } else {
            for (String id : request.models) {
                records.add(bundle.model(id));
            }
        }
        int[] shape = bundle.preprocessing().frameShape();
        // Latency does not depend on pixel values; a fixed seed keeps runs comparable (as pipeline/latency.py).
        byte[] pixels = new byte[shape[0] * shape[1] * shape[2]];
        new Random(0).nextBytes(pixels);
        Frame frame = Frame.of(pixels, shape[0], shape[1], shape[2]);
        List<ProfileTarget> targets = new ArrayList<>();
        for (ModelRecord record : records) {
            Delegate delegate = request.delegate;
            if (delegate == Delegate.XNNPACK && !record.useXnnpack()) {
                delegate = Delegate.CPU;
                result.warn(record.id() + ": the manifest says XNNPACK cannot run this model; measured on cpu");
            }
            File tflite = bundle.tfliteFile(record.id(), unpackDir);
            String tfliteSha256 = record.packing() == null ? record.sha256() : record.packing().tfliteSha256();
            targets.add(new ProfileTarget(record.id(), record.sha256(), tfliteSha256, tflite.toPath(), delegate,
                    buffer -> writeInput(Preprocessor.prepare(frame, bundle.preprocessing(), record), buffer)));
        }
        return targets;
    }

    /** Writes a prepared input into the interpreter's input buffer, which must be exactly its size. */
    static void writeInput(ModelInput input, ByteBuffer buffer) {
        int expected = input.spec().byteSize();
        if (buffer.remaining() != expected) {
            throw new EngineException("model " + input.modelId() + ": the interpreter's input tensor holds "
                    + buffer.remaining() + " bytes but the manifest's input " + input.spec() + " is " + expected
                    + " bytes; the bundle's manifest does not describe this .tflite file");
        }
        input.writeTo(buffer);
    }

    /** One line for status.json: our own errors carry their message; anything else also its type. */
    private static String describe(Throwable e) {
        String message = e.getMessage();
        if (e instanceof IllegalArgumentException || e instanceof EngineException) {
            return message;
        }
        return e.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }

    private void write(StatusWriter.State state, Double progress, String message) {
        try {
            status.write(state, progress, message);
        } catch (RuntimeException e) {
            // The host will time out on a status it cannot see; logcat says why.
            Log.e(HarnessActivity.TAG, "run " + runId + ": cannot write status " + state + ": " + message, e);
        }
    }
}
