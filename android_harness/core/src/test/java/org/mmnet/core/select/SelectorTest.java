package org.mmnet.core.select;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.Test;
import org.mmnet.core.ConfigException;
import org.mmnet.core.Fixtures;
import org.mmnet.core.Mode;
import org.mmnet.core.Placement;

/**
 * The selector's rules on the digits config (its numbers: LTE profile RTT 70 ms, wifi 30 ms, a = 0.2; the master's
 * device latency L_m and the configured systems come from the config, or are set here).
 */
public class SelectorTest {
    /** The system the digits config selects for LTE in normal mode. */
    private static final String PAIR = Fixtures.configuredSystem("lte", "normal");
    private static final String MASTER = Fixtures.masterId();

    /** The digits config with the device master's latency set to {@code masterMs}. */
    private static JsonObject configWithMaster(double masterMs) {
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("latency").getAsJsonObject(MASTER).addProperty("total_ms", masterMs);
        return doc;
    }

    private static SelectorTables tables(double masterMs) {
        return SelectorTables.from(Fixtures.config(configWithMaster(masterMs)));
    }

    /** Sets $.systems[system].modes[tuning].val.recovery_rate, the P_r the selector costs a system with. */
    private static void setRecoveryRate(JsonObject doc, String system, String tuning, double rate) {
        doc.getAsJsonObject("systems").getAsJsonObject(system).getAsJsonObject("modes").getAsJsonObject(tuning)
                .getAsJsonObject("val").addProperty("recovery_rate", rate);
    }

    /** A number as Python's {@code :.1f} writes it (the exact binary value, rounded half to even), as reason texts do. */
    private static String py1f(double value) {
        return new java.math.BigDecimal(value).setScale(1, java.math.RoundingMode.HALF_EVEN).toPlainString();
    }

    /** A number as Python's {@code :.2f} writes it. */
    private static String py2f(double value) {
        return new java.math.BigDecimal(value).setScale(2, java.math.RoundingMode.HALF_EVEN).toPlainString();
    }

    private static final SelectorTables AS_BUILT = SelectorTables.from(Fixtures.config(Fixtures.configJson()));

    @Test
    public void requestsSlowerThanTheDeviceMasterOverloadTheServerOnceSmoothed() {
        SelectorTables t = tables(80.0);  // wifi: L_t ~30 ms at the profile's 30 ms RTT (upload + reply + server ~0.4 ms)
        SelectorState s = Selector.initialState(t, "wifi");
        assertEquals(30.0, s.link().rttMs(), 0.0);
        double transferMs = Selector.masterCloudMs(t, s.link()) - s.link().rttMs();  // L_t without its RTT
        assertTrue("the transfer leaves room for a slow RTT: " + transferMs, transferMs > 0 && transferMs < 10.0);
        double rttAtLm = 80.0 - transferMs;  // a request at this RTT takes exactly L_m; above it loses to the device
        s = Selector.observeRtt(t, s, 200.0, 1.0);
        assertEquals(0.8 * 30.0 + 0.2 * 200.0, s.link().rttMs(), 0.0);
        assertFalse(s.serverOverloaded());  // one spike: the smoothed request takes 64 ms + the transfer
        assertEquals(6.0, s.nextProbeS(), 0.0);
        s = Selector.observeRtt(t, s, 200.0, 2.0);
        assertTrue(s.serverOverloaded());  // smoothed 91.2 ms RTT: the request takes longer than L_m
        double smoothedMs = 0.8 * (0.8 * 30.0 + 0.2 * 200.0) + 0.2 * 200.0;
        assertEquals(smoothedMs, s.link().rttMs(), 1e-12);
        // Overloaded: a sample slower than L_m keeps it, one at or under L_m clears it and resets the RTT.
        SelectorState still = Selector.observeRtt(t, s, rttAtLm + 0.04, 3.0);
        assertTrue(still.serverOverloaded());
        SelectorState cleared = Selector.observeRtt(t, s, rttAtLm - 0.04, 3.0);
        assertFalse(cleared.serverOverloaded());
        assertEquals(rttAtLm - 0.04, cleared.link().rttMs(), 0.0);
        assertEquals("server overloaded (request latency " + py1f(smoothedMs + transferMs)
                + " ms > L_m 80.0 ms): master on device",
                Selector.decide(t, s, Mode.MISSION_CRITICAL, 2.5, null).reasons().get(1).text());
    }

