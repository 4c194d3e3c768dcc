package org.mmnet.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import java.util.List;
import org.junit.Test;

public class DeviceProfileTest {
    private static final String SHA = "dc0a3c809385147c7e263d661602a39461bc478694df6a2d6b21ad083aefdff1";
    /** A shipped minion of the digits bundle, measured with a file digest. */
    private static final String MINION = Fixtures.shippedInt8Minion().get("id").getAsString();
    /** The digits master, measured without a digest (sha256 null) and without energy. */
    private static final String MASTER = Fixtures.masterId();

    /** A profile as the host driver writes one from a phone (schema device_profile 1.0). */
    private static JsonObject profile() {
        return JsonNode.parse("{\"schema_version\": \"1.0\","
                + "\"device\": {\"name\": \"pixel7\", \"kind\": \"android\", \"manufacturer\": \"Google\", \"model\": \"Pixel 7\","
                + " \"os\": \"Android 14\", \"soc\": \"Tensor G2\", \"cpu_cores\": 8},"
                + "\"source\": {\"tool\": \"mmnet harness\", \"created_utc\": \"2026-11-24T07:15:00Z\", \"notes\": \"\"},"
                + "\"compute_power_w\": {\"value\": 2.5, \"measured\": true, \"source\": \"fuel gauge\"},"
                + "\"models\": {"
                + " \"" + MINION + "\": {\"sha256\": \"" + SHA + "\", \"latency_ms\": {\"median\": 0.4, \"p90\": 0.5,"
                + "  \"mean\": 0.42, \"min\": 0.35, \"runs\": 200}, \"energy_mj\": 0.9, \"energy_source\": \"measured\","
                + "  \"delegate\": \"xnnpack\", \"threads\": 4},"
                + " \"" + MASTER + "\": {\"sha256\": null, \"latency_ms\": {\"median\": 3.0, \"p90\": 3.5, \"mean\": 3.1,"
                + "  \"runs\": 200}, \"energy_mj\": null, \"energy_source\": null, \"delegate\": null, \"threads\": null}},"
                + "\"preprocessing_ms\": {\"12\": 0.05, \"32\": 0.2}}", "pixel7.json").element().getAsJsonObject();
    }

    private static DeviceProfile parse(JsonObject doc) {
        return DeviceProfile.parse(doc.toString(), "pixel7.json");
    }

    @Test
    public void readsLatencyEnergyAndPreprocessing() {
        DeviceProfile p = parse(profile());
        assertEquals("pixel7", p.name());
        assertEquals("android", p.kind());
        assertEquals(0.4, p.latencyMs(MINION), 0.0);
        assertEquals("measured", p.energyMj(MINION).source);
        DeviceProfile.Energy estimated = p.energyMj(MASTER);
        assertEquals(7.5, estimated.mj, 1e-12);
        assertEquals("estimated: 2.5 W x 3 ms", estimated.source);
        assertEquals(0.2, p.preprocessingMs(32), 0.0);
        assertNull(p.preprocessingMs(16));
        ConfigException e = assertThrows(ConfigException.class, () -> p.latencyMs("nope"));
        assertTrue(e.getMessage(), e.getMessage().contains("has no model 'nope'"));
    }

    @Test
    public void warnsAboutMissingModelsAndOtherFiles() {
        JsonObject doc = profile();
        doc.getAsJsonObject("models").getAsJsonObject(MINION).addProperty("sha256", SHA.replace('d', 'e'));
        List<String> warnings = parse(doc).warningsFor(Fixtures.manifest());
        assertTrue(warnings.toString(), warnings.stream().anyMatch(w -> w.contains("measured on a different file")));
        String unmeasured = Fixtures.manifestModel(m -> Fixtures.shipped(m) && !m.get("id").getAsString().equals(MINION)
                && !m.get("id").getAsString().equals(MASTER), "shipped model besides the profile's two").get("id").getAsString();
        assertTrue(warnings.toString(), warnings.stream().anyMatch(w -> w.contains("has no model '" + unmeasured + "'")));
        assertTrue(warnings.toString(), warnings.stream().noneMatch(w -> w.contains("'" + MASTER + "'")));
    }

    @Test
    public void latencyOrderAndEnergyPairingAreChecked() {
        JsonObject order = profile();
        order.getAsJsonObject("models").getAsJsonObject(MASTER).getAsJsonObject("latency_ms").addProperty("p90", 2.0);
        BundleException e = assertThrows(BundleException.class, () -> parse(order));
        assertEquals("pixel7.json: $.models['" + MASTER + "'].latency_ms: median is 3.0, above p90 2.0; expected median <= p90",
                e.getMessage());
        JsonObject energy = profile();
        energy.getAsJsonObject("models").getAsJsonObject(MASTER).addProperty("energy_mj", 1.0);
        e = assertThrows(BundleException.class, () -> parse(energy));
        assertTrue(e.getMessage(), e.getMessage().endsWith("energy_mj is 1.0 and energy_source is null; expected both null or both set"));
    }

    @Test
    public void unknownKeysAndBadValuesAreNamed() {
        JsonObject kind = profile();
        kind.getAsJsonObject("device").addProperty("kind", "phone");
        assertEquals("pixel7.json: $.device.kind: is \"phone\"; expected one of ['host', 'android', 'other']",
                assertThrows(BundleException.class, () -> parse(kind)).getMessage());
        JsonObject typo = profile();
        typo.getAsJsonObject("device").addProperty("cpu_core", 8);
        assertTrue(assertThrows(BundleException.class, () -> parse(typo)).getMessage().contains("unknown keys [cpu_core]"));
        JsonObject time = profile();
        time.getAsJsonObject("source").addProperty("created_utc", "yesterday");
        assertTrue(assertThrows(BundleException.class, () -> parse(time)).getMessage().contains("expected UTC time"));
    }
}
