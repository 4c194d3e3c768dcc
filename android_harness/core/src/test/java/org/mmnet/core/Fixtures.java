package org.mmnet.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/** The digits bundle's documents (the parity resources) and small bundle directories built from them. */
public final class Fixtures {
    private Fixtures() {
    }

    /** A test resource as UTF-8 text, e.g. "parity/manifest.json". */
    public static String resource(String path) {
        try (InputStream in = Fixtures.class.getResourceAsStream("/" + path)) {
            if (in == null) {
                throw new AssertionError("test resource /" + path + " is missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new AssertionError("cannot read test resource /" + path + ": " + e, e);
        }
    }

    /** A test resource's bytes, e.g. "parity-sieve/models/x.packed". */
    public static byte[] resourceBytes(String path) {
        try (InputStream in = Fixtures.class.getResourceAsStream("/" + path)) {
            if (in == null) {
                throw new AssertionError("test resource /" + path + " is missing");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new AssertionError("cannot read test resource /" + path + ": " + e, e);
        }
    }

    public static JsonObject manifestJson() {
        return JsonNode.parse(resource("parity/manifest.json"), "manifest.json").element().getAsJsonObject();
    }

    public static JsonObject configJson() {
        return JsonNode.parse(resource("parity/runtime_config.json"), "runtime_config.json").element().getAsJsonObject();
    }

    /** The master model the runtime config names ($.master.model), e.g. the device master of every selection. */
    public static String masterId() {
        return configJson().getAsJsonObject("master").get("model").getAsString();
    }

    /** Whether a manifest model entry ships a file (a rejected artifact has file null). */
    public static boolean shipped(JsonObject model) {
        return !model.get("file").isJsonNull();
    }

    /** The first manifest model entry (in manifest order) that {@code which} accepts; {@code what} names it in the failure. */
    public static JsonObject manifestModel(Predicate<JsonObject> which, String what) {
        for (JsonElement e : manifestJson().getAsJsonArray("models")) {
            if (which.test(e.getAsJsonObject())) {
                return e.getAsJsonObject();
            }
        }
        throw new AssertionError("parity/manifest.json has no " + what);
    }

    /** The first shipped minion with an int8 input (scale and zero point), e.g. for quantization checks. */
    public static JsonObject shippedInt8Minion() {
        return manifestModel(m -> shipped(m) && "minion".equals(m.get("role").getAsString())
                && "int8".equals(m.getAsJsonObject("input").get("dtype").getAsString()), "shipped int8 minion");
    }

    /** $.selection[profile][mode] of the digits config. */
    public static JsonObject selectionJson(JsonObject configDoc, String profile, String mode) {
        return configDoc.getAsJsonObject("selection").getAsJsonObject(profile).getAsJsonObject(mode);
    }

    /** The system the digits config selects for a profile and mode ($.selection[profile][mode].system). */
    public static String configuredSystem(String profile, String mode) {
        return selectionJson(configJson(), profile, mode).get("system").getAsString();
    }

    /** The minion model ids of a system of the digits config, in order ($.systems[system].minions). */
    public static List<String> minionsOf(String system) {
        List<String> out = new ArrayList<>();
        for (JsonElement e : configJson().getAsJsonObject("systems").getAsJsonObject(system).getAsJsonArray("minions")) {
            out.add(e.getAsString());
        }
        return out;
    }

    public static Manifest manifest() {
        return Manifest.parse(resource("parity/manifest.json"), "manifest.json");
    }

    public static RuntimeConfig config(JsonObject doc) {
        Manifest m = manifest();
        return RuntimeConfig.fromJson(JsonNode.of(doc, "runtime_config.json"), m.numClasses(), m.shippedModels());
    }

    /** The digits bundle, parsed documents only (no model files). */
    public static Bundle bundle(JsonObject configDoc) {
        return Bundle.fromDocuments(null, manifest(), config(configDoc));
    }

    static void write(File file, byte[] data) throws IOException {
        file.getParentFile().mkdirs();
        Files.write(file.toPath(), data);
    }

    /**
     * A complete bundle directory with the digits manifest and config, every shipped model replaced
     * by a few bytes whose size and sha256 the manifest records.
     */
    public static File bundleDir(File dir) throws IOException {
        JsonObject manifest = manifestJson();
        for (JsonElement e : manifest.getAsJsonArray("models")) {
            JsonObject m = e.getAsJsonObject();
            if (m.get("file").isJsonNull()) {
                continue;
            }
            byte[] data = ("fake model " + m.get("id").getAsString()).getBytes(StandardCharsets.UTF_8);
            write(new File(dir, m.get("file").getAsString()), data);
            m.addProperty("sha256", Sha256.ofBytes(data));
            m.addProperty("bytes", data.length);
        }
        byte[] config = resource("parity/runtime_config.json").getBytes(StandardCharsets.UTF_8);
        write(new File(dir, "runtime_config.json"), config);
        JsonObject ref = manifest.getAsJsonObject("runtime_config");
        ref.addProperty("file", "runtime_config.json");
        ref.addProperty("sha256", Sha256.ofBytes(config));
        ref.addProperty("bytes", config.length);
        StringBuilder labels = new StringBuilder();
        for (JsonElement l : manifest.getAsJsonArray("labels")) {
            labels.append(l.getAsString()).append('\n');
        }
        write(new File(dir, "labels.txt"), labels.toString().getBytes(StandardCharsets.UTF_8));
        writeManifest(dir, manifest);
        return dir;
    }

    public static void writeManifest(File dir, JsonObject manifest) throws IOException {
        write(new File(dir, "manifest.json"), manifest.toString().getBytes(StandardCharsets.UTF_8));
    }

    public static JsonObject readManifest(File dir) throws IOException {
        return JsonNode.parse(new String(Files.readAllBytes(new File(dir, "manifest.json").toPath()), StandardCharsets.UTF_8),
                "manifest.json").element().getAsJsonObject();
    }
}