    @Test
    public void aLoadedServerStillFasterThanTheDeviceKeepsTheMasterInTheCloud() {
        // LTE, a raw 224x224x3 upload, L_m 1,000 ms, the server 300 ms slower than usual: each request takes ~576 ms,
        // an RTT part of 370 ms (5x the profile's 70 ms), yet the cloud still beats the device by 424 ms.
        JsonObject doc = configWithMaster(1000.0);
        doc.getAsJsonObject("upload").addProperty("bytes", 224 * 224 * 3);
        SelectorTables t = SelectorTables.from(Fixtures.config(doc));
        SelectorState s = Selector.initialState(t, "lte");
        double requestMs = Selector.masterCloudMs(t, s.link()) + 300.0;
        assertEquals(576.2, requestMs, 0.1);
        for (int i = 0; i < 50; i++) {
            s = Selector.observeRtt(t, s, Selector.rttFromRequestMs(t, s.link(), requestMs), i);
        }
        assertEquals(370.0, s.link().rttMs(), 0.5);
        assertFalse(s.serverOverloaded());
        Decision d = Selector.decide(t, s, Mode.MISSION_CRITICAL, 60.0, null);
        assertEquals(FramePath.MASTER_CLOUD, d.path());
        assertEquals(ReasonCode.CLOUD_FASTER, d.reasonCodes().get(1));
        // A request slower than the device is server load.
        SelectorState slow = s;
        for (int i = 0; i < 10; i++) {
            slow = Selector.observeRtt(t, slow, Selector.rttFromRequestMs(t, slow.link(), 1300.0), 60.0 + i);
        }
        assertTrue(slow.serverOverloaded());
    }

    private static void setLatency(JsonObject doc, String model, double totalMs, double preprocessMs, int resolution) {
        JsonObject l = doc.getAsJsonObject("latency").getAsJsonObject(model);
        l.addProperty("total_ms", totalMs);
        l.addProperty("inference_ms", totalMs - preprocessMs);
        l.addProperty("preprocess_ms", preprocessMs);
        l.addProperty("resolution", resolution);
    }

    /** A model's latency of {@code totalMs}, all inference: no resolution to prepare or share. */
    private static void setPlainLatency(JsonObject doc, String model, double totalMs) {
        JsonObject l = doc.getAsJsonObject("latency").getAsJsonObject(model);
        l.addProperty("total_ms", totalMs);
        l.addProperty("inference_ms", totalMs);
        l.addProperty("preprocess_ms", 0.0);
        l.remove("resolution");
    }

