package org.mmnet.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.Arrays;
import java.util.Collections;
import org.junit.Test;

public class RuntimeConfigTest {
    /** The system the digits config selects for LTE in normal mode (a pair of minions). */
    private static final String PAIR = Fixtures.configuredSystem("lte", "normal");

    private static BundleException rejected(JsonObject doc) {
        return assertThrows(BundleException.class, () -> Fixtures.config(doc));
    }

    @Test
    public void readsTheDigitsConfig() {
        JsonObject doc = Fixtures.configJson();
        RuntimeConfig c = Fixtures.config(doc);
        assertEquals("lte", c.defaultProfile());
        assertEquals(Arrays.asList("3g", "lte", "wifi"), new java.util.ArrayList<>(c.profiles().keySet()));
        assertTrue(PAIR, PAIR.startsWith("pair:"));
        assertEquals(PAIR, c.selection("lte", Mode.NORMAL).system);
        assertEquals(Placement.parse(Fixtures.selectionJson(doc, "wifi", "mission_critical").get("placement").getAsString()),
                c.selection("wifi", Mode.MISSION_CRITICAL).placement);
        assertTrue(c.mode(Mode.PRIVATE).minions);
        assertFalse(c.mode(Mode.PRIVATE).cloud);
        assertNull(c.mode(Mode.MISSION_CRITICAL).thresholds);
        RuntimeConfig.Tuned tuned = c.tuned(PAIR, Mode.POWER_SAVING);
        assertEquals(10, tuned.thresholds().length);
        assertNull(tuned.disagreementThreshold);
        assertEquals(doc.getAsJsonObject("upload").get("bytes").getAsInt(), c.upload().bytes);
        assertEquals(doc.getAsJsonObject("server_load").get("probe_interval_s").getAsDouble(), c.probeIntervalS(), 0.0);
        String minion = Fixtures.minionsOf(PAIR).get(0);
        assertEquals(doc.getAsJsonObject("detector").getAsJsonObject("temperatures").get(minion).getAsDouble(),
                c.temperature(minion), 0.0);
        ConfigException e = assertThrows(ConfigException.class, () -> c.tuned(PAIR, Mode.MISSION_CRITICAL));
        assertTrue(e.getMessage(), e.getMessage().contains("runs no minions"));
    }

    @Test
    public void thresholdVectorsHaveOnePerClass() {
        JsonObject doc = Fixtures.configJson();
        JsonArray t = doc.getAsJsonObject("systems").getAsJsonObject(PAIR).getAsJsonObject("modes")
                .getAsJsonObject("normal").getAsJsonArray("thresholds");
        t.remove(0);
        BundleException e = rejected(doc);
        assertEquals("runtime_config.json: $.systems['" + PAIR + "'].modes.normal.thresholds: has 9 values; expected one per class (10)",
                e.getMessage());
    }

    @Test
    public void thresholdsLieInZeroToNever() {
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("systems").getAsJsonObject(PAIR).getAsJsonObject("modes").getAsJsonObject("normal")
                .getAsJsonArray("thresholds").set(3, new com.google.gson.JsonPrimitive(1.5));
        BundleException e = rejected(doc);
        assertTrue(e.getMessage(), e.getMessage().endsWith(".thresholds[3]: is 1.5; expected a number in [0, 1.01]"));
    }

    @Test
    public void selectionNamesOnlyDefinedSystems() {
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("selection").getAsJsonObject("wifi").getAsJsonObject("normal").getAsJsonArray("runner_ups")
                .add("pair:nowhere+nothing");
        BundleException e = rejected(doc);
        assertEquals("runtime_config.json: $.selection.wifi.normal: names system 'pair:nowhere+nothing', which is not defined in $.systems",
                e.getMessage());
    }

    @Test
    public void aPrivateModeMasterStaysOnTheDevice() {
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("selection").getAsJsonObject("3g").getAsJsonObject("private").addProperty("placement", "cloud");
        BundleException e = rejected(doc);
        assertTrue(e.getMessage(), e.getMessage().contains("$.selection['3g'].private.placement: is 'cloud'; mode private never leaves the device"));
    }

    @Test
    public void aModeRunsMinionsExactlyWhenItNamesThresholds() {
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("modes").getAsJsonObject("mission_critical").addProperty("thresholds", "normal");
        assertTrue(rejected(doc).getMessage().contains("expected a mode to run minions exactly when it names thresholds"));
    }

