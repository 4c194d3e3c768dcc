package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.Arrays;
import org.junit.Test;

public class RunRequestTest {
    /** PROTOCOL.md's example request, comments removed. */
    static final String PROFILE = "{\"protocol_version\": 1, \"run_id\": \"20261124T071500Z-ab12\", \"kind\": \"profile\","
            + " \"bundle_dir\": \"/data/local/tmp/mmnet/bundles/digits\","
            + " \"models\": [\"mobilenet_v2-a0.25-r12-int8\", \"resnet-a1.00-r32-int8\"], \"delegate\": \"xnnpack\","
            + " \"threads\": 4, \"warmup_runs\": 20, \"runs\": 200, \"duration_s\": null, \"frame_interval_ms\": null,"
            + " \"energy\": {\"sample_hz\": 20, \"idle_baseline_s\": 10},"
            + " \"thermal\": {\"max_status\": 1, \"cooldown_s\": 60, \"max_wait_s\": 600}, \"system\": null}";

    static String with(String field, String json) {
        JsonObject doc = JsonParser.parseString(PROFILE).getAsJsonObject();
        if (json == null) {
            doc.remove(field);
        } else {
            doc.add(field, JsonParser.parseString(json));
        }
        return doc.toString();
    }

    static String error(String text) {
        return assertThrows(InvalidRequestException.class, () -> RunRequest.parse(text, "request.json")).getMessage();
    }

    @Test
    public void parsesTheProtocolExample() {
        RunRequest r = RunRequest.parse(PROFILE, "request.json");
        assertEquals("20261124T071500Z-ab12", r.runId);
        assertEquals(RunRequest.Kind.PROFILE, r.kind);
        assertEquals("/data/local/tmp/mmnet/bundles/digits", r.bundleDir);
        assertEquals(Arrays.asList("mobilenet_v2-a0.25-r12-int8", "resnet-a1.00-r32-int8"), r.models);
        assertEquals(Delegate.XNNPACK, r.delegate);
        assertEquals(4, r.threads);
        assertEquals(20, r.warmupRuns);
        assertEquals(Integer.valueOf(200), r.runs);
        assertNull(r.durationS);
        assertNull(r.frameIntervalMs);
        assertEquals(20.0, r.energy.sampleHz, 0);
        assertEquals(10.0, r.energy.idleBaselineS, 0);
        assertEquals(1, r.thermal.maxStatus);
        assertEquals(60.0, r.thermal.cooldownS, 0);
        assertEquals(600.0, r.thermal.maxWaitS, 0);
        assertNull(r.system);
        r.requireRunId("20261124T071500Z-ab12");
    }

    @Test
    public void parsesASystemRun() {
        String text = with("kind", "\"system\"").replace("\"system\":null",
                "\"system\":{\"testset_dir\":\"/data/local/tmp/mmnet/runs/r1/testset\",\"modes\":[\"normal\",\"private\"],"
                        + "\"network\":\"lte\",\"master_url\":\"http://192.0.2.1:8501\",\"frame_interval_ms\":1000}");
        RunRequest r = RunRequest.parse(text, "request.json");
        assertEquals(RunRequest.Kind.SYSTEM, r.kind);
        assertEquals("/data/local/tmp/mmnet/runs/r1/testset", r.system.testsetDir);
        assertEquals(Arrays.asList("normal", "private"), r.system.modes);
        assertEquals("lte", r.system.network);
        assertEquals("http://192.0.2.1:8501", r.system.masterUrl);
        assertEquals(1000.0, r.system.frameIntervalMs, 0);
    }

    @Test
    public void durationInsteadOfRuns() {
        RunRequest r = RunRequest.parse(with("runs", "null").replace("\"duration_s\":null", "\"duration_s\":30.5"), "r");
        assertNull(r.runs);
        assertEquals(30.5, r.durationS, 0);
    }

