package org.mmnet.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class BundleTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    /** A shipped int8 minion of the digits manifest (the first one, in manifest order). */
    private static final JsonObject SHIPPED_JSON = Fixtures.shippedInt8Minion();
    private static final String SHIPPED = SHIPPED_JSON.get("id").getAsString();

    @Test
    public void loadsAVerifiedBundle() throws IOException {
        Bundle bundle = Bundle.load(Fixtures.bundleDir(tmp.newFolder("digits")));
        assertEquals("digits", bundle.name());
        assertEquals(10, bundle.numClasses());
        assertNotNull(bundle.runtimeConfig());
        String master = Fixtures.masterId();
        assertEquals(master, bundle.runtimeConfig().masterModel());
        assertEquals("master", bundle.model(master).role());
        ModelRecord m = bundle.model(SHIPPED);
        assertEquals(SHIPPED_JSON.get("resolution").getAsInt(), m.resolution());
        assertEquals(TensorSpec.DType.INT8, m.input().dtype());
        assertEquals(SHIPPED_JSON.getAsJsonObject("input").get("zero_point").getAsInt(), (int) m.input().zeroPoint());
        assertTrue(bundle.modelFile(SHIPPED).isFile());
        int blessedMasters = 0;
        for (com.google.gson.JsonElement e : Fixtures.manifestJson().getAsJsonArray("models")) {
            JsonObject o = e.getAsJsonObject();
            if ("master".equals(o.get("role").getAsString()) && o.get("blessed").getAsBoolean()) {
                blessedMasters++;
            }
        }
        assertTrue("the digits manifest blesses a master", blessedMasters > 0);
        assertEquals(blessedMasters, bundle.blessedModels("master").size());
        // A rejected artifact is described but not shipped.
        String rejected = Fixtures.manifestModel(o -> !Fixtures.shipped(o) && o.getAsJsonObject("metrics").has("xnnpack")
                && !o.getAsJsonObject("metrics").get("xnnpack").getAsBoolean(), "artifact rejected for XNNPACK").get("id").getAsString();
        BundleException e = assertThrows(BundleException.class, () -> bundle.modelFile(rejected));
        assertTrue(e.getMessage(), e.getMessage().contains("is not shipped (file is null)"));
        assertTrue(bundle.model(rejected).useXnnpack() == false);
    }

    @Test
    public void aModifiedModelFailsItsChecksumNamingFileAndDigests() throws IOException {
        File dir = Fixtures.bundleDir(tmp.newFolder("digits"));
        File model = new File(dir, "models/" + SHIPPED + ".tflite");
        byte[] data = Files.readAllBytes(model.toPath());
        data[0] ^= 1;  // same size, other content
        Files.write(model.toPath(), data);
        BundleException e = assertThrows(BundleException.class, () -> Bundle.load(dir));
        assertTrue(e.getMessage(), e.getMessage().contains(SHIPPED + ".tflite has sha256 "));
        assertTrue(e.getMessage(), e.getMessage().contains("(file modified or corrupt)"));
        // Without checksums only sizes are checked, so the same bundle loads.
        assertEquals("digits", Bundle.load(dir, false).name());
    }

    @Test
    public void missingOrResizedFilesAreNamed() throws IOException {
        File dir = Fixtures.bundleDir(tmp.newFolder("digits"));
        File model = new File(dir, "models/" + SHIPPED + ".tflite");
        Files.write(model.toPath(), "x".getBytes(StandardCharsets.UTF_8));
        BundleException e = assertThrows(BundleException.class, () -> Bundle.load(dir, false));
        assertTrue(e.getMessage(), e.getMessage().contains("has 1 bytes; manifest expects"));
        assertTrue(model.delete());
        e = assertThrows(BundleException.class, () -> Bundle.load(dir, false));
        assertTrue(e.getMessage(), e.getMessage().contains("is missing from the bundle"));
    }

    @Test
    public void pathsMayNotLeaveTheBundle() throws IOException {
        File dir = Fixtures.bundleDir(tmp.newFolder("digits"));
        JsonObject manifest = Fixtures.readManifest(dir);
        manifest.getAsJsonArray("models").get(0).getAsJsonObject().addProperty("file", "../outside.tflite");
        Fixtures.writeManifest(dir, manifest);
        BundleException e = assertThrows(BundleException.class, () -> Bundle.load(dir));
        assertTrue(e.getMessage(), e.getMessage().contains("expected a relative path inside the bundle"));
    }

    @Test
    public void labelsFileMustMatchTheManifest() throws IOException {
        File dir = Fixtures.bundleDir(tmp.newFolder("digits"));
        Files.write(new File(dir, "labels.txt").toPath(), "0\n1\nzwei\n".getBytes(StandardCharsets.UTF_8));
        BundleException e = assertThrows(BundleException.class, () -> Bundle.load(dir));
        assertTrue(e.getMessage(), e.getMessage().contains("line 3 is 'zwei', expected '2' (3 lines, 10 labels)"));
    }

    @Test
    public void noManifestIsOneClearError() throws IOException {
        File dir = tmp.newFolder("empty");
        BundleException e = assertThrows(BundleException.class, () -> Bundle.load(dir));
        assertTrue(e.getMessage(), e.getMessage().contains("has no manifest"));
    }

    @Test
    public void manifestRulesTheSchemaCannotExpress() {
        JsonObject m = Fixtures.manifestJson();
        String first = m.getAsJsonArray("models").get(0).getAsJsonObject().get("id").getAsString();
        m.getAsJsonArray("models").get(1).getAsJsonObject().addProperty("id", first);
        BundleException e = assertThrows(BundleException.class, () -> Manifest.parse(m.toString(), "m.json"));
        assertEquals("m.json: $.models: has duplicate model ids [" + first + "]", e.getMessage());

        JsonObject shape = Fixtures.manifestJson();
        shape.getAsJsonArray("models").get(0).getAsJsonObject().getAsJsonObject("input").add("shape",
                JsonNode.parse("[1, 16, 16, 1]", "-").element());
        e = assertThrows(BundleException.class, () -> Manifest.parse(shape.toString(), "m.json"));
        assertTrue(e.getMessage(), e.getMessage().startsWith("m.json: $.models[0].input.shape: is [1, 16, 16, 1]; expected [1, 32, 32, 1]"));

        JsonObject version = Fixtures.manifestJson();
        version.addProperty("schema_version", "2.0");
        e = assertThrows(BundleException.class, () -> Manifest.parse(version.toString(), "m.json"));
        assertEquals("m.json: $.schema_version: is \"2.0\"; expected \"1.0\"", e.getMessage());

        JsonObject quant = Fixtures.manifestJson();
        quant.getAsJsonArray("models").get(2).getAsJsonObject().getAsJsonObject("input").add("scale",
                com.google.gson.JsonNull.INSTANCE);
        e = assertThrows(BundleException.class, () -> Manifest.parse(quant.toString(), "m.json"));
        assertTrue(e.getMessage(), e.getMessage().contains("expected a scale > 0 and an integer zero_point"));

        JsonObject pre = Fixtures.manifestJson();
        pre.getAsJsonObject("preprocessing").addProperty("resize_methd", "bilinear");
        e = assertThrows(BundleException.class, () -> Manifest.parse(pre.toString(), "m.json"));
        assertTrue(e.getMessage(), e.getMessage().contains("unknown keys [resize_methd]"));
    }
}
