package org.mmnet.harness;

import static org.robolectric.Shadows.shadowOf;

import android.app.Application;
import android.content.Intent;
import android.os.BatteryManager;
import android.os.Looper;
import android.os.PowerManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.mmnet.core.Bundle;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.Sha256;
import org.mmnet.core.measure.Clock;
import org.mmnet.core.measure.Delegate;
import org.robolectric.RuntimeEnvironment;
import org.robolectric.shadows.ShadowBatteryManager;

/**
 * A phone under Robolectric whose battery, thermal status and inference times the test scripts: the fuel gauge
 * through BatteryManager's properties and the sticky ACTION_BATTERY_CHANGED broadcast, the thermal status through
 * PowerManager, and an engine whose every inference takes a fixed virtual time at a higher battery current.
 */
final class ScriptedPhone {
    /** The digits bundle's documents, shared with the core's parity tests. */
    static final Path PARITY = Paths.get("..", "..", "core", "src", "test", "resources", "parity");
    /** The digits-sieve bundle's documents and its smallest packed SIEVE model. */
    static final Path PARITY_SIEVE = PARITY.resolveSibling("parity-sieve");
    static final long VOLTAGE_MV = 4000;

    final Application context = RuntimeEnvironment.getApplication();
    final ShadowBatteryManager battery = shadowOf(context.getSystemService(BatteryManager.class));
    final PowerManager power = context.getSystemService(PowerManager.class);

    /** Discharging at {@code idleMicroAmps} (Android's sign: negative), on battery, 4.000 V, 80%, 30.0 °C. */
    ScriptedPhone(long idleMicroAmps) {
        current(idleMicroAmps);
        battery.setLongProperty(BatteryManager.BATTERY_PROPERTY_CHARGE_COUNTER, 3_000_000);
        plug(0);
        thermal(PowerManager.THERMAL_STATUS_NONE);
    }

