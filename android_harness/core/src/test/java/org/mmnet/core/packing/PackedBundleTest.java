package org.mmnet.core.packing;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Base64;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.mmnet.core.Bundle;
import org.mmnet.core.BundleException;
import org.mmnet.core.Fixtures;
import org.mmnet.core.JsonNode;
import org.mmnet.core.Sha256;

/** A bundle shipping a packed model: checked at load, unpacked by {@link Bundle#modelBytes} and {@link Bundle#tfliteFile}. */
public class PackedBundleTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static final JsonObject CASE = JsonNode.parse(Fixtures.resource("packed/cases.json"), "packed/cases.json")
            .element().getAsJsonObject().getAsJsonArray("cases").get(2).getAsJsonObject();
    private static final String MODEL = Fixtures.shippedInt8Minion().get("id").getAsString();

    /** The digits bundle with {@link #MODEL} shipped as the golden case's packed container. */
    private File bundleWithPackedModel(byte[] container) throws IOException {
        File dir = Fixtures.bundleDir(tmp.newFolder("digits"));
        JsonObject manifest = Fixtures.readManifest(dir);
        for (com.google.gson.JsonElement e : manifest.getAsJsonArray("models")) {
            JsonObject m = e.getAsJsonObject();
            if (m.get("id").getAsString().equals(MODEL)) {
                m.addProperty("file", "models/" + MODEL + ".packed");
                m.addProperty("sha256", Sha256.ofBytes(container));
                m.addProperty("bytes", container.length);
                m.add("packing", CASE.get("packing").deepCopy());
                Files.write(new File(dir, "models/" + MODEL + ".packed").toPath(), container);
            }
        }
        Fixtures.writeManifest(dir, manifest);
        return dir;
    }

    private static byte[] container() {
        return Base64.getDecoder().decode(CASE.get("container").getAsString());
    }

    @Test
    public void aPackedModelLoadsAndUnpacksToItsFlatbuffer() throws IOException {
        Bundle bundle = Bundle.load(bundleWithPackedModel(container()));
        Packing packing = bundle.model(MODEL).packing();
        assertEquals(CASE.get("tflite_sha256").getAsString(), packing.tfliteSha256());
        assertTrue(packing.tensors().size() > 10);
        byte[] tflite = bundle.modelBytes(MODEL);
        assertEquals(packing.tfliteSha256(), Sha256.ofBytes(tflite));
        String plain = Fixtures.masterId();
        assertNull(bundle.model(plain).packing());
        assertArrayEquals(Files.readAllBytes(bundle.modelFile(plain).toPath()), bundle.modelBytes(plain));
        assertEquals(bundle.modelFile(plain), bundle.tfliteFile(plain, tmp.newFolder("unused")));
    }

    @Test
    public void tfliteFileUnpacksOnceAndRewritesAWrongCachedCopy() throws IOException {
        Bundle bundle = Bundle.load(bundleWithPackedModel(container()));
        File cache = new File(tmp.getRoot(), "cache/unpacked");
        File unpacked = bundle.tfliteFile(MODEL, cache);
        String sha256 = bundle.model(MODEL).packing().tfliteSha256();
        assertEquals(new File(cache, sha256 + ".tflite"), unpacked);
        assertEquals(sha256, Sha256.ofFile(unpacked));
        long written = unpacked.lastModified();
        assertEquals(unpacked, bundle.tfliteFile(MODEL, cache));
        assertEquals("a good cached copy is not rewritten", written, unpacked.lastModified());
        byte[] edited = Files.readAllBytes(unpacked.toPath());
        edited[edited.length - 1] ^= 1;
        Files.write(unpacked.toPath(), edited);
        assertEquals(sha256, Sha256.ofFile(bundle.tfliteFile(MODEL, cache)));
        assertEquals("only the unpacked model in the cache", 1, cache.list().length);
    }

    @Test
    public void aPackedFileThatDoesNotUnpackToItsSpecIsRefused() throws IOException {
        byte[] container = container();
        int at = CASE.getAsJsonObject("packing").getAsJsonArray("tensors").get(4).getAsJsonObject().get("packed_offset").getAsInt();
        container[at] ^= 0x01;  // consistent with the manifest's sha256 of the file, not with the flatbuffer's
        Bundle bundle = Bundle.load(bundleWithPackedModel(container));
        BundleException e = assertThrows(BundleException.class, () -> bundle.modelBytes(MODEL));
        assertTrue(e.getMessage(), e.getMessage().startsWith("models['" + MODEL + "'].file (")
                && (e.getMessage().contains("(corrupt file or spec)") || e.getMessage().contains("cannot be unpacked")));
        File cache = tmp.newFolder("cache");
        assertThrows(BundleException.class, () -> bundle.tfliteFile(MODEL, cache));
        assertEquals("nothing is left in the cache", 0, cache.list().length);
    }

    @Test
    public void theSieveBundlesPackedModelUnpacksToTheFlatbufferPythonChecked() throws IOException {
        // parity-sieve holds the digits-sieve bundle's manifest and its smallest packed model, as the build shipped it.
        org.mmnet.core.Manifest manifest = org.mmnet.core.Manifest.parse(Fixtures.resource("parity-sieve/manifest.json"),
                "parity-sieve/manifest.json");
        int found = 0;
        for (org.mmnet.core.ModelRecord m : manifest.models()) {
            if (m.packing() == null) {
                continue;
            }
            assertEquals(m.id() + " is a SIEVE model", "sieve", m.quantization());
            String name = new File(m.file()).getName();
            if (getClass().getResource("/parity-sieve/models/" + name) == null) {
                continue;
            }
            byte[] packed = Fixtures.resourceBytes("parity-sieve/models/" + name);
            assertEquals(m.id() + ": the shipped file", m.sha256(), Sha256.ofBytes(packed));
            byte[] tflite = PackedModel.unpack(packed, m.packing(), name);
            assertEquals(m.id() + ": the flatbuffer Python unpacked and checked", m.packing().tfliteSha256(), Sha256.ofBytes(tflite));
            assertEquals("a TFLite flatbuffer", "TFL3", new String(tflite, 4, 4, java.nio.charset.StandardCharsets.US_ASCII));
            assertTrue(m.id() + " is smaller packed", packed.length < tflite.length);
            found++;
        }
        assertEquals("parity-sieve/models holds one packed model", 1, found);
    }

    @Test
    public void aPackedFileChangedAfterLoadingIsRefused() throws IOException {
        File dir = bundleWithPackedModel(container());
        Bundle bundle = Bundle.load(dir);
        File file = new File(dir, "models/" + MODEL + ".packed");
        byte[] data = Files.readAllBytes(file.toPath());
        data[0] ^= 1;
        Files.write(file.toPath(), data);
        BundleException e = assertThrows(BundleException.class, () -> bundle.modelBytes(MODEL));
        assertTrue(e.getMessage(), e.getMessage().contains("; manifest expects ") && e.getMessage().contains("(file modified or corrupt)"));
    }
}
