package org.mmnet.harness;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import android.os.BatteryManager;
import android.os.PowerManager;
import android.os.PowerMonitor;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.mmnet.core.Bundle;
import org.mmnet.core.measure.Cancellation;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.annotation.Config;

/**
 * Whole profile runs of the app (HarnessRun: request.json to result.json) on Android 15 under Robolectric, with
 * the app's own BatteryManager, PowerManager and power-monitor readers, scripted readings and virtual time.
 *
 * <p>The script every test starts from: 4.000 V throughout; 100 mA discharge (400 mW) idle and 350 mA (1400 mW)
 * while an inference runs; each inference takes 20 ms; the gauge is sampled at 100 Hz from t = 0; a 1 s idle
 * baseline, 2 warm-up and 10 timed runs. So the baseline window is [0, 1000] ms, the warm-up 1000-1040 ms and the
 * timed runs' window [1040, 1240] ms, 0.2 s.
 */
@RunWith(RobolectricTestRunner.class)
@Config(shadows = ScriptedPowerMonitors.class)
public class ProfileRunRobolectricTest {
    static final long IDLE_UA = -100_000;
    static final long ACTIVE_UA = -350_000;
    static final String MODEL = "resnet-a1.00-r32-int8";
    static final String OTHER = "mobilenet_v2-a0.25-r12-float32";

    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    ScriptedPhone phone;
    Path bundleDir;
    Bundle bundle;
    LockstepClock clock;

    @Before
    public void setUp() throws IOException {
        ScriptedPowerMonitors.reset();
        phone = new ScriptedPhone(IDLE_UA);
        bundleDir = ScriptedPhone.bundle(tmp.newFolder("bundle").toPath());
        bundle = Bundle.load(bundleDir.toFile());
        clock = new LockstepClock(1);
    }

    ScriptedPhone.Engine engine(double invokeMs, long idleMicroAmps, long activeMicroAmps) {
        return phone.new Engine(clock, bundle, invokeMs, idleMicroAmps, activeMicroAmps);
    }

    static JsonArray models(String... ids) {
        JsonArray out = new JsonArray();
        for (String id : ids) {
            out.add(id);
        }
        return out;
    }

    /** Runs the request to its end and returns result.json; status.json must say done. */
    JsonObject run(String runId, ScriptedPhone.Engine engine, JsonArray models, String... overrides)
            throws IOException {
        Path request = ScriptedPhone.request(tmp.getRoot().toPath(), runId, bundleDir, models, overrides);
        new HarnessRun(phone.context, runId, request.toString(), new Cancellation(), engine, clock,
                tmp.getRoot().toPath().resolve("unpacked").toFile()).execute();
        JsonObject status = ScriptedPhone.json(phone.runDir(runId).resolve("status.json"));
        assertEquals(status.toString(), "done", status.get("state").getAsString());
        return ScriptedPhone.json(phone.runDir(runId).resolve("result.json"));
    }

    static JsonObject model(JsonObject result, int i) {
        return result.getAsJsonArray("models").get(i).getAsJsonObject();
    }

    static JsonObject energy(JsonObject result) {
        return model(result, 0).getAsJsonObject("energy");
    }

    static String warnings(JsonObject result) {
        return result.getAsJsonObject("environment").getAsJsonArray("warnings").toString();
    }