    @Test
    public void aResolutionIsPreparedOncePerFrame() {
        // The pair's minions and the master all at resolution 16: the second minion and a recovery on the device
        // skip the preprocessing; in the cloud the recovery costs L_t. The pair runs in private mode too.
        JsonObject doc = Fixtures.configJson();
        java.util.List<String> minions = Fixtures.minionsOf(PAIR);
        assertEquals(2, minions.size());
        setLatency(doc, minions.get(0), 5.0, 2.0, 16);
        setLatency(doc, minions.get(1), 8.0, 2.0, 16);
        setLatency(doc, MASTER, 50.0, 10.0, 16);
        Fixtures.selectionJson(doc, "lte", "private").addProperty("system", PAIR);
        org.mmnet.core.RuntimeConfig config = Fixtures.config(doc);
        assertEquals("normal", config.mode(Mode.PRIVATE).thresholds);
        SelectorTables t = SelectorTables.from(config);
        double rate = config.tuned(PAIR, Mode.NORMAL).valRecoveryRate;
        Decision device = Selector.decide(t, Selector.initialState(t, "lte"), Mode.PRIVATE, 0.0, null);
        assertEquals(5.0 + 6.0 + rate * 40.0, device.estimates().expectedMs.get(PAIR), 1e-12);
        Decision cloud = Selector.decide(t, Selector.initialState(t, "lte"), Mode.NORMAL, 0.0, Placement.CLOUD);
        assertEquals(5.0 + 6.0 + rate * cloud.estimates().lT, cloud.estimates().expectedMs.get(PAIR), 1e-12);
        doc.addProperty("minion_execution", "parallel");
        SelectorTables parallel = SelectorTables.from(Fixtures.config(doc));
        Decision p = Selector.decide(parallel, Selector.initialState(parallel, "lte"), Mode.PRIVATE, 0.0, null);
        assertEquals(8.0 + rate * 40.0, p.estimates().expectedMs.get(PAIR), 1e-12);
    }

    @Test
    public void aNarrowUplinkKeepsTheMasterOffTheCloudAndProbesTheLink() {
        SelectorTables t = tables(80.0);
        SelectorState s = Selector.observeRtt(t, Selector.initialState(t, "wifi"), 30.0, 0.0);  // next probe at 5 s
        // An uplink that takes 60 ms for the upload: L_t ~90 ms > 80 ms: the live link, not the server.
        double uploadKbit = Fixtures.configJson().getAsJsonObject("upload").get("bytes").getAsDouble() * 8 / 1e3;
        s = Selector.observeBandwidth(t, s, uploadKbit / 60.0, null);
        assertTrue(Selector.masterCloudMs(t, s.link()) > 80.0);
        assertFalse(s.serverOverloaded());
        Decision before = Selector.decide(t, s, Mode.MISSION_CRITICAL, 4.9, null);
        assertEquals(FramePath.MASTER_DEVICE, before.path());
        assertEquals(ReasonCode.DEVICE_FASTER, before.reasonCodes().get(1));
        Decision due = Selector.decide(t, s, Mode.MISSION_CRITICAL, 5.0, null);
        assertEquals(FramePath.MASTER_CLOUD, due.path());
        assertTrue(due.probe());
        assertEquals(ReasonCode.PROBE_LIVE_LINK, due.reasonCodes().get(due.reasonCodes().size() - 1));
    }

    @Test
    public void aSlowRequestWhereTheProfileItselfLosesToTheDeviceIsNotServerLoad() {
        SelectorState s = Selector.initialState(AS_BUILT, "wifi");  // L_t ~30 ms against the as-built device master
        assertTrue(AS_BUILT.nominalCloudMs("wifi") >= AS_BUILT.masterMs());
        for (int i = 0; i < 10; i++) {
            s = Selector.observeRtt(AS_BUILT, s, 300.0, i);
        }
        assertFalse(s.serverOverloaded());
        Decision d = Selector.decide(AS_BUILT, s, Mode.MISSION_CRITICAL, 20.0, null);
        assertEquals(ReasonCode.DEVICE_FASTER, d.reasonCodes().get(1));
        assertFalse(d.probe());
    }

