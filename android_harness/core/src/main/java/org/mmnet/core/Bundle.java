package org.mmnet.core;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.mmnet.core.packing.PackedModel;
import org.mmnet.core.packing.Packing;

/**
 * A loaded, verified bundle directory: {@code manifest.json}, {@code labels.txt}, the shipped
 * {@code models/*.tflite} and {@code runtime_config.json}. Like Python's {@code load_bundle}, every
 * shipped model file must exist inside the bundle with the manifest's size and sha256. The recorded
 * data splits and the report are not needed on a phone and are not checked. With trusted keys the
 * manifest must carry a signature by one of them ({@link BundleSignature}).
 */
public final class Bundle {
    public static final String MANIFEST_FILE = "manifest.json";

    private final File dir;
    private final Manifest manifest;
    private final RuntimeConfig runtimeConfig;
    private final String signedBy;

    private Bundle(File dir, Manifest manifest, RuntimeConfig runtimeConfig, String signedBy) {
        this.dir = dir;
        this.manifest = manifest;
        this.runtimeConfig = runtimeConfig;
        this.signedBy = signedBy;
    }

    /** Loads {@code dir} and verifies every sha256; see {@link #load(File, boolean)}. */
    public static Bundle load(File dir) {
        return load(dir, true);
    }

    /**
     * Loads and checks the bundle at {@code dir}. With {@code verifyChecksums} false, files must
     * still exist with the manifest's sizes, but their sha256 is not computed.
     */
    public static Bundle load(File dir, boolean verifyChecksums) {
        return load(dir, verifyChecksums, null);
    }

    /**
     * Loads and checks the bundle at {@code dir}; with {@code trustedKeys} (null: no signature check)
     * its manifest must carry a signature by one of them, which needs {@code verifyChecksums}: the
     * signature covers the files through the sha256 the manifest records.
     */
    public static Bundle load(File dir, boolean verifyChecksums, List<BundleSignature.TrustedKey> trustedKeys) {
        if (trustedKeys != null && !verifyChecksums) {
            throw new ConfigException("trusted keys need verifyChecksums: the signature covers the files through their sha256");
        }
        File manifestFile = new File(dir, MANIFEST_FILE);
        if (!manifestFile.isFile()) {
            throw new BundleException("bundle " + dir + " has no manifest: " + manifestFile + " does not exist");
        }
        byte[] manifestBytes = readBytes(manifestFile);
        String signedBy = null;
        if (trustedKeys != null) {  // the bytes verified are the bytes parsed
            signedBy = BundleSignature.verify(manifestBytes, new File(dir, BundleSignature.SIGNATURE_FILE), trustedKeys).keyId();
        }
        Manifest manifest = Manifest.parse(utf8(manifestBytes, manifestFile), manifestFile.getPath());
        checkLabels(dir, manifest, manifestFile.getPath());
        List<Manifest.FileRef> files = new ArrayList<>();
        List<ModelRecord> models = manifest.models();
        for (int i = 0; i < models.size(); i++) {
            ModelRecord m = models.get(i);
            if (m.shipped()) {
                files.add(new Manifest.FileRef("models[" + i + "].file", m.file(), m.sha256(), m.bytes()));
            }
        }
        if (manifest.runtimeConfig() != null) {
            files.add(manifest.runtimeConfig());
        }
        for (Manifest.FileRef ref : files) {
            checkFile(dir, ref, manifestFile.getPath(), verifyChecksums);
        }
        RuntimeConfig config = null;
        if (manifest.runtimeConfig() != null) {
            File configFile = inside(dir, manifest.runtimeConfig().file(), "runtime_config.file");
            config = RuntimeConfig.parse(readText(configFile), configFile.getPath(), manifest.numClasses(), manifest.shippedModels());
        }
        return new Bundle(dir, manifest, config, signedBy);
    }

