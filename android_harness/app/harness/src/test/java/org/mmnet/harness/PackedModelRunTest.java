package org.mmnet.harness;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.mmnet.core.Bundle;
import org.mmnet.core.Sha256;
import org.mmnet.core.measure.Cancellation;
import org.mmnet.core.measure.Clock;
import org.mmnet.core.packing.Packing;
import org.robolectric.RobolectricTestRunner;

/**
 * Runs on a bundle shipping a packed SIEVE model (the digits-sieve model of the core's parity-sieve resources): the
 * app must open the flatbuffer it unpacked into its unpack directory, never the packed file, and report both
 * checksums; a packed file that does not unpack to the flatbuffer its spec names fails the run naming the model.
 */
@RunWith(RobolectricTestRunner.class)
public class PackedModelRunTest {
    static final String PACKED = "lenet5-a1.00-r8-sieve-accurate-float32";
    static final String MASTER = "lenet5-a1.00-r8-int8";
    static final long IDLE_UA = -100_000;
    static final long ACTIVE_UA = -350_000;

    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    ScriptedPhone phone;
    Path bundleDir;
    Bundle bundle;
    Packing packing;
    File unpackDir;

    @Before
    public void setUp() throws IOException {
        ScriptedPowerMonitors.reset();
        phone = new ScriptedPhone(IDLE_UA);
        bundleDir = ScriptedPhone.bundle(ScriptedPhone.PARITY_SIEVE, tmp.newFolder("bundle").toPath());
        bundle = Bundle.load(bundleDir.toFile());
        packing = bundle.model(PACKED).packing();
        assertNotNull(PACKED + " ships packed", packing);
        assertFalse("a packed file has its own sha256", packing.tfliteSha256().equals(bundle.model(PACKED).sha256()));
        unpackDir = new File(tmp.getRoot(), "unpacked");
    }

    /** Runs the request with {@code engine} to its end; returns status.json. */
    JsonObject execute(String runId, Path request, ModelEngine engine, Clock clock) throws IOException {
        new HarnessRun(phone.context, runId, request.toString(), new Cancellation(), engine, clock, unpackDir).execute();
        return ScriptedPhone.json(phone.runDir(runId).resolve("status.json"));
    }

    File unpacked() {
        return new File(unpackDir, packing.tfliteSha256() + ".tflite");
    }

    @Test
    public void aProfileTimesTheUnpackedFlatbufferAndReportsBothChecksums() throws IOException {
        LockstepClock clock = new LockstepClock(1);
        ScriptedPhone.Engine engine = phone.new Engine(clock, bundle, 2, IDLE_UA, ACTIVE_UA);
        Path request = ScriptedPhone.request(tmp.getRoot().toPath(), "packed-profile", bundleDir,
                ProfileRunRobolectricTest.models(PACKED, MASTER));
        JsonObject status = execute("packed-profile", request, engine, clock);
        assertEquals(status.toString(), "done", status.get("state").getAsString());

        assertEquals(2, engine.opened.size());
        ScriptedPhone.Opened packed = engine.opened.get(0);
        assertEquals(PACKED, packed.modelId);
        assertEquals("the engine opened the unpacked flatbuffer", unpacked().toPath(), packed.file);
        assertEquals("the flatbuffer the packing spec names", packing.tfliteSha256(), packed.sha256);
        ScriptedPhone.Opened master = engine.opened.get(1);
        assertEquals("a plain model is opened where the bundle ships it", bundle.modelFile(MASTER).toPath(), master.file);

        JsonArray models = ScriptedPhone.json(phone.runDir("packed-profile").resolve("result.json"))
                .getAsJsonArray("models");
        JsonObject packedResult = models.get(0).getAsJsonObject();
        assertEquals(PACKED, packedResult.get("model_id").getAsString());
        assertEquals("sha256: the shipped (packed) file", bundle.model(PACKED).sha256(),
                packedResult.get("sha256").getAsString());
        assertEquals("tflite_sha256: what ran", packing.tfliteSha256(), packedResult.get("tflite_sha256").getAsString());
        JsonObject masterResult = models.get(1).getAsJsonObject();
        assertEquals(bundle.model(MASTER).sha256(), masterResult.get("sha256").getAsString());
        assertEquals(bundle.model(MASTER).sha256(), masterResult.get("tflite_sha256").getAsString());
    }

    @Test
    public void aSystemRunLoadsTheUnpackedFlatbuffer() throws IOException {
        ScriptedPhone.Engine engine = phone.new Engine(Clock.SYSTEM, bundle, 0, IDLE_UA, IDLE_UA);
        JsonObject status = execute("packed-system", systemRequest("packed-system"), engine, Clock.SYSTEM);
        assertEquals(status.toString(), "done", status.get("state").getAsString());

        List<ScriptedPhone.Opened> packed = engine.opened.stream().filter(o -> o.modelId.equals(PACKED))
                .collect(Collectors.toList());
        assertEquals("the runtime's runner opens every configured SIEVE model once", 1, packed.size());
        assertEquals(unpacked().toPath(), packed.get(0).file);
        assertEquals(packing.tfliteSha256(), packed.get(0).sha256);
        assertTrue("the master ran on the device: " + engine.invokes + " inferences", engine.invokes > 0);
        JsonObject system = ScriptedPhone.json(phone.runDir("packed-system").resolve("result.json"))
                .getAsJsonObject("system");
        assertEquals(3, system.getAsJsonObject("modes").getAsJsonObject("normal").get("frames").getAsInt());
        assertEquals(3, system.getAsJsonObject("mobile_only").get("frames").getAsInt());
    }