    @Test
    public void overloadedKeepsTheMasterOnTheDeviceAndProbesEveryInterval() {
        SelectorTables t = tables(80.0);  // the cloud (~30 ms on wifi) beats an 80 ms device master
        SelectorState s = Selector.initialState(t, "wifi");
        Decision d = Selector.decide(t, s, Mode.MISSION_CRITICAL, 0.0, null);
        assertEquals(FramePath.MASTER_CLOUD, d.path());
        assertEquals(Arrays.asList(ReasonCode.MODE, ReasonCode.CLOUD_FASTER, ReasonCode.MASTER_ALONE_MODE), d.reasonCodes());
        s = Selector.observeRtt(t, s, 400.0, 0.0);
        s = Selector.observeRtt(t, s, 400.0, 1.0);  // overloaded, next probe at 6 s
        d = Selector.decide(t, s, Mode.MISSION_CRITICAL, 5.9, null);
        assertEquals(FramePath.MASTER_DEVICE, d.path());
        assertFalse(d.probe());
        d = Selector.decide(t, s, Mode.MISSION_CRITICAL, 6.0, null);
        assertEquals(FramePath.MASTER_CLOUD, d.path());
        assertTrue(d.probe());
        assertEquals(ReasonCode.PROBE_SERVER_OVERLOADED, d.reasonCodes().get(d.reasonCodes().size() - 1));
        // An override decides despite the overload, and says so.
        d = Selector.decide(t, s, Mode.MISSION_CRITICAL, 5.0, Placement.CLOUD);
        assertTrue(d.reasonCodes().contains(ReasonCode.OVERRIDE_DESPITE_OVERLOAD));
        assertFalse(d.probe());
    }

    @Test
    public void theRunnerUpWinsWhenTheMasterIsExpensive() {
        // As built, the configured system is the cheapest on LTE in normal mode.
        Decision built = Selector.decide(AS_BUILT, Selector.initialState(AS_BUILT, "lte"), Mode.NORMAL, 0.0, null);
        assertEquals(PAIR, built.system());
        assertEquals(ReasonCode.CONFIGURED_SYSTEM, built.reasonCodes().get(2));
        assertEquals("system " + PAIR + ": expected " + py2f(built.estimates().expectedMs.get(PAIR)) + " ms < master alone "
                + py2f(built.estimates().lM) + " ms on device", built.reasons().get(2).text());

        // The situation, set explicitly: the configured pair's minions take 1 ms each and it recovers 10% of the frames;
        // the runner-up's own minions take 2 ms, and it never recovers; the other runner-ups recover every frame.
        // Cheap minions win while recoveries are cheap; once the master is expensive, fewer recoveries win.
        JsonObject doc = Fixtures.configJson();
        JsonObject selection = Fixtures.selectionJson(doc, "lte", "normal");
        java.util.List<String> runnerUps = new java.util.ArrayList<>();
        selection.getAsJsonArray("runner_ups").forEach(e -> runnerUps.add(e.getAsString()));
        assertTrue(runnerUps.toString(), !runnerUps.isEmpty() && !runnerUps.contains(PAIR));
        java.util.List<String> configuredMinions = Fixtures.minionsOf(PAIR);
        String runnerUp = null;
        for (String r : runnerUps) {
            if (!configuredMinions.containsAll(Fixtures.minionsOf(r))) {
                runnerUp = r;
                break;
            }
        }
        assertTrue("a runner-up with a minion the configured pair does not run: " + runnerUps, runnerUp != null);
        for (String r : runnerUps) {
            setRecoveryRate(doc, r, "normal", r.equals(runnerUp) ? 0.0 : 1.0);
            for (String m : Fixtures.minionsOf(r)) {
                setPlainLatency(doc, m, 2.0);
            }
        }
        for (String m : configuredMinions) {
            setPlainLatency(doc, m, 1.0);
        }
        setRecoveryRate(doc, PAIR, "normal", 0.1);
        double runnerUpMs = 0.0;  // its minions shared with the configured pair at 1 ms, its own at 2 ms
        for (String m : Fixtures.minionsOf(runnerUp)) {
            runnerUpMs += configuredMinions.contains(m) ? 1.0 : 2.0;
        }

        doc.getAsJsonObject("latency").getAsJsonObject(MASTER).addProperty("total_ms", 5.0);
        SelectorTables cheapMaster = SelectorTables.from(Fixtures.config(doc));
        Decision cheap = Selector.decide(cheapMaster, Selector.initialState(cheapMaster, "lte"), Mode.NORMAL, 0.0, Placement.DEVICE);
        assertEquals(PAIR, cheap.system());
        assertEquals(ReasonCode.CONFIGURED_SYSTEM, cheap.reasonCodes().get(2));
        assertEquals(runnerUpMs, cheap.estimates().expectedMs.get(runnerUp), 1e-12);
        assertEquals("system " + PAIR + ": expected " + py2f(configuredMinions.size() + 0.1 * 5.0)
                + " ms < master alone 5.00 ms on device", cheap.reasons().get(2).text());

        doc.getAsJsonObject("latency").getAsJsonObject(MASTER).addProperty("total_ms", 80.0);
        SelectorTables slow = SelectorTables.from(Fixtures.config(doc));
        Decision d = Selector.decide(slow, Selector.initialState(slow, "lte"), Mode.NORMAL, 0.0, Placement.DEVICE);
        assertEquals(ReasonCode.RUNNER_UP, d.reasonCodes().get(2));
        assertEquals(runnerUp, d.system());
        assertEquals(runnerUpMs, d.estimates().expectedMs.get(runnerUp), 1e-12);
        assertEquals(configuredMinions.size() + 0.1 * 80.0, d.estimates().expectedMs.get(PAIR), 1e-12);
        // Every candidate is costed: the configured system and each runner-up.
        assertEquals(new java.util.LinkedHashSet<>(selectionCandidates(selection)), d.estimates().expectedMs.keySet());
    }