    /**
     * A bundle made from already parsed documents; no file is read or checked. For replays of
     * recorded model outputs (the parity tests) and tools that never open a model file.
     */
    public static Bundle fromDocuments(File dir, Manifest manifest, RuntimeConfig runtimeConfig) {
        return new Bundle(dir, manifest, runtimeConfig, null);
    }

    static byte[] readBytes(File file) {
        try {
            return Files.readAllBytes(file.toPath());
        } catch (IOException e) {
            throw new BundleException(file + ": cannot be read: " + e.getMessage(), e);
        }
    }

    /** The bytes as UTF-8 text; malformed UTF-8 is a BundleException, as in Python, never replaced. */
    static String utf8(byte[] data, File file) {
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(data)).toString();
        } catch (CharacterCodingException e) {
            throw new BundleException(file + ": not UTF-8 text; expected JSON or text in UTF-8", e);
        }
    }

    static String readText(File file) {
        return utf8(readBytes(file), file);
    }

    /** {@code dir/relative}, refusing absolute paths and paths (or symlinks) that leave the bundle. */
    static File inside(File dir, String relative, String where) {
        List<String> parts = Arrays.asList(relative.split("/"));
        if (relative.isEmpty() || relative.startsWith("/") || relative.contains("\\") || parts.contains("..")) {
            throw new BundleException(where + " is '" + relative + "'; expected a relative path inside the bundle (" + dir + ")");
        }
        File file = new File(dir, relative);
        try {
            String root = dir.getCanonicalPath() + File.separator;
            if (!file.getCanonicalPath().startsWith(root)) {
                throw new BundleException(where + " is '" + relative + "', which resolves outside the bundle (" + dir + ")");
            }
        } catch (IOException e) {
            throw new BundleException(where + " is '" + relative + "', which cannot be resolved: " + e.getMessage(), e);
        }
        return file;
    }

    private static void checkFile(File dir, Manifest.FileRef ref, String source, boolean verify) {
        String where = source + ": " + ref.where();
        File file = inside(dir, ref.file(), where);
        if (!file.isFile()) {
            throw new BundleException(where + ": file " + file + " is missing from the bundle");
        }
        long size = file.length();
        if (size != ref.bytes()) {
            throw new BundleException(where + ": file " + file + " has " + size + " bytes; manifest expects " + ref.bytes());
        }
        if (verify) {
            String actual;
            try {
                actual = Sha256.ofFile(file);
            } catch (IOException e) {
                throw new BundleException(where + ": file " + file + " cannot be read: " + e.getMessage(), e);
            }
            if (!actual.equals(ref.sha256())) {
                throw new BundleException(where + ": file " + file + " has sha256 " + actual + "; manifest expects "
                        + ref.sha256() + " (file modified or corrupt)");
            }
        }
    }

    private static void checkLabels(File dir, Manifest manifest, String source) {
        File file = inside(dir, manifest.labelsFile(), "labels_file");
        if (!file.isFile()) {
            throw new BundleException("labels_file: file " + file + " is missing from the bundle");
        }
        // Python's str.splitlines on a labels file: no trailing empty line.
        List<String> found = new ArrayList<>(Arrays.asList(readText(file).split("\r\n|\r|\n", -1)));
        if (!found.isEmpty() && found.get(found.size() - 1).isEmpty()) {
            found.remove(found.size() - 1);
        }
        List<String> expected = manifest.labels();
        if (!found.equals(expected)) {
            int i = 0;
            while (i < found.size() && i < expected.size() && found.get(i).equals(expected.get(i))) {
                i++;
            }
            String got = i < found.size() ? "'" + found.get(i) + "'" : "<end of file>";
            String want = i < expected.size() ? "'" + expected.get(i) + "'" : "<end of labels>";
            throw new BundleException(file + " does not match " + source + " $.labels: line " + (i + 1) + " is " + got
                    + ", expected " + want + " (" + found.size() + " lines, " + expected.size() + " labels)");
        }
    }

    public File dir() {
        return dir;
    }

    public String name() {
        return manifest.name();
    }

    public Manifest manifest() {
        return manifest;
    }

    /** Key id of the trusted key whose signature verified the manifest; null when none was required. */
    public String signedBy() {
        return signedBy;
    }

    /** The parsed runtime config, null when the bundle has none. */
    public RuntimeConfig runtimeConfig() {
        return runtimeConfig;
    }

    public List<String> labels() {
        return manifest.labels();
    }

    public int numClasses() {
        return manifest.numClasses();
    }

    public PreprocessingSpec preprocessing() {
        return manifest.preprocessing();
    }

    public ModelRecord model(String id) {
        return manifest.model(id);
    }

    /** The .tflite file of a shipped model; BundleException when the model was not shipped. */
    public File modelFile(String id) {
        ModelRecord m = manifest.model(id);
        if (!m.shipped()) {
            throw new BundleException("model '" + id + "' in bundle " + dir + " is not shipped (file is null): " + m.reason());
        }
        return inside(dir, m.file(), "models['" + id + "'].file");
    }

    /**
     * The TFLite flatbuffer of a shipped model: the file's bytes, checked against the manifest's size and sha256;
     * a packed model ({@link ModelRecord#packing()}) unpacked and checked against the flatbuffer's sha256.
     * BundleException naming the model and what is wrong.
     */
    public byte[] modelBytes(String id) {
        ModelRecord m = manifest.model(id);
        File file = modelFile(id);
        String where = "models['" + id + "'].file (" + file + ")";
        byte[] data = readBytes(file);
        String sha256 = Sha256.ofBytes(data);
        if (data.length != m.bytes() || !sha256.equals(m.sha256())) {
            throw new BundleException(where + " has " + data.length + " bytes and sha256 " + sha256 + "; manifest expects "
                    + m.bytes() + " bytes and sha256 " + m.sha256() + " (file modified or corrupt)");
        }
        return m.packing() == null ? data : PackedModel.unpack(data, m.packing(), where);
    }

    /**
     * A .tflite file of a shipped model an interpreter can open: the shipped file itself, or for a packed model
     * its flatbuffer unpacked once into {@code cacheDir} as {@code <flatbuffer sha256>.tflite} (as Python's loader
     * keeps them), checked on every call and rewritten when a cached copy does not match.
     */
    public File tfliteFile(String id, File cacheDir) {
        Packing packing = manifest.model(id).packing();
        if (packing == null) {
            return modelFile(id);
        }
        File target = new File(cacheDir, packing.tfliteSha256() + ".tflite");
        try {
            if (target.isFile() && target.length() == packing.tfliteBytes() && Sha256.ofFile(target).equals(packing.tfliteSha256())) {
                return target;
            }
            byte[] tflite = modelBytes(id);
            Files.createDirectories(cacheDir.toPath());
            File temporary = File.createTempFile("." + target.getName(), ".tmp", cacheDir);
            try {
                Files.write(temporary.toPath(), tflite);
                Files.move(temporary.toPath(), target.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(temporary.toPath());
            }
        } catch (IOException e) {
            throw new BundleException("models['" + id + "'].file: cannot unpack into " + cacheDir + ": " + e.getMessage()
                    + "; expected a writable directory", e);
        }
        return target;
    }

    /** Blessed models, all of them ({@code role} null) or those of role "master" / "minion". */
    public List<ModelRecord> blessedModels(String role) {
        if (role != null && !role.equals("master") && !role.equals("minion")) {
            throw new ConfigException("role is '" + role + "'; expected 'master', 'minion' or null");
        }
        List<ModelRecord> out = new ArrayList<>();
        for (ModelRecord m : manifest.models()) {
            if (m.blessed() && (role == null || m.role().equals(role))) {
                out.add(m);
            }
        }
        return Collections.unmodifiableList(out);
    }
}