    @Test
    public void aProfileRunMeasuresEnergyPerInferenceFromTheFuelGauge() throws IOException {
        // No power monitors on this phone: the fuel gauge is the source.
        // Baseline samples at 0, 10, ..., 1000 ms (101) all read 100 mA x 4.000 V = 400 mW.
        // Timed-run samples at 1040 (taken as the last warm-up ends, still drawing), 1050, ..., 1240 ms (21) all read
        // 350 mA x 4.000 V = 1400 mW.
        // Energy per inference = (1400 - 400) mW x 0.2 s / 10 runs = 20 mJ.
        JsonObject result = run("gauge", engine(20, IDLE_UA, ACTIVE_UA), models(MODEL));
        JsonObject energy = energy(result);
        assertEquals(energy.toString(), "fuel_gauge", energy.get("source").getAsString());
        assertEquals(energy.toString(), 20.0, energy.get("mj_per_inference").getAsDouble(), 1e-9);
        assertEquals(400.0, energy.get("idle_baseline_mw").getAsDouble(), 1e-9);
        assertEquals(1400.0, energy.get("active_mw").getAsDouble(), 1e-9);
        assertEquals(101 + 21, energy.get("samples").getAsInt());
        assertTrue(energy.get("note").getAsString(), energy.get("note").getAsString()
                .contains("power monitors: this phone exposes no power monitors"));
        JsonObject m = model(result, 0);
        assertEquals(10, m.getAsJsonArray("latencies_ms").size());
        for (int i = 0; i < 10; i++) {
            assertEquals(20.0, m.getAsJsonArray("latencies_ms").get(i).getAsDouble(), 1e-9);
        }
        assertEquals(MODEL, m.get("model_id").getAsString());
        assertEquals(0, m.getAsJsonObject("thermal").get("status_before").getAsInt());
        assertEquals(false, result.getAsJsonObject("environment").get("charging").getAsBoolean());
        assertEquals(0.8, result.getAsJsonObject("environment").get("battery_level").getAsDouble(), 1e-12);
        assertEquals(30.0, result.getAsJsonObject("environment").get("battery_temp_c").getAsDouble(), 1e-12);
        assertEquals(35, result.getAsJsonObject("device").get("sdk_int").getAsInt());
    }

    @Test
    public void onApi35ThePowerMonitorsAreTheSourceAndTheGaugeTheirCrossCheck() throws IOException {
        // One rail drawing 300 mW idle and 1100 mW during an inference (+800 mW x 20 ms = 16,000 µJ each), read at the
        // window edges with timestamps in virtual ms; a CONSUMER monitor beside it, which the rails outrank.
        // Baseline: 300 mW. Timed runs: (300 mW x 200 ms + 10 x 16,000 µJ) / 200 ms = 1100 mW.
        // Energy per inference = (1100 - 300) mW x 0.2 s / 10 = 16 mJ; the gauge's 20 mJ goes into the note.
        PowerMonitor rail = ScriptedPowerMonitors.add("S4M_VDD_CPUCL0", PowerMonitor.POWER_MONITOR_TYPE_MEASUREMENT);
        ScriptedPowerMonitors.add("CPU", PowerMonitor.POWER_MONITOR_TYPE_CONSUMER);
        ScriptedPhone.Engine engine = engine(20, IDLE_UA, ACTIVE_UA);
        ScriptedPowerMonitors.energy = m -> m.getName().equals(rail.getName())
                ? 300 * (clock.nanoTime() / 1_000_000) + 16_000L * engine.invokes : 5_000_000;
        ScriptedPowerMonitors.timestampMillis = m -> clock.nanoTime() / 1_000_000;
        JsonObject energy = energy(run("rails", engine, models(MODEL)));
        assertEquals(energy.toString(), "power_monitor", energy.get("source").getAsString());
        assertEquals(energy.toString(), 16.0, energy.get("mj_per_inference").getAsDouble(), 1e-9);
        assertEquals(300.0, energy.get("idle_baseline_mw").getAsDouble(), 1e-9);
        assertEquals(1100.0, energy.get("active_mw").getAsDouble(), 1e-9);
        String note = energy.get("note").getAsString();
        assertTrue(note, note.contains("1 power monitor(s) summed") && note.contains("fuel gauge: 20.0000 mJ/inference"));
    }

    @Test
    public void aChargerPluggedInDuringTheRunsLeavesNoEnergyNumber() throws IOException {
        clock.at(LockstepClock.ms(1100), () -> phone.plug(BatteryManager.BATTERY_PLUGGED_USB));
        JsonObject result = run("charging-mid-run", engine(20, IDLE_UA, ACTIVE_UA), models(MODEL));
        JsonObject energy = energy(result);
        assertTrue(energy.toString(), energy.get("mj_per_inference").isJsonNull());
        assertTrue(energy.toString(), energy.get("note").getAsString().contains("the phone was charging"));
        assertEquals(false, result.getAsJsonObject("environment").get("charging").getAsBoolean());
    }

    @Test
    public void aPhoneChargingFromTheStartIsFlaggedAndGetsNoEnergyNumber() throws IOException {
        phone.plug(BatteryManager.BATTERY_PLUGGED_AC);
        JsonObject result = run("charging", engine(20, IDLE_UA, ACTIVE_UA), models(MODEL));
        assertEquals(true, result.getAsJsonObject("environment").get("charging").getAsBoolean());
        assertTrue(warnings(result), warnings(result).contains("the phone is charging (ac)"));
        assertTrue(energy(result).get("mj_per_inference").isJsonNull());
    }