    private static java.util.List<String> selectionCandidates(JsonObject selection) {
        java.util.List<String> out = new java.util.ArrayList<>();
        out.add(selection.get("system").getAsString());
        selection.getAsJsonArray("runner_ups").forEach(e -> {
            if (!out.contains(e.getAsString())) {
                out.add(e.getAsString());
            }
        });
        return out;
    }

    @Test
    public void minionsAreSkippedWhenTheMasterAloneIsFaster() {
        // A master faster than any single minion of the config: no system of two or more minions beats it.
        double fastest = Double.POSITIVE_INFINITY;
        for (java.util.Map.Entry<String, com.google.gson.JsonElement> e : Fixtures.configJson().getAsJsonObject("latency").entrySet()) {
            if (!e.getKey().equals(MASTER)) {
                fastest = Math.min(fastest, e.getValue().getAsJsonObject().get("total_ms").getAsDouble());
            }
        }
        SelectorTables fast = tables(fastest / 2);
        Decision d = Selector.decide(fast, Selector.initialState(fast, null), Mode.POWER_SAVING, 0.0, null);
        assertEquals(FramePath.MASTER_DEVICE, d.path());
        assertEquals("master-only", d.system());
        assertTrue(d.reasonCodes().contains(ReasonCode.MINIONS_NOT_WORTH_IT));
        assertNull(d.thresholdsMode());
    }

    @Test
    public void historyRulesApplyWithinTheTemporalDistance() {
        SelectorState s = Selector.initialState(AS_BUILT, "lte");
        SelectorState agreed = Selector.afterFrame(s, new HistoryEntry(1.0, 3, 3, true));
        SelectorState corrected = Selector.afterFrame(s, new HistoryEntry(1.0, 3, 5, true));
        assertEquals(FramePath.MINIONS_UNCHECKED, Selector.decide(AS_BUILT, agreed, Mode.NORMAL, 1.05, null).path());
        Decision rule2 = Selector.decide(AS_BUILT, corrected, Mode.NORMAL, 1.05, null);
        assertEquals(FramePath.MASTER_DEVICE, rule2.path());
        assertTrue(rule2.reasonCodes().contains(ReasonCode.HISTORY_CORRECTED));
        Decision expired = Selector.decide(AS_BUILT, corrected, Mode.NORMAL, 1.2, null);
        assertEquals(FramePath.MINIONS, expired.path());
        assertTrue(expired.reasonCodes().contains(ReasonCode.HISTORY_EXPIRED));
        ConfigException e = assertThrows(ConfigException.class, () -> Selector.decide(AS_BUILT, agreed, Mode.NORMAL, 0.5, null));
        assertTrue(e.getMessage(), e.getMessage().contains("expected a monotonic clock"));
    }

