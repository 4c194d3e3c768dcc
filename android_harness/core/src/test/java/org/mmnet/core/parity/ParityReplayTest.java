package org.mmnet.core.parity;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import org.mmnet.core.Bundle;
import org.mmnet.core.BundleException;
import org.mmnet.core.ConfigException;
import org.mmnet.core.DataException;
import org.mmnet.core.Fixtures;
import org.mmnet.core.JsonNode;
import org.mmnet.core.Manifest;
import org.mmnet.core.Mode;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.RuntimeConfig;
import org.mmnet.core.Sha256;
import org.mmnet.core.TensorSpec;
import org.mmnet.core.runtime.Clock;
import org.mmnet.core.runtime.Frame;
import org.mmnet.core.runtime.FrameResult;
import org.mmnet.core.runtime.MasterClient;
import org.mmnet.core.runtime.MasterException;
import org.mmnet.core.runtime.MasterReply;
import org.mmnet.core.runtime.MmnetRuntime;
import org.mmnet.core.runtime.ModelInput;
import org.mmnet.core.runtime.ModelOutput;
import org.mmnet.core.runtime.ModelRunner;
import org.mmnet.core.runtime.PlacementChoice;
import org.mmnet.core.runtime.Preprocessor;
import org.mmnet.core.runtime.RuntimeOptions;
import org.mmnet.core.runtime.RuntimeStats;
import org.mmnet.core.select.Reason;
import org.mmnet.core.select.SelectorState;

/**
 * Replays every golden trace of {@code src/test/resources/parity} (the digits bundle: M&MNet minion pairs) and
 * {@code src/test/resources/parity-sieve} (the digits-sieve bundle: one SIEVE model speculating), written by the
 * Python runtime with real LiteRT interpreters (see README.md), through {@link MmnetRuntime} and requires the same
 * decisions: path, system, label, recovery, placement, reason codes, estimates, detector verdicts,
 * selector state after every cloud call, errors and counters. Every prepared model input must hash
 * to the recorded digest, so preprocessing is proven bit-identical too. Numbers are compared exactly,
 * except calibrated confidences (pow/log/exp may differ from C's in the last bits: 1e-12 relative).
 */
@RunWith(Parameterized.class)
public class ParityReplayTest {
    /** The resource directories of golden traces, one per bundle. */
    public static final List<String> DIRS = List.of("parity", "parity-sieve");
    private static final double CONFIDENCE_TOLERANCE = 1e-12;
    private static final Map<String, Resources> SHARED = new HashMap<>();

    @Parameterized.Parameters(name = "{0}/{1}")
    public static Collection<Object[]> traces() {
        List<Object[]> out = new ArrayList<>();
        for (String dir : DIRS) {
            JsonNode index = JsonNode.parse(Fixtures.resource(dir + "/index.json"), dir + "/index.json");
            int before = out.size();
            for (JsonNode name : index.get("traces").items()) {
                out.add(new Object[] {dir, name.string()});
            }
            if (out.size() == before) {
                throw new AssertionError(dir + "/index.json lists no traces");
            }
        }
        return out;
    }

    private final String dir;
    private final String name;

    public ParityReplayTest(String dir, String name) {
        this.dir = dir;
        this.name = name;
    }

    /** A directory's documents and recording, read once for all its traces. */
    static final class Resources {
        final String dir;
        final Manifest manifest;
        final JsonObject configDoc;
        final Recording recording;

        private Resources(String dir) {
            this.dir = dir;
            manifest = Manifest.parse(resource("manifest.json"), dir + "/manifest.json");
            configDoc = JsonNode.parse(resource("runtime_config.json"), dir + "/runtime_config.json").element().getAsJsonObject();
            recording = new Recording(JsonNode.parse(resource("recording.json"), dir + "/recording.json"), manifest, dir);
        }

        String resource(String path) {
            return Fixtures.resource(dir + "/" + path);
        }
    }

    static synchronized Resources resources(String dir) {
        return SHARED.computeIfAbsent(dir, Resources::new);
    }

    /** The frames, raw outputs and input digests the Python run recorded. */
    static final class Recording {
        final Manifest manifest;
        final String dir;
        final int[] shape;
        final Map<Integer, byte[]> frames = new HashMap<>();
        final Map<String, Map<Integer, byte[]>> outputs = new HashMap<>();
        final Map<String, Map<Integer, String>> digests = new HashMap<>();