    @Test
    public void throttlingDuringAModelIsRecordedAndTheNextModelWaitsForTheCoolDown() throws IOException {
        // SEVERE from 1100 ms (during the first model's timed runs, which end at 1240 ms) until 5000 ms. The second
        // model's gate polls every second from 1240 ms: it sees the phone cool at 5240 ms and rests cooldown_s (2 s)
        // more, so it waits 6 s and is measured at status NONE.
        clock.at(LockstepClock.ms(1100), () -> phone.thermal(PowerManager.THERMAL_STATUS_SEVERE));
        clock.at(LockstepClock.ms(5000), () -> phone.thermal(PowerManager.THERMAL_STATUS_NONE));
        JsonObject result = run("throttled", engine(20, IDLE_UA, ACTIVE_UA), models(MODEL, OTHER));
        JsonObject first = model(result, 0).getAsJsonObject("thermal");
        JsonObject second = model(result, 1).getAsJsonObject("thermal");
        assertEquals(first.toString(), 0, first.get("status_before").getAsInt());
        assertEquals(first.toString(), PowerManager.THERMAL_STATUS_SEVERE, first.get("status_after").getAsInt());
        assertEquals(second.toString(), 6.0, second.get("cooldown_waited_s").getAsDouble(), 1e-9);
        assertEquals(second.toString(), 0, second.get("status_before").getAsInt());
        assertEquals(second.toString(), 0, second.get("status_after").getAsInt());
    }

    @Test
    public void aPhoneThatStaysHotIsMeasuredAfterMaxWaitWithAWarning() throws IOException {
        phone.thermal(PowerManager.THERMAL_STATUS_MODERATE);
        JsonObject result = run("hot", engine(20, IDLE_UA, ACTIVE_UA), models(MODEL),
                "thermal", "{\"max_status\": 1, \"cooldown_s\": 2, \"max_wait_s\": 5}");
        JsonObject thermal = model(result, 0).getAsJsonObject("thermal");
        assertEquals(5.0, thermal.get("cooldown_waited_s").getAsDouble(), 1e-9);
        assertEquals(PowerManager.THERMAL_STATUS_MODERATE, thermal.get("status_before").getAsInt());
        assertTrue(warnings(result), warnings(result).contains("thermal status 2 still above max_status 1 after waiting 5 s"));
    }

    @Test
    public void aGaugeWithoutCurrentOrCountersGivesNoEnergyNumberAndSaysWhy() throws IOException {
        // CURRENT_NOW unsupported (Long.MIN_VALUE), CHARGE_COUNTER and ENERGY_COUNTER 0: nothing to measure with.
        phone.current(Long.MIN_VALUE);
        phone.battery.setLongProperty(BatteryManager.BATTERY_PROPERTY_CHARGE_COUNTER, 0);
        JsonObject energy = energy(run("no-counter", engine(20, Long.MIN_VALUE, Long.MIN_VALUE), models(MODEL)));
        assertTrue(energy.toString(), energy.get("source").isJsonNull());
        assertTrue(energy.toString(), energy.get("mj_per_inference").isJsonNull());
        String note = energy.get("note").getAsString();
        assertTrue(note, note.startsWith("fuel gauge: ") && note.contains("power monitors: this phone exposes no"));
    }

    @Test
    public void pacedRunsStartOnTheFrameGridAndDropTheFramesAnOverrunCovers() throws IOException {
        // 50 ms frames. 20 ms inferences keep up: no frame dropped. 100 ms inferences span two frame slots: after the
        // first run, every run finds one slot arrived and passed while it ran, so 9 of the 10 runs drop one frame.
        String paced = "50.0";
        JsonObject keepsUp = model(run("paced-20", engine(20, IDLE_UA, ACTIVE_UA), models(MODEL),
                "frame_interval_ms", paced), 0);
        assertEquals(0, keepsUp.get("missed_deadlines").getAsInt());
        clock = new LockstepClock(1);
        JsonObject overruns = model(run("paced-100", engine(100, IDLE_UA, ACTIVE_UA), models(MODEL),
                "frame_interval_ms", paced), 0);
        assertEquals(9, overruns.get("missed_deadlines").getAsInt());
        assertEquals(100.0, overruns.getAsJsonArray("latencies_ms").get(9).getAsDouble(), 1e-9);
    }
}
