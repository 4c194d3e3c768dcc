package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.Test;

/** The profile loop on the real clock with a fake engine (2 ms inferences) and a fake fuel gauge. */
public class ProfileRunnerTest {
    static final long MS = 1_000_000L;

    static RunRequest request(String runs, String duration, String interval, String delegate) {
        return RunRequest.parse("{\"protocol_version\": 1, \"run_id\": \"r1\", \"kind\": \"profile\","
                + " \"bundle_dir\": \"/data/local/tmp/mmnet/bundles/digits\", \"models\": [], \"delegate\": \"" + delegate
                + "\", \"threads\": 2, \"warmup_runs\": 3, \"runs\": " + runs + ", \"duration_s\": " + duration
                + ", \"frame_interval_ms\": " + interval + ", \"energy\": {\"sample_hz\": 200, \"idle_baseline_s\": 0.2},"
                + " \"thermal\": {\"max_status\": 1, \"cooldown_s\": 0, \"max_wait_s\": 0}, \"system\": null}", "test");
    }

    static List<ProfileTarget> targets(Delegate delegate, List<Integer> writes) {
        ProfileTarget.InputWriter writer = buffer -> {
            writes.add(buffer.position());  // the runner hands over a cleared buffer
            buffer.putFloat(1f);
        };
        return Arrays.asList(
                // A packed model: the engine opens its unpacked flatbuffer, whose sha256 differs from the shipped file's.
                new ProfileTarget("minion-a", "a".repeat(64), "c".repeat(64), Paths.get("/cache/" + "c".repeat(64)
                        + ".tflite"), delegate, writer),
                new ProfileTarget("master", "b".repeat(64), "b".repeat(64), Paths.get("/b/models/master.tflite"), delegate,
                        writer));
    }

    static RunResult result(RunRequest request) {
        DeviceInfo device = new DeviceInfo("Google", "Pixel 7", "panther", 34, "14", "Google", "Tensor G2",
                Collections.singletonList("arm64-v8a"), 8, "google/panther/panther:14/...");
        return new RunResult(request, device, new AppInfo("0.1.0", 1, "1.4.0"), new BatteryStatus(false, null, 0.8, 30.0));
    }

    @Test
    public void profilesEveryModel() throws InterruptedException {
        RunRequest request = request("60", "null", "null", "xnnpack");
        Fakes.FakeBattery battery = new Fakes.FakeBattery(2000);
        Fakes.FakeEngine engine = new Fakes.FakeEngine(2 * MS, battery, 6000);
        List<String> messages = new ArrayList<>();
        List<Integer> writes = new ArrayList<>();
        RunResult result = result(request);
        new ProfileRunner(request, engine, battery, null, new Fakes.FakeThermal(Clock.SYSTEM, t -> 0), Clock.SYSTEM,
                new Cancellation(), (f, m) -> messages.add(m)).run(targets(Delegate.XNNPACK, writes), result);

        assertEquals(Arrays.asList("c".repeat(64) + ".tflite@xnnpackx2", "master.tflite@xnnpackx2"), engine.opened);
        assertEquals(2 * (3 + 60), engine.invokes);
        assertEquals(2, engine.closed);
        assertEquals(Collections.nCopies(126, 0), writes);
        assertEquals(2, result.models().size());
        ModelResult m = result.models().get(0);
        assertEquals("minion-a", m.modelId);
        assertEquals(60, m.latenciesMs.length);
        assertEquals(60, m.preprocessingMs.length);
        for (double latency : m.latenciesMs) {
            assertTrue("latency " + latency, latency >= 2.0 && latency < 100);
        }
        assertEquals(Integer.valueOf(0), m.thermalBefore);
        assertEquals(Integer.valueOf(0), m.thermalAfter);
        assertEquals("fuel_gauge", m.energy.source);
        // 4000 mW above idle while an inference runs: 4 mJ per ms of inference (the sampler sees the duty cycle).
        double expected = 4.0 * LatencyStats.of(m.latenciesMs).mean;
        assertEquals(expected, m.energy.mjPerInference, 0.35 * expected);
        assertEquals(0, m.missedDeadlines);
        assertEquals("model 1/2: minion-a: loading on xnnpack", messages.get(0));
        assertTrue(messages.toString(), messages.contains("model 2/2: master: idle baseline"));
        assertTrue(messages.get(messages.size() - 1), messages.get(messages.size() - 1)
                .startsWith("model 2/2: master: median "));
        assertEquals(Collections.emptyList(), result.warnings());

        JsonObject json = result.toJson();
        assertEquals("[protocol_version, run_id, kind, device, app, environment, models, system]",
                json.keySet().toString());
        assertEquals("[model_id, sha256, tflite_sha256, delegate, threads, latencies_ms, preprocessing_ms, energy, "
                + "thermal, started_utc, ended_utc, missed_deadlines]",
                json.getAsJsonArray("models").get(0).getAsJsonObject().keySet().toString());
        JsonObject packed = json.getAsJsonArray("models").get(0).getAsJsonObject();
        assertEquals("a".repeat(64), packed.get("sha256").getAsString());
        assertEquals("c".repeat(64), packed.get("tflite_sha256").getAsString());
        assertTrue(json.get("system").isJsonNull());
    }