    @Test
    public void errorsNameTheFieldTheValueAndTheExpectation() {
        assertEquals("request.json: delegate is \"tpu\"; expected one of \"cpu\", \"xnnpack\", \"gpu\", \"nnapi\"",
                error(with("delegate", "\"tpu\"")));
        assertEquals("request.json: threads is 0; expected an integer in [1, 64]", error(with("threads", "0")));
        assertEquals("request.json: threads is 2.5; expected an integer in [1, 64]", error(with("threads", "2.5")));
        assertEquals("request.json: warmup_runs is missing", error(with("warmup_runs", null)));
        assertEquals("request.json: runs is 200 and duration_s is 5.0; expected exactly one of them to be set",
                error(with("duration_s", "5")));
        assertEquals("request.json: runs is null and duration_s is null; expected exactly one of them to be set",
                error(with("runs", "null")));
        assertEquals("request.json energy: sample_hz is 5; expected a number >= 10 and <= 1000",
                error(with("energy", "{\"sample_hz\": 5, \"idle_baseline_s\": 10}")));
        assertEquals("request.json thermal: max_status is 7; expected an integer in [0, 6]",
                error(with("thermal", "{\"max_status\": 7, \"cooldown_s\": 0, \"max_wait_s\": 0}")));
        assertEquals("request.json: frame_interval_ms is 0; expected a number > 0 and <= 60000",
                error(with("frame_interval_ms", "0")));
        assertEquals("request.json: system is set for a profile run; expected null",
                error(with("system", "{\"modes\": []}")));
        assertEquals("request.json: bundle_dir is \"bundles/digits\"; expected an absolute path on the phone",
                error(with("bundle_dir", "\"bundles/digits\"")));
        assertEquals("request.json: models names \"a\" twice", error(with("models", "[\"a\", \"a\"]")));
    }

    @Test
    public void runIdMustBeSafeForADirectoryName() {
        assertEquals("request.json: run_id is \"../evil\"; expected letters, digits, '.', '_' or '-' (it names a directory)",
                error(with("run_id", "\"../evil\"")));
    }

    @Test
    public void runIdCheckForIntentExtras() {
        assertTrue(RunRequest.isValidRunId("20261124T071500Z-ab12"));
        assertFalse(RunRequest.isValidRunId(null));
        assertFalse(RunRequest.isValidRunId(".."));
        assertFalse(RunRequest.isValidRunId("a/b"));
    }

    @Test
    public void protocolVersionMustMatch() {
        assertTrue(error(with("protocol_version", "2")).startsWith("request.json: protocol_version is 2; this app speaks 1"));
    }

    @Test
    public void unknownFieldsAreRejected() {
        assertEquals("request.json: the request has unknown field(s) [extra]; expected only [bundle_dir, delegate, "
                        + "duration_s, energy, frame_interval_ms, kind, models, protocol_version, run_id, runs, system, "
                        + "thermal, threads, warmup_runs]",
                error(with("extra", "1")));
    }

    @Test
    public void lenientJsonIsRejected() {
        assertTrue(error("{\"protocol_version\": 1, // a comment\n}").startsWith("request.json: not valid JSON"));
        assertTrue(error(PROFILE + " {}").startsWith("request.json: "));
        assertEquals("request.json: expected a JSON object, got [1]", error("[1]"));
    }

    @Test
    public void systemRunsNeedModesAndAnHttpMaster() {
        String base = with("kind", "\"system\"");
        assertEquals("request.json: system is null; expected an object", error(base));
        assertEquals("request.json system: modes is []; expected at least one runtime mode",
                error(base.replace("\"system\":null", "\"system\":{\"testset_dir\":\"/t\",\"modes\":[],"
                        + "\"network\":null,\"master_url\":null,\"frame_interval_ms\":null}")));
        assertEquals("request.json system: master_url is \"ftp://x\"; expected null or an http(s):// URL",
                error(base.replace("\"system\":null", "\"system\":{\"testset_dir\":\"/t\",\"modes\":[\"normal\"],"
                        + "\"network\":null,\"master_url\":\"ftp://x\",\"frame_interval_ms\":null}")));
    }

    @Test
    public void intentAndRequestMustNameTheSameRun() {
        RunRequest r = RunRequest.parse(PROFILE, "request.json");
        assertEquals("request.json: run_id is \"20261124T071500Z-ab12\" but the intent's run_id extra is \"other\"; "
                        + "expected the same id",
                assertThrows(InvalidRequestException.class, () -> r.requireRunId("other")).getMessage());
    }
}
