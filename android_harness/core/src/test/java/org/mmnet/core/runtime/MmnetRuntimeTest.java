package org.mmnet.core.runtime;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import java.util.Arrays;
import java.util.TreeSet;
import org.junit.Test;
import org.mmnet.core.Bundle;
import org.mmnet.core.BundleException;
import org.mmnet.core.ConfigException;
import org.mmnet.core.DataException;
import org.mmnet.core.Fixtures;
import org.mmnet.core.Mode;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.Placement;
import org.mmnet.core.TensorSpec;
import org.mmnet.core.select.FramePath;
import org.mmnet.core.select.ReasonCode;

public class MmnetRuntimeTest {
    private static final Frame FRAME = Frame.of(new byte[64], 8, 8, 1);
    private static final Clock FROZEN = () -> 0.0;

    /** Every model answers class 3 with high confidence, in its own output dtype. */
    public static ModelRunner confident(Bundle bundle) {
        return (model, input) -> {
            ModelRecord m = bundle.model(model);
            if (m.output().dtype() == TensorSpec.DType.FLOAT32) {
                float[] p = new float[10];
                Arrays.fill(p, 0.01f);
                p[3] = 0.91f;
                return ModelOutput.ofFloats(p);
            }
            byte[] q = new byte[10];
            Arrays.fill(q, (byte) -128);
            q[3] = 127;
            return ModelOutput.ofBytes(q);
        };
    }

    private static Bundle digits() {
        return Fixtures.bundle(Fixtures.configJson());
    }

    private static Bundle slowMaster() {
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("latency").getAsJsonObject(Fixtures.masterId()).addProperty("total_ms", 80.0);
        return Fixtures.bundle(doc);
    }

    @Test
    public void optionsAreCheckedLikeThePythonRuntime() {
        Bundle b = digits();
        MasterClient cloud = frame -> {
            throw new AssertionError("not called");
        };
        ConfigException e = assertThrows(ConfigException.class, () -> new MmnetRuntime(b,
                RuntimeOptions.builder().placement(PlacementChoice.CLOUD).build(), confident(b), null, FROZEN));
        assertTrue(e.getMessage(), e.getMessage().contains("placement 'cloud' needs a master client"));
        e = assertThrows(ConfigException.class, () -> new MmnetRuntime(b,
                RuntimeOptions.builder().mode(Mode.PRIVATE).placement(PlacementChoice.CLOUD).build(), confident(b), cloud, FROZEN));
        assertTrue(e.getMessage(), e.getMessage().contains("never leaves the device"));
        e = assertThrows(ConfigException.class, () -> new MmnetRuntime(b,
                RuntimeOptions.builder().deviceMaster(false).build(), confident(b), null, FROZEN));
        assertTrue(e.getMessage(), e.getMessage().contains("without a device master"));
        e = assertThrows(ConfigException.class, () -> new MmnetRuntime(b,
                RuntimeOptions.builder().network("5g").build(), confident(b), null, FROZEN));
        assertEquals("network profile is '5g'; expected one of [3g, lte, wifi]", e.getMessage());
        Bundle none = Bundle.fromDocuments(null, Fixtures.manifest(), null);
        assertThrows(BundleException.class, () -> new MmnetRuntime(none, RuntimeOptions.builder().build(), confident(none), null, FROZEN));
    }

    @Test
    public void modelsNeededAreTheConfiguredMinionsAndTheDeviceMaster() {
        Bundle b = digits();
        MmnetRuntime rt = new MmnetRuntime(b, RuntimeOptions.builder().build(), confident(b), null, FROZEN);
        TreeSet<String> expected = new TreeSet<>();
        b.runtimeConfig().systems().values().forEach(s -> expected.addAll(s.minions));
        expected.add(Fixtures.masterId());
        assertEquals(new java.util.ArrayList<>(expected), rt.modelsNeeded());
        MasterClient cloud = frame -> new MasterReply(new float[10], 30.0, 1);
        MmnetRuntime cloudOnly = new MmnetRuntime(b, RuntimeOptions.builder().deviceMaster(false).build(), confident(b), cloud, FROZEN);
        assertFalse(cloudOnly.modelsNeeded().contains(Fixtures.masterId()));
    }

    @Test
    public void aFrameWithOtherChannelsIsADataError() {
        Bundle b = digits();
        MmnetRuntime rt = new MmnetRuntime(b, RuntimeOptions.builder().build(), confident(b), null, FROZEN);
        DataException e = assertThrows(DataException.class, () -> rt.classify(Frame.of(new byte[192], 8, 8, 3), 0.0));
        assertEquals("frame has shape [8, 8, 3]; expected 1 channels (any H x W x 1, conformed to [8, 8, 1] as the bundle's "
                + "manifest says)", e.getMessage());
    }