    @Test
    public void eachModelRunsOnItsTargetsDelegate() throws InterruptedException {
        RunRequest request = request("2", "null", "null", "xnnpack");
        Fakes.FakeBattery battery = new Fakes.FakeBattery(2000);
        Fakes.FakeEngine engine = new Fakes.FakeEngine(MS, battery, 6000);
        RunResult result = result(request);
        new ProfileRunner(request, engine, battery, null, new Fakes.FakeThermal(Clock.SYSTEM, t -> 0), Clock.SYSTEM,
                new Cancellation(), (f, m) -> { }).run(targets(Delegate.CPU, new ArrayList<>()).subList(0, 1), result);
        assertEquals(Collections.singletonList("c".repeat(64) + ".tflite@cpux2"), engine.opened);
        assertEquals("cpu", result.toJson().getAsJsonArray("models").get(0).getAsJsonObject().get("delegate")
                .getAsString());
    }

    @Test
    public void pacedRunsThatCannotKeepUpAreWarnedAbout() throws InterruptedException {
        RunRequest request = request("10", "null", "1.0", "cpu");   // 1 ms frames, 2 ms inferences
        Fakes.FakeBattery battery = new Fakes.FakeBattery(2000);
        RunResult result = result(request);
        new ProfileRunner(request, new Fakes.FakeEngine(2 * MS, battery, 6000), battery, null,
                new Fakes.FakeThermal(Clock.SYSTEM, t -> 0), Clock.SYSTEM, new Cancellation(), (f, m) -> { })
                .run(targets(request.delegate, new ArrayList<>()).subList(0, 1), result);
        ModelResult m = result.models().get(0);
        assertEquals(10, m.latenciesMs.length);
        assertTrue("missed " + m.missedDeadlines, m.missedDeadlines >= 9);
        assertTrue(result.warnings().toString(), result.warnings().get(0).startsWith("minion-a: "));
        assertTrue(result.warnings().toString(), result.warnings().get(0)
                .endsWith("frame slot(s) missed: the model is slower than the frame interval"));
    }

    @Test
    public void aDurationBoundsTheRuns() throws InterruptedException {
        RunRequest request = request("null", "0.1", "10", "gpu");   // 100 ms paced at 10 ms: about 10 runs
        Fakes.FakeBattery battery = new Fakes.FakeBattery(2000);
        RunResult result = result(request);
        new ProfileRunner(request, new Fakes.FakeEngine(MS, battery, 6000), battery, null,
                new Fakes.FakeThermal(Clock.SYSTEM, t -> 0), Clock.SYSTEM, new Cancellation(), (f, m) -> { })
                .run(targets(request.delegate, new ArrayList<>()).subList(0, 1), result);
        int n = result.models().get(0).latenciesMs.length;
        assertTrue("runs " + n, n >= 2 && n <= 11);  // 11 slots fit in 100 ms; a loaded machine drops some
    }