    @Test
    public void aDeviceOnlyModeRefusesTheCloud() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> Selector.decide(AS_BUILT, Selector.initialState(AS_BUILT, null), Mode.PRIVATE, 0.0, Placement.CLOUD));
        assertTrue(e.getMessage(), e.getMessage().contains("never leaves the device"));
    }

    @Test
    public void bandwidthObservationsChangeTheLiveTransferEstimate() {
        SelectorState s = Selector.initialState(AS_BUILT, "lte");
        double before = Selector.masterCloudMs(AS_BUILT, s.link());
        SelectorState slower = Selector.observeBandwidth(AS_BUILT, s, 0.5, null);
        assertEquals(0.5, slower.link().uplinkMbps(), 0.0);
        assertEquals(s.link().downlinkMbps(), slower.link().downlinkMbps(), 0.0);
        assertTrue(Selector.masterCloudMs(AS_BUILT, slower.link()) > before);
        assertTrue(Selector.observeBandwidth(AS_BUILT, s, null, null) == s);
        assertThrows(ConfigException.class, () -> Selector.observeBandwidth(AS_BUILT, s, 0.0, null));
        // The RTT part of a request: the transfer at the current bandwidths and the server time come off, at least 0.
        assertEquals(0.0, Selector.rttFromRequestMs(AS_BUILT, s.link(), 0.1), 0.0);
    }

    @Test
    public void aCostingCacheGivesTheDecisionsOfNone() {
        SelectorTables slow = tables(80.0);
        SelectorState wifi = Selector.initialState(slow, "wifi");
        SelectorState overloaded = Selector.observeRtt(slow, Selector.observeRtt(slow, wifi, 400.0, 0.0), 400.0, 1.0);
        SelectorState narrow = Selector.observeBandwidth(slow, wifi, 0.1, null);
        CostingCache cache = new CostingCache();
        Set<String> outcomes = new HashSet<>();
        for (int pass = 0; pass < 2; pass++) {  // the second pass switches back to inputs the cache held before
            for (SelectorState s : Arrays.asList(wifi, overloaded, narrow)) {
                for (Mode m : Mode.values()) {
                    for (Placement o : Arrays.asList(null, Placement.DEVICE)) {
                        Decision fresh = Selector.decide(slow, s, m, 10.0, o);
                        assertEquals(fresh.toJson(), Selector.decide(slow, s, m, 10.0, o, cache).toJson());
                        outcomes.add(fresh.path() + " " + fresh.placement() + " " + fresh.system());
                    }
                }
            }
        }
        assertTrue(outcomes.toString(), outcomes.size() >= 4);  // the inputs matter
    }

    @Test
    public void reasonsKeepTheValuesTheyCompared() {
        Decision d = Selector.decide(AS_BUILT, Selector.initialState(AS_BUILT, "lte"), Mode.MISSION_CRITICAL, 0.0, null);
        Reason placement = d.reasons().get(1);
        assertEquals(ReasonCode.DEVICE_FASTER, placement.code());
        assertEquals(d.estimates().lT, (Double) placement.values().get("L_t"), 0.0);
        assertEquals(d.estimates().lM, (Double) placement.values().get("L_m"), 0.0);
    }

    @Test
    public void aRecoveredFrameHasBothAnswers() {
        ConfigException e = assertThrows(ConfigException.class, () -> new HistoryEntry(0.0, 3, null, true));
        assertEquals("HistoryEntry: recovered is True but minion_answer is 3 and master_answer is None; a recovered frame has both answers",
                e.getMessage());
    }
}