    @Test
    public void aFrameOfAnotherSizeIsConformedWithTheManifestsPolicyForTheModelsAndTheCloud() {
        JsonObject manifest = Fixtures.manifestJson();
        manifest.getAsJsonObject("preprocessing").addProperty("resize_policy", "center_crop");
        Bundle b = Bundle.fromDocuments(null, org.mmnet.core.Manifest.parse(manifest.toString(), "manifest.json"),
                Fixtures.config(Fixtures.configJson()));
        byte[] pixels = new byte[8 * 12];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) (i * 37 % 251);
        }
        Frame wide = Frame.of(pixels, 8, 12, 1);
        Frame expected = Preprocessor.conform(wide, 8, 8, org.mmnet.core.PreprocessingSpec.ResizePolicy.CENTER_CROP);
        // The 8x8 centre crop is the frame itself at this size: columns 2..9 of every row.
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                assertEquals(wide.at(y, x + 2, 0), expected.at(y, x, 0));
            }
        }
        java.util.List<byte[]> uploaded = new java.util.ArrayList<>();
        java.util.List<String> inputs = new java.util.ArrayList<>();
        ModelRunner recording = (model, input) -> {
            inputs.add(model + (input.isFloat() ? Arrays.toString(input.floats()) : Arrays.toString(input.bytes())));
            return confident(b).run(model, input);
        };
        MasterClient cloud = frame -> {
            assertEquals(8, frame.height());
            assertEquals(8, frame.width());
            uploaded.add(frame.pixels().clone());
            return new MasterReply(new float[] {0f, 0f, 0f, 1f, 0f, 0f, 0f, 0f, 0f, 0f}, 30.0, 1);
        };
        RuntimeOptions cloudMaster = RuntimeOptions.builder().mode(Mode.MISSION_CRITICAL).network("wifi")
                .placement(PlacementChoice.CLOUD).build();
        new MmnetRuntime(b, cloudMaster, recording, cloud, FROZEN).classify(wide, 0.0);
        assertEquals(1, uploaded.size());
        assertTrue(Arrays.equals(expected.pixels(), uploaded.get(0)));

        new MmnetRuntime(b, RuntimeOptions.builder().build(), recording, null, FROZEN).classify(wide, 0.0);
        int fromWide = inputs.size();
        assertTrue("the minions ran", fromWide > 0);
        new MmnetRuntime(b, RuntimeOptions.builder().build(), recording, null, FROZEN).classify(expected, 0.0);
        assertEquals(inputs.subList(0, fromWide), inputs.subList(fromWide, inputs.size()));
    }

    @Test
    public void aFailedCloudMasterFallsBackToTheDeviceAndIsCounted() {
        Bundle b = slowMaster();
        double[] now = {0.0};
        MasterClient dead = frame -> {
            now[0] += 2.0;  // the request waited 2 s before it timed out
            throw new MasterException("no reply within 2 s", MasterException.Kind.TIMEOUT, null, 2);
        };
        MmnetRuntime rt = new MmnetRuntime(b, RuntimeOptions.builder().mode(Mode.MISSION_CRITICAL).network("wifi").build(),
                confident(b), dead, () -> now[0]);
        FrameResult r = rt.classify(FRAME, 0.0);
        assertEquals(FramePath.MASTER_CLOUD, r.decision().path());
        assertEquals(FramePath.MASTER_DEVICE, r.path());
        assertEquals(Placement.DEVICE, r.masterPlacement());
        assertEquals(Arrays.asList("cloud_timeout"), r.fallbacks());
        assertEquals(3, r.label());
        assertTrue(r.verified());
        assertEquals(2000.0, r.timingsMs().get("remote"), 1e-9);
        // The waited time reads as RTT: at 0.8 × 30 + 0.2 × 2000 ms a request is slower than the 80 ms device master.
        assertTrue(rt.selectorState().serverOverloaded());
        FrameResult next = rt.classify(FRAME, 1.0);
        assertEquals(FramePath.MASTER_DEVICE, next.path());
        assertTrue(next.decision().reasonCodes().contains(ReasonCode.SERVER_OVERLOADED));
        RuntimeStats s = rt.stats();
        assertEquals(2, s.frames());
        assertEquals(1, s.fallbacksTotal());
        assertEquals(Integer.valueOf(2), s.pathCounts().get("master_device"));
    }

    @Test
    public void resultJsonHasThePythonTraceKeys() {
        Bundle b = digits();
        MmnetRuntime rt = new MmnetRuntime(b, RuntimeOptions.builder().build(), confident(b), null, FROZEN);
        FrameResult r = rt.classify(FRAME);
        assertEquals(FramePath.MINIONS, r.path());
        assertFalse(r.recovered());
        assertNull(r.masterAnswer());
        assertEquals("3", r.labelName());
        JsonObject json = r.toJson();
        assertEquals(new TreeSet<>(Arrays.asList("index", "timestamp_s", "label", "label_name", "confidence", "path", "system",
                "recovered", "verified", "minion_answer", "master_answer", "master_placement", "timings_ms", "energy_mj",
                "fallbacks", "audited", "decision")), new TreeSet<>(json.keySet()));
        assertEquals(new TreeSet<>(Arrays.asList("path", "system", "placement", "thresholds_mode", "probe", "reasons",
                "estimates", "detector")), new TreeSet<>(json.getAsJsonObject("decision").keySet()));
        JsonObject mode = json.getAsJsonObject("decision").getAsJsonArray("reasons").get(0).getAsJsonObject();
        assertEquals("mode", mode.get("code").getAsString());
        assertEquals("normal", mode.getAsJsonObject("values").get("mode").getAsString());
        assertEquals("mode normal", mode.get("text").getAsString());
        assertEquals("accepted", json.getAsJsonObject("decision").getAsJsonObject("detector").get("verdict").getAsString());
        assertEquals(new TreeSet<>(Arrays.asList("preprocess", "minions", "master", "remote", "total", "overhead")),
                new TreeSet<>(json.getAsJsonObject("timings_ms").keySet()));
        assertEquals(new TreeSet<>(Arrays.asList("frames", "path_counts", "recovered", "unverified", "fallbacks", "fallbacks_total")),
                new TreeSet<>(rt.stats().toJson().keySet()));
    }

    @Test
    public void aRunnerOfTheWrongOutputTypeIsNamed() {
        Bundle b = digits();
        ModelRunner floats = (model, input) -> ModelOutput.ofFloats(new float[10]);
        MmnetRuntime rt = new MmnetRuntime(b, RuntimeOptions.builder().build(), floats, null, FROZEN);
        DataException e = assertThrows(DataException.class, () -> rt.classify(FRAME, 0.0));
        assertTrue(e.getMessage(), e.getMessage().contains("per the manifest"));
    }
}