    @Test
    public void serverLoadSettingsAreRangeChecked() {
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("server_load").addProperty("rtt_smoothing", 1.5);
        assertEquals("runtime_config.json: $.server_load.rtt_smoothing: is 1.5; expected a number in (0, 1]", rejected(doc).getMessage());
        JsonObject probe = Fixtures.configJson();
        probe.getAsJsonObject("server_load").addProperty("probe_interval_s", 0);
        assertEquals("runtime_config.json: $.server_load.probe_interval_s: is 0; expected a number > 0", rejected(probe).getMessage());
    }

    @Test
    public void latencyEntriesMayNameTheResolutionTheyPrepare() {
        String model = Fixtures.minionsOf(PAIR).get(0);
        JsonObject asBuilt = Fixtures.configJson();
        com.google.gson.JsonElement built = asBuilt.getAsJsonObject("latency").getAsJsonObject(model).get("resolution");
        Integer parsed = Fixtures.config(asBuilt).latency().get(model).resolution;
        if (built == null || built.isJsonNull()) {
            assertNull(parsed);
        } else {
            assertEquals(Integer.valueOf(built.getAsInt()), parsed);
        }
        // An entry without a resolution prepares none.
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("latency").getAsJsonObject(model).remove("resolution");
        assertNull(Fixtures.config(doc).latency().get(model).resolution);
        doc.getAsJsonObject("latency").getAsJsonObject(model).addProperty("resolution", 16);
        assertEquals(Integer.valueOf(16), Fixtures.config(doc).latency().get(model).resolution);
        doc.getAsJsonObject("latency").getAsJsonObject(model).addProperty("resolution", 0);
        assertEquals("runtime_config.json: $.latency['" + model + "'].resolution: is 0; expected an integer >= 1",
                rejected(doc).getMessage());
        doc.getAsJsonObject("latency").getAsJsonObject(model).addProperty("resolution", "16");
        assertTrue(rejected(doc).getMessage(), rejected(doc).getMessage().contains("resolution"));
    }

    @Test
    public void aJpegUploadNamesItsQuality() {
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("upload").addProperty("encoding", "jpeg");
        assertEquals("runtime_config.json: $.upload: jpeg_quality is given exactly when encoding is 'jpeg' "
                + "(encoding 'jpeg', jpeg_quality null)", rejected(doc).getMessage());
        doc.getAsJsonObject("upload").addProperty("jpeg_quality", 80);
        RuntimeConfig c = Fixtures.config(doc);
        assertEquals("jpeg", c.upload().encoding);
        assertEquals(Integer.valueOf(80), c.upload().jpegQuality);
        doc.getAsJsonObject("upload").addProperty("encoding", "png");
        assertTrue(rejected(doc).getMessage().contains("jpeg_quality is given exactly when encoding is 'jpeg'"));
    }

    @Test
    public void everyNamedModelMustBeShipped() {
        Manifest m = Fixtures.manifest();
        JsonNode doc = JsonNode.of(Fixtures.configJson(), "runtime_config.json");
        String master = Fixtures.masterId();
        // Shipping only the master leaves every minion the config names (detector temperatures, latency) unshipped.
        java.util.TreeSet<String> named = new java.util.TreeSet<>(Fixtures.configJson().getAsJsonObject("latency").keySet());
        named.addAll(Fixtures.configJson().getAsJsonObject("detector").getAsJsonObject("temperatures").keySet());
        named.remove(master);
        BundleException e = assertThrows(BundleException.class,
                () -> RuntimeConfig.fromJson(doc, m.numClasses(), Collections.singletonList(master)));
        assertTrue(e.getMessage(), e.getMessage().startsWith("runtime_config.json: models [" + named.first()));
        assertTrue(e.getMessage(), e.getMessage().endsWith("are not shipped in the bundle"));
        assertEquals("runtime_config.json: models " + named + " are not shipped in the bundle", e.getMessage());
    }

    @Test
    public void theDefaultProfileMustExist() {
        JsonObject doc = Fixtures.configJson();
        doc.addProperty("default_profile", "5g");
        assertEquals("runtime_config.json: $.default_profile: is '5g', not one of $.network_profiles [3g, lte, wifi]",
                rejected(doc).getMessage());
    }
}
