package org.mmnet.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.GeneralSecurityException;
import java.security.InvalidKeyException;
import java.security.KeyFactory;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Ed25519 signatures over a bundle's {@code manifest.json}, as Python's {@code mmnet.format.signing}
 * writes them: {@code manifest.sig} beside the manifest, a JSON object with {@code algorithm}
 * ("ed25519"), {@code key_id} ("ed25519:" + sha256 of the raw 32-byte public key),
 * {@code manifest_sha256} and {@code signature} (base64 of 64 bytes). The manifest records every
 * shipped file's sha256, so a signature over its exact bytes covers the bundle. Public keys are PEM
 * X.509 SubjectPublicKeyInfo ({@code mmnet keygen} writes {@code KEY.pub}). Ed25519 needs Java 15+
 * (Android: API 33+); elsewhere loading a trusted key fails with a {@link ConfigException}.
 */
public final class BundleSignature {
    public static final String SIGNATURE_FILE = "manifest.sig";
    public static final String ALGORITHM = "ed25519";
    private static final int MAX_SIGNATURE_BYTES = 4096;
    private static final int MAX_KEY_BYTES = 16384;
    private static final int RAW_KEY_BYTES = 32;
    private static final List<String> KEYS = Arrays.asList("algorithm", "key_id", "manifest_sha256", "signature");

    private BundleSignature() {
    }

    /** A public key a bundle's signature may be made with, and the file it came from. */
    public static final class TrustedKey {
        private final PublicKey key;
        private final String keyId;
        private final String source;

        TrustedKey(PublicKey key, String keyId, String source) {
            this.key = key;
            this.keyId = keyId;
            this.source = source;
        }

        public String keyId() {
            return keyId;
        }

        public String source() {
            return source;
        }
    }

    /** The Ed25519 public key in the PEM file {@code file}; ConfigException naming the file otherwise. */
    public static TrustedKey readPublicKey(File file) {
        byte[] data;
        try {
            if (file.length() > MAX_KEY_BYTES) {
                throw new ConfigException("trusted key " + file + " has " + file.length() + " bytes; expected a PEM key file");
            }
            data = Files.readAllBytes(file.toPath());
        } catch (IOException e) {
            throw new ConfigException("trusted key " + file + " cannot be read: " + e);
        }
        return parsePublicKey(new String(data, StandardCharsets.US_ASCII), file.getPath());
    }

    /** The Ed25519 public key in PEM text ({@code -----BEGIN PUBLIC KEY-----}). */
    public static TrustedKey parsePublicKey(String pem, String source) {
        if (pem.contains("PRIVATE KEY")) {
            throw new ConfigException("trusted key " + source + " is a private key; expected the public key (the .pub file)");
        }
        String begin = "-----BEGIN PUBLIC KEY-----";
        String end = "-----END PUBLIC KEY-----";
        int from = pem.indexOf(begin);
        int to = pem.indexOf(end);
        if (from < 0 || to < from) {
            throw new ConfigException("trusted key " + source + " is not a PEM public key; expected the .pub file written by `mmnet keygen`");
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(pem.substring(from + begin.length(), to));
        } catch (IllegalArgumentException e) {
            throw new ConfigException("trusted key " + source + " is not a PEM public key (" + e.getMessage() + ")");
        }
        PublicKey key;
        try {
            key = KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(der));
        } catch (NoSuchAlgorithmException e) {
            throw new ConfigException("this Java runtime has no Ed25519 (Java 15+, Android API 33+), so bundle signatures "
                    + "cannot be verified with " + source);
        } catch (InvalidKeySpecException e) {
            throw new ConfigException("trusted key " + source + " is not an Ed25519 public key (" + e.getMessage() + ")");
        }
        return new TrustedKey(key, keyId(der), source);
    }

    /** "ed25519:" + the hex sha256 of the raw key: the last 32 bytes of its X.509 encoding. */
    static String keyId(byte[] x509) {
        byte[] raw = Arrays.copyOfRange(x509, x509.length - RAW_KEY_BYTES, x509.length);
        return ALGORITHM + ":" + Sha256.ofBytes(raw);
    }

    /**
     * The trusted key whose signature in {@code signatureFile} verifies {@code manifestBytes};
     * BundleException when the signature is missing, malformed, by an untrusted key or does not verify.
     */
    public static TrustedKey verify(byte[] manifestBytes, File signatureFile, List<TrustedKey> trusted) {
        if (trusted.isEmpty()) {
            throw new ConfigException("trusted keys are empty; expected at least one (or null: no signature check)");
        }
        List<String> ids = new ArrayList<>();
        for (TrustedKey k : trusted) {
            ids.add(k.keyId);
        }
        String known = String.join(", ", ids);
        String path = signatureFile.getPath();
        if (!signatureFile.isFile()) {
            throw new BundleException("bundle " + signatureFile.getParent() + " is not signed: " + path
                    + " does not exist; expected a signature by a trusted key (" + known + ")");
        }
        if (signatureFile.length() > MAX_SIGNATURE_BYTES) {
            throw new BundleException(path + " has " + signatureFile.length() + " bytes; expected a signature document of at most "
                    + MAX_SIGNATURE_BYTES + " bytes");
        }
        JsonNode doc = JsonNode.parse(Bundle.readText(signatureFile), path);
        Map<String, JsonNode> entries = doc.entries();
        if (!new TreeSet<>(entries.keySet()).equals(new TreeSet<>(KEYS))) {
            throw new BundleException(path + ": holds " + new TreeSet<>(entries.keySet()) + "; expected an object with exactly the keys " + KEYS);
        }
        String algorithm = doc.get("algorithm").nonEmptyString();
        if (!algorithm.equals(ALGORITHM)) {
            throw new BundleException(path + ": $.algorithm is '" + algorithm + "'; expected '" + ALGORITHM + "'");
        }
        byte[] signature;
        try {
            signature = Base64.getDecoder().decode(doc.get("signature").nonEmptyString());
        } catch (IllegalArgumentException e) {
            throw new BundleException(path + ": $.signature is not base64 (" + e.getMessage() + "); expected 64 bytes in base64", e);
        }
        if (signature.length != 64) {
            throw new BundleException(path + ": $.signature holds " + signature.length + " bytes; expected an Ed25519 signature of 64");
        }
        String keyId = doc.get("key_id").nonEmptyString();
        TrustedKey key = null;
        for (TrustedKey k : trusted) {
            if (k.keyId.equals(keyId)) {
                key = k;
            }
        }
        if (key == null) {
            throw new BundleException(path + ": signed by key '" + keyId + "', which is not a trusted key; trusted: " + known);
        }
        boolean valid;
        try {
            Signature verifier = Signature.getInstance("Ed25519");
            verifier.initVerify(key.key);
            verifier.update(manifestBytes);
            valid = verifier.verify(signature);
        } catch (InvalidKeyException | java.security.SignatureException e) {
            valid = false;
        } catch (GeneralSecurityException e) {
            throw new ConfigException("this Java runtime cannot verify Ed25519 signatures: " + e);
        }
        if (!valid) {
            String actual = Sha256.ofBytes(manifestBytes);
            String signed = doc.get("manifest_sha256").nonEmptyString();
            if (!actual.equals(signed)) {
                throw new BundleException(path + ": the manifest changed after it was signed (its sha256 is " + actual
                        + "; the signature was made over " + signed + ")");
            }
            throw new BundleException(path + ": the signature does not verify with trusted key " + key.keyId + " ("
                    + key.source + "); the signature is corrupt or forged");
        }
        return key;
    }
}