    void current(long microAmps) {
        battery.setLongProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW, microAmps);
    }

    /** A new ACTION_BATTERY_CHANGED (0: on battery, else a BATTERY_PLUGGED_* value), delivered at once. */
    @SuppressWarnings("deprecation")  // sticky broadcasts: deprecated for apps, but how the system sends this one
    void plug(int plugged) {
        Intent intent = new Intent(Intent.ACTION_BATTERY_CHANGED)
                .putExtra(BatteryManager.EXTRA_VOLTAGE, (int) VOLTAGE_MV)
                .putExtra(BatteryManager.EXTRA_PLUGGED, plugged)
                .putExtra(BatteryManager.EXTRA_STATUS, plugged == 0 ? BatteryManager.BATTERY_STATUS_DISCHARGING
                        : BatteryManager.BATTERY_STATUS_CHARGING)
                .putExtra(BatteryManager.EXTRA_LEVEL, 80)
                .putExtra(BatteryManager.EXTRA_SCALE, 100)
                .putExtra(BatteryManager.EXTRA_TEMPERATURE, 300);
        context.sendStickyBroadcast(intent);
        shadowOf(Looper.getMainLooper()).idle();
    }

    void thermal(int status) {
        shadowOf(power).setCurrentThermalStatus(status);
    }

    /** Mirrors the core's test fixture: the digits manifest and config, each shipped model a few bytes. */
    static Path bundle(Path dir) throws IOException {
        return bundle(PARITY, dir);
    }

    /**
     * The documents of {@code source} (a directory of the core's parity resources) as a bundle in {@code dir}. A
     * model whose file {@code source/models/} holds (parity-sieve's packed model) ships that file with its manifest
     * record as built; every other shipped model is a few bytes of a plain .tflite (a packed one loses its packing).
     */
    static Path bundle(Path source, Path dir) throws IOException {
        JsonObject manifest = json(source.resolve("manifest.json"));
        for (JsonElement e : manifest.getAsJsonArray("models")) {
            JsonObject m = e.getAsJsonObject();
            if (m.get("file").isJsonNull()) {
                continue;
            }
            Path kept = source.resolve(m.get("file").getAsString());
            if (Files.isRegularFile(kept)) {
                write(dir.resolve(m.get("file").getAsString()), Files.readAllBytes(kept));
                continue;
            }
            if (m.has("packing") && !m.get("packing").isJsonNull()) {
                m.add("packing", com.google.gson.JsonNull.INSTANCE);
                m.addProperty("file", "models/" + m.get("id").getAsString() + ".tflite");
            }
            byte[] data = ("fake model " + m.get("id").getAsString()).getBytes(StandardCharsets.UTF_8);
            write(dir.resolve(m.get("file").getAsString()), data);
            m.addProperty("sha256", Sha256.ofBytes(data));
            m.addProperty("bytes", data.length);
        }
        byte[] config = Files.readAllBytes(source.resolve("runtime_config.json"));
        write(dir.resolve("runtime_config.json"), config);
        JsonObject ref = manifest.getAsJsonObject("runtime_config");
        ref.addProperty("file", "runtime_config.json");
        ref.addProperty("sha256", Sha256.ofBytes(config));
        ref.addProperty("bytes", config.length);
        StringBuilder labels = new StringBuilder();
        for (JsonElement l : manifest.getAsJsonArray("labels")) {
            labels.append(l.getAsString()).append('\n');
        }
        write(dir.resolve("labels.txt"), labels.toString().getBytes(StandardCharsets.UTF_8));
        write(dir.resolve("manifest.json"), manifest.toString().getBytes(StandardCharsets.UTF_8));
        return dir;
    }

    /** A profile request.json (PROTOCOL.md) with {@code overrides} applied to its top-level fields. */
    static Path request(Path dir, String runId, Path bundle, JsonArray models, String... overrides) throws IOException {
        JsonObject r = JsonParser.parseString("{\"protocol_version\": 1, \"kind\": \"profile\", \"delegate\": \"cpu\","
                + " \"threads\": 2, \"warmup_runs\": 2, \"runs\": 10, \"duration_s\": null, \"frame_interval_ms\": null,"
                + " \"energy\": {\"sample_hz\": 100, \"idle_baseline_s\": 1},"
                + " \"thermal\": {\"max_status\": 1, \"cooldown_s\": 2, \"max_wait_s\": 30}, \"system\": null}")
                .getAsJsonObject();
        r.addProperty("run_id", runId);
        r.addProperty("bundle_dir", bundle.toString());
        r.add("models", models);
        for (int i = 0; i < overrides.length; i += 2) {
            r.add(overrides[i], JsonParser.parseString(overrides[i + 1]));
        }
        Path file = dir.resolve("request-" + runId + ".json");
        write(file, r.toString().getBytes(StandardCharsets.UTF_8));
        return file;
    }

    static JsonObject json(Path file) throws IOException {
        return JsonParser.parseString(new String(Files.readAllBytes(file), StandardCharsets.UTF_8)).getAsJsonObject();
    }

    private static void write(Path file, byte[] data) throws IOException {
        Files.createDirectories(file.getParent());
        Files.write(file, data);
    }

    /** A plain model's shipped file, or a packed model's flatbuffer as Bundle.tfliteFile names it in any directory. */
    private static boolean opens(Bundle bundle, ModelRecord record, Path file) {
        if (record.packing() == null) {
            return bundle.modelFile(record.id()).toPath().equals(file);
        }
        return file.getFileName().toString().equals(record.packing().tfliteSha256() + ".tflite");
    }

    /** Where HarnessRun writes status.json and result.json for {@code runId}. */
    Path runDir(String runId) {
        return context.getExternalFilesDir(null).toPath().resolve("runs").resolve(runId);
    }

    /** One model the engine opened: which, the file, and the sha256 of the file's bytes when it was opened. */
    static final class Opened {
        final String modelId;
        final Path file;
        final String sha256;

        Opened(String modelId, Path file, String sha256) {
            this.modelId = modelId;
            this.file = file;
            this.sha256 = sha256;
        }
    }

    /**
     * Every inference takes {@code invokeMs} of the clock's time and draws {@code activeMicroAmps} meanwhile;
     * {@code onInvoke} sees each inference's number (from 1, warm-up included) before it runs. Its outputs are zeros.
     * It opens a shipped model's file or, for a packed model, only the flatbuffer the app unpacked
     * ({@code <flatbuffer sha256>.tflite}); {@link #opened} records each open.
     */
    final class Engine implements ModelEngine {
        final Clock clock;
        final double invokeMs;
        final long activeMicroAmps;
        final long idleMicroAmps;
        final Bundle bundle;
        int invokes;
        java.util.function.IntConsumer onInvoke = n -> { };
        final List<Opened> opened = new ArrayList<>();

        Engine(Clock clock, Bundle bundle, double invokeMs, long idleMicroAmps, long activeMicroAmps) {
            this.clock = clock;
            this.bundle = bundle;
            this.invokeMs = invokeMs;
            this.idleMicroAmps = idleMicroAmps;
            this.activeMicroAmps = activeMicroAmps;
        }

        @Override
        public String runtimeVersion() {
            return "scripted-1";
        }

        @Override
        public Session open(Path modelFile, Delegate delegate, int threads) {
            ModelRecord record = bundle.manifest().models().stream().filter(m -> m.shipped() && opens(bundle, m, modelFile))
                    .findFirst().orElseThrow(() -> new AssertionError("no model file " + modelFile));
            try {
                opened.add(new Opened(record.id(), modelFile, Sha256.ofFile(modelFile.toFile())));
            } catch (IOException e) {
                throw new AssertionError("cannot read " + modelFile + ": " + e, e);
            }
            ByteBuffer input = ByteBuffer.allocateDirect(record.input().byteSize()).order(ByteOrder.nativeOrder());
            ByteBuffer output = ByteBuffer.allocateDirect(record.output().byteSize()).order(ByteOrder.nativeOrder());
            return new Session() {
                @Override
                public ByteBuffer output() {
                    return output;
                }

                @Override
                public void requireTensors(ModelRecord checked) {
                    // Its buffers are sized from the manifest record it was opened as: only the record can differ.
                    if (!checked.id().equals(record.id())) {
                        throw new AssertionError("opened " + modelFile + " as " + record.id() + ", checked as " + checked.id());
                    }
                }

                @Override
                public ByteBuffer input() {
                    return input;
                }

                @Override
                public void invoke() {
                    onInvoke.accept(++invokes);
                    current(activeMicroAmps);
                    try {
                        clock.sleepNanos(LockstepClock.ms(invokeMs));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException(e);
                    }
                    current(idleMicroAmps);
                }

                @Override
                public void close() {
                }
            };
        }
    }
}
