package org.mmnet.core;

import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** A manifest the Python loader refuses is a BundleException here too, never another exception. */
public class ManifestLimitsTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static String withModelField(String field, String number) {
        JsonObject m = Fixtures.manifestJson();
        m.getAsJsonArray("models").get(0).getAsJsonObject().addProperty(field, 0);
        return m.toString().replaceFirst("\"" + field + "\":0", "\"" + field + "\":" + number);
    }

    @Test
    public void integersBeyond64BitsAreBundleExceptions() {
        for (String number : new String[] {"9223372036854775808", "1" + "0".repeat(400)}) {
            String text = withModelField("bytes", number);
            BundleException e = assertThrows(BundleException.class, () -> Manifest.parse(text, "m.json"));
            assertTrue(e.getMessage(), e.getMessage().contains("$.models[0].bytes"));
        }
    }

    @Test
    public void aZeroPointBeyond32BitsIsNotWrappedAround() {
        JsonObject m = Fixtures.manifestJson();
        m.getAsJsonArray("models").get(2).getAsJsonObject().getAsJsonObject("input").addProperty("zero_point", 1L << 32);
        BundleException e = assertThrows(BundleException.class, () -> Manifest.parse(m.toString(), "m.json"));
        assertTrue(e.getMessage(), e.getMessage().contains("zero_point"));
    }

    @Test
    public void aManifestThatIsNotUtf8IsABundleException() throws IOException {
        File dir = Fixtures.bundleDir(tmp.newFolder("digits"));
        Files.write(new File(dir, "manifest.json").toPath(), new byte[] {'{', '"', (byte) 0xff, '"', '}'});
        BundleException e = assertThrows(BundleException.class, () -> Bundle.load(dir));
        assertTrue(e.getMessage(), e.getMessage().contains("not UTF-8 text"));
    }
}