    @Test
    public void aPackedFileThatDoesNotUnpackToItsFlatbufferFailsTheRunNamingTheModel() throws IOException {
        // A byte of the flatbuffer's template changed and the manifest updated to match: the bundle loads, but the
        // unpacked flatbuffer is not the one the packing spec names.
        int changed = 8;
        assertTrue("byte " + changed + " lies in the template", changed < packing.templateBytes());
        for (Packing.Tensor t : packing.tensors()) {
            assertFalse(t.name() + " is packed at byte " + changed,
                    changed >= t.packedOffset() && changed < t.packedOffset() + t.packedBytes());
        }
        Path file = bundleDir.resolve(bundle.model(PACKED).file());
        byte[] data = Files.readAllBytes(file);
        data[changed] ^= 1;
        Files.write(file, data);
        JsonObject manifest = ScriptedPhone.json(bundleDir.resolve("manifest.json"));
        for (JsonElement e : manifest.getAsJsonArray("models")) {
            if (e.getAsJsonObject().get("id").getAsString().equals(PACKED)) {
                e.getAsJsonObject().addProperty("sha256", Sha256.ofBytes(data));
            }
        }
        Files.write(bundleDir.resolve("manifest.json"), manifest.toString().getBytes(StandardCharsets.UTF_8));

        for (String kind : new String[] {"profile", "system"}) {
            String runId = "corrupt-" + kind;
            ScriptedPhone.Engine engine = phone.new Engine(Clock.SYSTEM, bundle, 0, IDLE_UA, IDLE_UA);
            Path request = kind.equals("profile")
                    ? ScriptedPhone.request(tmp.getRoot().toPath(), runId, bundleDir, ProfileRunRobolectricTest.models(PACKED))
                    : systemRequest(runId);
            JsonObject status = execute(runId, request, engine, Clock.SYSTEM);
            assertEquals(status.toString(), "failed", status.get("state").getAsString());
            String message = status.get("message").getAsString();
            assertTrue(message, message.startsWith("models['" + PACKED + "'].file ("));
            assertTrue(message, message.contains("the unpacked model has ") && message.contains("(corrupt file or spec)"));
            assertTrue(kind + ": nothing of it was opened", engine.opened.stream().noneMatch(o -> o.modelId.equals(PACKED)));
            assertFalse(kind + ": no unpacked file is kept", unpacked().exists());
        }
    }

    @Test
    public void aPackedFileChangedAfterTheBuildFailsTheBundleCheckNamingTheModel() throws IOException {
        Path file = bundleDir.resolve(bundle.model(PACKED).file());
        byte[] data = Files.readAllBytes(file);
        data[data.length - 1] ^= 1;
        Files.write(file, data);
        ScriptedPhone.Engine engine = phone.new Engine(Clock.SYSTEM, bundle, 0, IDLE_UA, IDLE_UA);
        Path request = ScriptedPhone.request(tmp.getRoot().toPath(), "changed", bundleDir,
                ProfileRunRobolectricTest.models(PACKED));
        JsonObject status = execute("changed", request, engine, Clock.SYSTEM);
        assertEquals(status.toString(), "failed", status.get("state").getAsString());
        String message = status.get("message").getAsString();
        assertTrue(message, message.contains(PACKED) && message.contains("sha256"));
        assertTrue(engine.opened.isEmpty());
    }

    /** A system run over three frames of the bundle's frame shape in normal mode, no cloud master. */
    Path systemRequest(String runId) throws IOException {
        int[] shape = bundle.preprocessing().frameShape();
        int count = 3;
        Path testset = tmp.getRoot().toPath().resolve("testset-" + runId);
        Files.createDirectories(testset);
        byte[] frames = new byte[count * shape[0] * shape[1] * shape[2]];
        new java.util.Random(1).nextBytes(frames);
        Files.write(testset.resolve("frames.bin"), frames);
        ByteBuffer labels = ByteBuffer.allocate(4 * count).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            labels.putInt(i);
        }
        Files.write(testset.resolve("labels.bin"), labels.array());
        Files.write(testset.resolve("testset.json"), ("{\"count\": " + count + ", \"height\": " + shape[0]
                + ", \"width\": " + shape[1] + ", \"channels\": " + shape[2] + ", \"dtype\": \"uint8\"}")
                .getBytes(StandardCharsets.UTF_8));
        return ScriptedPhone.request(tmp.getRoot().toPath(), runId, bundleDir, new JsonArray(),
                "kind", "\"system\"",
                "system", "{\"testset_dir\": \"" + testset + "\", \"modes\": [\"normal\"], \"network\": \"lte\","
                        + " \"master_url\": null, \"frame_interval_ms\": null}");
    }
}