    @Test
    public void anUnavailableDelegateFailsTheRunWithItsReason() {
        RunRequest request = request("5", "null", "null", "gpu");
        Fakes.FakeBattery battery = new Fakes.FakeBattery(2000);
        Fakes.FakeEngine engine = new Fakes.FakeEngine(MS, battery, 6000);
        engine.failDelegate = "gpu";
        ProfileRunner runner = new ProfileRunner(request, engine, battery, null,
                new Fakes.FakeThermal(Clock.SYSTEM, t -> 0), Clock.SYSTEM, new Cancellation(), (f, m) -> { });
        assertEquals("delegate gpu unavailable: no OpenCL on this phone", assertThrows(EngineException.class,
                () -> runner.run(targets(request.delegate, new ArrayList<>()), result(request))).getMessage());
    }

    @Test
    public void cancellingStopsBetweenRunsAndClosesTheModel() {
        RunRequest request = request("1000", "null", "null", "xnnpack");
        Fakes.FakeBattery battery = new Fakes.FakeBattery(2000);
        Fakes.FakeEngine engine = new Fakes.FakeEngine(MS, battery, 6000);
        Cancellation cancel = new Cancellation();
        List<Integer> writes = new ArrayList<>();
        ProfileTarget slow = new ProfileTarget("m", null, null, Paths.get("/m.tflite"), Delegate.XNNPACK, buffer -> {
            if (writes.size() == 50) {
                cancel.cancel("cancelled by the host");
            }
            writes.add(0);
        });
        ProfileRunner runner = new ProfileRunner(request, engine, battery, null,
                new Fakes.FakeThermal(Clock.SYSTEM, t -> 0), Clock.SYSTEM, cancel, (f, m) -> { });
        assertEquals("cancelled by the host", assertThrows(RunCancelledException.class,
                () -> runner.run(Collections.singletonList(slow), result(request))).getMessage());
        assertEquals(51, engine.invokes);
        assertEquals(1, engine.closed);
    }

    @Test
    public void aHotPhoneIsMeasuredAfterTheGateGivesUpWithAWarning() throws InterruptedException {
        RunRequest request = request("3", "null", "null", "xnnpack");   // max_wait_s 0: give up at once
        Fakes.FakeBattery battery = new Fakes.FakeBattery(2000);
        RunResult result = result(request);
        new ProfileRunner(request, new Fakes.FakeEngine(MS, battery, 6000), battery, null,
                new Fakes.FakeThermal(Clock.SYSTEM, t -> 3), Clock.SYSTEM, new Cancellation(), (f, m) -> { })
                .run(targets(request.delegate, new ArrayList<>()).subList(0, 1), result);
        assertEquals(Collections.singletonList(
                "minion-a: thermal status 3 still above max_status 1 after waiting 0 s (max_wait_s): measured anyway"),
                result.warnings());
        assertEquals(Integer.valueOf(3), result.models().get(0).thermalBefore);
    }

    @Test
    public void profileRunnerTakesOnlyProfileRequests() {
        RunRequest system = RunRequest.parse(RunRequestTest.with("kind", "\"system\"").replace("\"system\":null",
                "\"system\":{\"testset_dir\":\"/t\",\"modes\":[\"normal\"],\"network\":null,\"master_url\":null,"
                        + "\"frame_interval_ms\":null}"), "request.json");
        Fakes.FakeBattery battery = new Fakes.FakeBattery(1);
        assertEquals("ProfileRunner needs a profile request; run 20261124T071500Z-ab12 is a system run",
                assertThrows(IllegalArgumentException.class, () -> new ProfileRunner(system,
                        new Fakes.FakeEngine(1, battery, 1), battery, null, () -> 0, Clock.SYSTEM, new Cancellation(),
                        (f, m) -> { })).getMessage());
    }
}