        Recording(JsonNode doc, Manifest manifest, String dir) {
            this.manifest = manifest;
            this.dir = dir;
            JsonArray s = doc.get("frame_shape").element().getAsJsonArray();
            shape = new int[] {s.get(0).getAsInt(), s.get(1).getAsInt(), s.get(2).getAsInt()};
            Base64.Decoder b64 = Base64.getDecoder();
            for (Map.Entry<String, JsonNode> e : doc.get("frames").entries().entrySet()) {
                frames.put(Integer.parseInt(e.getKey()), b64.decode(e.getValue().string()));
            }
            for (Map.Entry<String, JsonNode> m : doc.get("models").entries().entrySet()) {
                ModelRecord record = manifest.model(m.getKey());
                String dtype = m.getValue().get("output_dtype").string();
                assertEquals("recorded output dtype of " + m.getKey(), record.output().dtype().json(), dtype);
                Map<Integer, byte[]> out = new HashMap<>();
                for (Map.Entry<String, JsonNode> o : m.getValue().get("outputs").entries().entrySet()) {
                    out.put(Integer.parseInt(o.getKey()), b64.decode(o.getValue().string()));
                }
                outputs.put(m.getKey(), out);
                Map<Integer, String> d = new HashMap<>();
                for (Map.Entry<String, JsonNode> o : m.getValue().get("input_sha256_16").entries().entrySet()) {
                    d.put(Integer.parseInt(o.getKey()), o.getValue().string());
                }
                digests.put(m.getKey(), d);
            }
        }

        Frame frame(int index) {
            byte[] pixels = frames.get(index);
            if (pixels == null) {
                throw new AssertionError("test frame " + index + " is not in " + dir + "/recording.json");
            }
            return Frame.of(pixels, shape[0], shape[1], shape[2]);
        }

