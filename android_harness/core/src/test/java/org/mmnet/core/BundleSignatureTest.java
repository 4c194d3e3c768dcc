package org.mmnet.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The test vector in resources/signing was signed by Python ({@code mmnet.format.signing}; regenerate
 * with {@code .venv/bin/python -m tests.integration.test_signing --write-java-vector}): the Java core
 * must accept exactly what Python signs and refuse the same edits.
 */
public class BundleSignatureTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static BundleSignature.TrustedKey key(String name) {
        return BundleSignature.parsePublicKey(Fixtures.resource("signing/" + name), name);
    }

    /** The vector's bundle: its manifest and signature, each shipped model the few bytes it records, labels.txt. */
    private File vectorBundle() throws IOException {
        File dir = tmp.newFolder("bundle");
        String manifest = Fixtures.resource("signing/manifest.json");
        JsonObject doc = JsonNode.parse(manifest, "manifest.json").element().getAsJsonObject();
        for (JsonElement e : doc.getAsJsonArray("models")) {
            JsonObject m = e.getAsJsonObject();
            if (!m.get("file").isJsonNull()) {
                Fixtures.write(new File(dir, m.get("file").getAsString()),
                        ("fake model " + m.get("id").getAsString()).getBytes(StandardCharsets.UTF_8));
            }
        }
        StringBuilder labels = new StringBuilder();
        for (JsonElement l : doc.getAsJsonArray("labels")) {
            labels.append(l.getAsString()).append('\n');
        }
        Fixtures.write(new File(dir, "labels.txt"), labels.toString().getBytes(StandardCharsets.UTF_8));
        Fixtures.write(new File(dir, "manifest.json"), manifest.getBytes(StandardCharsets.UTF_8));
        Fixtures.write(new File(dir, BundleSignature.SIGNATURE_FILE),
                Fixtures.resource("signing/manifest.sig").getBytes(StandardCharsets.UTF_8));
        return dir;
    }

    private static String message(File dir, List<BundleSignature.TrustedKey> trusted) {
        return assertThrows(BundleException.class, () -> Bundle.load(dir, true, trusted)).getMessage();
    }

    @Test
    public void aBundleSignedByPythonLoadsWithTheTrustedKey() throws IOException {
        File dir = vectorBundle();
        BundleSignature.TrustedKey trusted = key("trusted.pub");
        // Java derives the same key id as Python wrote into the signature.
        String signedId = JsonNode.parse(Fixtures.resource("signing/manifest.sig"), "sig").get("key_id").string();
        assertEquals(signedId, trusted.keyId());
        Bundle bundle = Bundle.load(dir, true, List.of(key("untrusted.pub"), trusted));
        assertEquals(trusted.keyId(), bundle.signedBy());
        assertEquals("tiny", bundle.name());
        assertNull(Bundle.load(dir).signedBy());  // no trusted keys: not checked
    }

    @Test
    public void anUnsignedBundleIsRefusedWhenKeysAreTrusted() throws IOException {
        File dir = vectorBundle();
        assertTrue(new File(dir, BundleSignature.SIGNATURE_FILE).delete());
        String m = message(dir, List.of(key("trusted.pub")));
        assertTrue(m, m.contains("is not signed") && m.contains("manifest.sig does not exist"));
        assertEquals("tiny", Bundle.load(dir).name());
    }

    @Test
    public void aManifestEditedAfterSigningIsRefused() throws IOException {
        File dir = vectorBundle();
        File manifest = new File(dir, "manifest.json");
        String text = new String(Files.readAllBytes(manifest.toPath()), StandardCharsets.UTF_8);
        assertTrue(text.contains("\"reason\": \"fixture\""));
        Files.write(manifest.toPath(), text.replace("\"reason\": \"fixture\"", "\"reason\": \"fixturE\"").getBytes(StandardCharsets.UTF_8));
        assertEquals("tiny", Bundle.load(dir).name());  // consistent on its own
        String m = message(dir, List.of(key("trusted.pub")));
        assertTrue(m, m.contains("the manifest changed after it was signed"));
    }

    @Test
    public void aSignatureByAnUntrustedKeyIsRefused() throws IOException {
        String m = message(vectorBundle(), List.of(key("untrusted.pub")));
        assertTrue(m, m.contains("which is not a trusted key; trusted: " + key("untrusted.pub").keyId()));
    }

    @Test
    public void aForgedSignatureUnderTheTrustedKeyIdIsRefused() throws Exception {
        File dir = vectorBundle();
        KeyPair other = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
        Signature signer = Signature.getInstance("Ed25519");
        signer.initSign(other.getPrivate());
        signer.update(Files.readAllBytes(new File(dir, "manifest.json").toPath()));
        JsonObject sig = JsonNode.parse(Fixtures.resource("signing/manifest.sig"), "sig").element().getAsJsonObject();
        sig.addProperty("signature", Base64.getEncoder().encodeToString(signer.sign()));
        Fixtures.write(new File(dir, BundleSignature.SIGNATURE_FILE), sig.toString().getBytes(StandardCharsets.UTF_8));
        String m = message(dir, List.of(key("trusted.pub")));
        assertTrue(m, m.contains("does not verify with trusted key") && m.contains("corrupt or forged"));
    }

    @Test
    public void malformedSignatureDocumentsAreBundleExceptions() throws IOException {
        File dir = vectorBundle();
        File sig = new File(dir, BundleSignature.SIGNATURE_FILE);
        String[][] cases = {
            {"not json", "not valid JSON"},
            {"{\"algorithm\": \"rsa\", \"key_id\": \"k\", \"manifest_sha256\": \"x\", \"signature\": \"AA==\"}", "expected 'ed25519'"},
            {"{\"algorithm\": \"ed25519\"}", "expected an object with exactly the keys"},
            {"{\"algorithm\": \"ed25519\", \"key_id\": \"k\", \"manifest_sha256\": \"x\", \"signature\": \"!!\"}", "is not base64"},
            {"{\"algorithm\": \"ed25519\", \"key_id\": \"k\", \"manifest_sha256\": \"x\", \"signature\": \"AAAA\"}", "holds 3 bytes"},
        };
        for (String[] c : cases) {
            Files.write(sig.toPath(), c[0].getBytes(StandardCharsets.UTF_8));
            String m = message(dir, List.of(key("trusted.pub")));
            assertTrue(c[0] + " -> " + m, m.contains(c[1]));
        }
    }

    @Test
    public void keyFilesAreChecked() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> BundleSignature.parsePublicKey("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n", "k"));
        assertTrue(e.getMessage(), e.getMessage().contains("is a private key; expected the public key"));
        e = assertThrows(ConfigException.class, () -> BundleSignature.parsePublicKey("hello", "k"));
        assertTrue(e.getMessage(), e.getMessage().contains("is not a PEM public key"));
        e = assertThrows(ConfigException.class, () -> Bundle.load(tmp.getRoot(), false, Collections.singletonList(key("trusted.pub"))));
        assertTrue(e.getMessage(), e.getMessage().contains("trusted keys need verifyChecksums"));
    }
}