        ModelOutput output(String model, int frame, String where) {
            Map<Integer, byte[]> byFrame = outputs.get(model);
            byte[] raw = byFrame == null ? null : byFrame.get(frame);
            if (raw == null) {
                throw new AssertionError(where + ": Java ran model " + model + " on test frame " + frame + ", which Python did not");
            }
            if (manifest.model(model).output().dtype() != TensorSpec.DType.FLOAT32) {
                return ModelOutput.ofBytes(raw);
            }
            return ModelOutput.read(manifest.model(model).output(), ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN));
        }
    }

    /** A clock that only moves while a scripted cloud fault is waited for (as the Python generator's). */
    static final class FakeClock implements Clock {
        double now = 0.0;

        @Override
        public double seconds() {
            return now;
        }

        void advance(double ms) {
            now += ms / 1000.0;
        }
    }

    /** What the trace says about the frame being classified. */
    static final class Cursor {
        int position = -1;
        int frame = -1;
        JsonObject cloud;
        boolean cloudCalled;
        String where = "";
    }

    static String digest(ModelInput input) {
        byte[] bytes;
        if (input.isFloat()) {
            float[] values = input.floats();
            ByteBuffer buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : values) {
                buffer.putFloat(v);
            }
            bytes = buffer.array();
        } else {
            bytes = input.bytes();
        }
        return Sha256.ofBytes(bytes).substring(0, 16);
    }

    private static JsonObject patched(JsonObject configDoc, JsonArray patches) {
        JsonObject doc = configDoc.deepCopy();
        for (JsonElement p : patches) {
            JsonArray path = p.getAsJsonObject().getAsJsonArray("path");
            JsonObject node = doc;
            for (int i = 0; i < path.size() - 1; i++) {
                node = node.getAsJsonObject(path.get(i).getAsString());
            }
            String last = path.get(path.size() - 1).getAsString();
            assertTrue("config patch " + path + " names a key the runtime config lacks", node.has(last));
            node.add(last, p.getAsJsonObject().get("value").deepCopy());
        }
        return doc;
    }

    @Test
    public void javaCoreMakesThePythonDecisions() {
        Resources shared = resources(dir);
        Manifest manifest = shared.manifest;
        Recording recording = shared.recording;
        JsonObject trace = JsonNode.parse(shared.resource("traces/" + name + ".json"), dir + "/traces/" + name + ".json")
                .element().getAsJsonObject();
        RuntimeConfig config = RuntimeConfig.fromJson(JsonNode.of(patched(shared.configDoc, trace.getAsJsonArray("config_patches")),
                dir + "/runtime_config.json patched for " + name), manifest.numClasses(), manifest.shippedModels());
        Bundle bundle = Bundle.fromDocuments(null, manifest, config);
        JsonObject options = trace.getAsJsonObject("options");
        RuntimeOptions.Builder builder = RuntimeOptions.builder()
                .mode(Mode.parse(options.get("mode").getAsString()))
                .placement(PlacementChoice.parse(options.get("placement").getAsString()))
                .deviceMaster(options.get("device_master").getAsBoolean());
        if (!options.get("network").isJsonNull()) {
            builder.network(options.get("network").getAsString());
        }
        FakeClock clock = new FakeClock();
        Cursor cursor = new Cursor();
        ModelRunner runner = (model, input) -> {
            String expected = recording.digests.containsKey(model) ? recording.digests.get(model).get(cursor.frame) : null;
            if (expected == null) {
                throw new AssertionError(cursor.where + ": Java ran model " + model + ", which Python did not");
            }
            assertEquals(cursor.where + ": digest of the prepared input of " + model, expected, digest(input));
            return recording.output(model, cursor.frame, cursor.where);
        };
        MasterClient cloud = null;
        if (options.get("master_client").getAsBoolean()) {
            String master = config.masterModel();
            cloud = frame -> {
                if (cursor.cloud == null) {
                    throw new AssertionError(cursor.where + ": Java called the cloud master, Python did not");
                }
                cursor.cloudCalled = true;
                if (cursor.cloud.has("fault")) {
                    clock.advance(cursor.cloud.get("waited_ms").getAsDouble());
                    throw new MasterException("scripted " + cursor.cloud.get("fault").getAsString(),
                            MasterException.Kind.parse(cursor.cloud.get("fault").getAsString()), null, 1);
                }
                float[] scores = Preprocessor.dequantize(recording.output(master, cursor.frame, cursor.where), manifest.model(master));
                return new MasterReply(scores, cursor.cloud.get("request_ms").getAsDouble(), 1);
            };
        }
        MmnetRuntime runtime = new MmnetRuntime(bundle, builder.build(), runner, cloud, clock);

        List<String> columns = new ArrayList<>();
        for (JsonElement c : trace.getAsJsonArray("columns")) {
            columns.add(c.getAsString());
        }
        JsonArray systems = trace.getAsJsonArray("systems");
        JsonArray frames = trace.getAsJsonArray("frames");
        SelectorState before = runtime.selectorState();
        for (int position = 0; position < frames.size(); position++) {
            Map<String, JsonElement> row = new LinkedHashMap<>();
            JsonArray values = frames.get(position).getAsJsonArray();
            for (int i = 0; i < columns.size(); i++) {
                row.put(columns.get(i), values.get(i));
            }
            int frameIndex = row.get("frame").getAsInt();
            double t = row.get("t").getAsDouble();
            cursor.position = position;
            cursor.frame = frameIndex;
            cursor.cloud = row.get("cloud").isJsonNull() ? null : row.get("cloud").getAsJsonObject();
            cursor.cloudCalled = false;
            cursor.where = dir + "/" + name + " frame position " + position + " (test frame " + frameIndex + ", t " + t + " s)";
            JsonElement error = row.get("error");
            FrameResult result = null;
            try {
                result = runtime.classify(recording.frame(frameIndex), t);
            } catch (ConfigException | BundleException | DataException e) {
                if (error.isJsonNull()) {
                    throw new AssertionError(cursor.where + ": Java raised " + e + ", Python answered", e);
                }
                JsonArray expected = error.getAsJsonArray();
                assertEquals(cursor.where + ": error type", expected.get(0).getAsString(), pythonName(e));
                assertEquals(cursor.where + ": error message", expected.get(1).getAsString(), e.getMessage());
            }
            if (result != null) {
                if (!error.isJsonNull()) {
                    fail(cursor.where + ": Python raised " + error + ", Java answered " + result.toJson());
                }
                check(cursor.where, row, result, systems);
            }
            assertEquals(cursor.where + ": whether the cloud master was called", cursor.cloud != null, cursor.cloudCalled);
            SelectorState after = runtime.selectorState();
            JsonElement expectedAfter = row.get("after");
            if (expectedAfter.isJsonNull()) {
                assertEquals(cursor.where + ": smoothed RTT unchanged", before.link().rttMs(), after.link().rttMs(), 0.0);
                assertEquals(cursor.where + ": overload unchanged", before.serverOverloaded(), after.serverOverloaded());
                assertEquals(cursor.where + ": next probe unchanged", before.nextProbeS(), after.nextProbeS());
            } else {
                checkState(cursor.where + ": state after the cloud call", expectedAfter.getAsJsonArray(), after);
            }
            before = after;
        }
        checkStats(name, trace.getAsJsonObject("stats"), runtime.stats());
        checkState(name + ": final state", trace.getAsJsonArray("final_state"), runtime.selectorState());
    }

    private static String pythonName(RuntimeException e) {
        if (e instanceof ConfigException) {
            return "ConfigError";
        }
        return e instanceof BundleException ? "BundleError" : "DataError";
    }

    private static void checkState(String where, JsonArray expected, SelectorState state) {
        assertEquals(where + ": smoothed RTT", expected.get(0).getAsDouble(), state.link().rttMs(), 0.0);
        assertEquals(where + ": server overloaded", expected.get(1).getAsBoolean(), state.serverOverloaded());
        Double next = expected.get(2).isJsonNull() ? null : expected.get(2).getAsDouble();
        assertEquals(where + ": next probe time", next, state.nextProbeS());
    }

    private static Integer nullableInt(JsonElement e) {
        return e.isJsonNull() ? null : e.getAsInt();
    }

    private static String nullableString(JsonElement e) {
        return e.isJsonNull() ? null : e.getAsString();
    }

    private static void close(String what, double expected, double actual) {
        double tolerance = CONFIDENCE_TOLERANCE * Math.max(1.0, Math.abs(expected));
        if (!(Math.abs(expected - actual) <= tolerance)) {
            fail(what + ": Python " + expected + ", Java " + actual);
        }
    }

    /** The same double, bit for bit (JSON carries Python's repr, which parses back to its exact double). */
    private static void exact(String what, double expected, double actual) {
        if (Double.doubleToLongBits(expected) != Double.doubleToLongBits(actual)) {
            fail(what + ": Python " + expected + " (" + Double.toHexString(expected) + "), Java " + actual + " ("
                    + Double.toHexString(actual) + ")");
        }
    }

    private static void check(String where, Map<String, JsonElement> row, FrameResult r, JsonArray systems) {
        String system = systems.get(row.get("system").getAsInt()).getAsString();
        assertEquals(where + ": path", row.get("path").getAsString(), r.path().json());
        assertEquals(where + ": system", system, r.system());
        assertEquals(where + ": label", row.get("label").getAsInt(), r.label());
        close(where + ": confidence", row.get("confidence").getAsDouble(), r.confidence());
        assertEquals(where + ": recovered", row.get("recovered").getAsBoolean(), r.recovered());
        assertEquals(where + ": verified", row.get("verified").getAsBoolean(), r.verified());
        assertEquals(where + ": minion answer", nullableInt(row.get("minion")), r.minionAnswer());
        assertEquals(where + ": master answer", nullableInt(row.get("master")), r.masterAnswer());
        assertEquals(where + ": master placement", nullableString(row.get("master_placement")),
                r.masterPlacement() == null ? null : r.masterPlacement().json());
        List<String> fallbacks = new ArrayList<>();
        for (JsonElement f : row.get("fallbacks").getAsJsonArray()) {
            fallbacks.add(f.getAsString());
        }
        assertEquals(where + ": fallbacks", fallbacks, r.fallbacks());
        assertEquals(where + ": energy (mJ)", row.get("energy_mj").getAsDouble(), r.energyMj(), 0.0);
        assertEquals(where + ": decision path", row.get("decision_path").getAsString(), r.decision().path().json());
        assertEquals(where + ": decision placement", row.get("decision_placement").getAsString(), r.decision().placement().json());
        assertEquals(where + ": probe", row.get("probe").getAsBoolean(), r.decision().probe());
        assertEquals(where + ": thresholds mode", nullableString(row.get("thresholds_mode")), r.decision().thresholdsMode());
        List<String> reasons = new ArrayList<>();
        for (JsonElement c : row.get("reasons").getAsJsonArray()) {
            reasons.add(c.getAsString());
        }
        List<String> codes = new ArrayList<>();
        for (Reason reason : r.decision().reasons()) {
            codes.add(reason.code().json());
        }
        assertEquals(where + ": reason codes " + r.decision().reasons(), reasons, codes);
        assertEquals(where + ": master_ms", row.get("master_ms").getAsDouble(), r.decision().estimates().masterMs, 0.0);
        assertEquals(where + ": rtt_ms", row.get("rtt_ms").getAsDouble(), r.decision().estimates().rttMs, 0.0);
        Double dt = row.get("dt_ms").isJsonNull() ? null : row.get("dt_ms").getAsDouble();
        assertEquals(where + ": dt_ms", dt, r.decision().estimates().dtMs);
        List<Double> expected = new ArrayList<>();
        for (JsonElement v : row.get("expected_ms").getAsJsonArray()) {
            expected.add(v.getAsDouble());
        }
        assertEquals(where + ": expected_ms per candidate", expected, new ArrayList<>(r.decision().estimates().expectedMs.values()));
        JsonElement detector = row.get("detector");
        if (detector.isJsonNull()) {
            assertEquals(where + ": detector ran", null, r.detector());
        } else if (detector.isJsonObject()) {  // the learned detector: Python's dict
            JsonObject d = detector.getAsJsonObject();
            assertTrue(where + ": the detector did not run in Java", r.detector() != null);
            JsonObject actual = r.toJson().getAsJsonObject("decision").getAsJsonObject("detector");
            assertEquals(where + ": detector keys", new ArrayList<>(d.keySet()), new ArrayList<>(actual.keySet()));
            assertEquals(where + ": detector kind", d.get("kind").getAsString(), r.detector().kind());
            assertEquals(where + ": minions agree", d.get("agree").getAsBoolean(), r.detector().agree());
            // No temperature and no power function: the confidence and the score are Python's bits (LogisticParityTest).
            exact(where + ": detector confidence", d.get("confidence").getAsDouble(), r.detector().confidence());
            exact(where + ": score threshold", d.get("threshold").getAsDouble(), r.detector().threshold());
            if (d.get("score").isJsonNull()) {
                assertEquals(where + ": score (features undefined)", null, r.detector().score());
            } else {
                assertTrue(where + ": no score in Java", r.detector().score() != null);
                exact(where + ": detector score", d.get("score").getAsDouble(), r.detector().score());
            }
            assertEquals(where + ": verdict", d.get("verdict").getAsString(), r.detector().verdictName());
        } else {
            JsonArray d = detector.getAsJsonArray();
            assertTrue(where + ": the detector did not run in Java", r.detector() != null);
            assertEquals(where + ": detector kind", "per_class_confidence", r.detector().kind());
            JsonObject actual = r.toJson().getAsJsonObject("decision").getAsJsonObject("detector");
            assertTrue(where + ": the paper's dict has no kind or score", !actual.has("kind") && !actual.has("score"));
            assertEquals(where + ": minions agree", d.get(0).getAsBoolean(), r.detector().agree());
            close(where + ": detector confidence", d.get(1).getAsDouble(), r.detector().confidence());
            assertEquals(where + ": class threshold", d.get(2).getAsDouble(), r.detector().threshold(), 0.0);
            Double disagreement = d.get(3).isJsonNull() ? null : d.get(3).getAsDouble();
            assertEquals(where + ": disagreement threshold", disagreement, r.detector().disagreementThreshold());
            assertEquals(where + ": verdict", d.get(4).getAsString(), r.detector().verdictName());
        }
    }

    private static void checkStats(String where, JsonObject expected, RuntimeStats stats) {
        JsonObject actual = stats.toJson();
        for (String key : new String[] {"frames", "path_counts", "recovered", "unverified", "fallbacks", "fallbacks_total"}) {
            assertTrue(where + ": Python stats lack " + key, expected.has(key));
            assertEquals(where + ": counter " + key, expected.get(key), actual.get(key));
        }
        assertEquals(where + ": counters", new java.util.TreeSet<>(expected.keySet()), new java.util.TreeSet<>(actual.keySet()));
    }
}
