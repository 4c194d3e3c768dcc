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

/** The selector's rules on the digits config (its numbers: LTE profile RTT 70 ms, L_m 0.26 ms, a = 0.2). */
public class SelectorTest {
    private static final String PAIR = "pair:mobilenet_v2-a0.25-r16-int8+mobilenet_v2-a0.25-r12-int8";

    private static SelectorTables tables(double masterMs) {
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("latency").getAsJsonObject("resnet-a1.00-r32-int8").addProperty("total_ms", masterMs);
        return SelectorTables.from(Fixtures.config(doc));
    }

    private static final SelectorTables AS_BUILT = SelectorTables.from(Fixtures.config(Fixtures.configJson()));

    @Test
    public void requestsSlowerThanTheDeviceMasterOverloadTheServerOnceSmoothed() {
        SelectorTables t = tables(80.0);  // wifi: L_t 30.34 ms at the profile's 30 ms RTT, so an RTT above 79.66 ms loses
        SelectorState s = Selector.initialState(t, "wifi");
        s = Selector.observeRtt(t, s, 200.0, 1.0);
        assertEquals(0.8 * 30.0 + 0.2 * 200.0, s.link().rttMs(), 0.0);
        assertFalse(s.serverOverloaded());  // one spike: the smoothed request takes 64.3 ms
        assertEquals(6.0, s.nextProbeS(), 0.0);
        s = Selector.observeRtt(t, s, 200.0, 2.0);
        assertTrue(s.serverOverloaded());  // smoothed 91.2 ms RTT: the request takes longer than L_m
        // Overloaded: a sample slower than L_m keeps it, one at or under L_m clears it and resets the RTT.
        SelectorState still = Selector.observeRtt(t, s, 79.7, 3.0);
        assertTrue(still.serverOverloaded());
        SelectorState cleared = Selector.observeRtt(t, s, 79.6, 3.0);
        assertFalse(cleared.serverOverloaded());
        assertEquals(79.6, cleared.link().rttMs(), 0.0);
        assertEquals("server overloaded (request latency 91.5 ms > L_m 80.0 ms): master on device",
                Selector.decide(t, s, Mode.MISSION_CRITICAL, 2.5, null).reasons().get(1).text());
    }

    @Test
    public void aLoadedServerStillFasterThanTheDeviceKeepsTheMasterInTheCloud() {
        // LTE, a raw 224x224x3 upload, L_m 1,000 ms, the server 300 ms slower than usual: each request takes ~576 ms,
        // an RTT part of 370 ms (5x the profile's 70 ms), yet the cloud still beats the device by 424 ms.
        JsonObject doc = Fixtures.configJson();
        doc.getAsJsonObject("latency").getAsJsonObject("resnet-a1.00-r32-int8").addProperty("total_ms", 1000.0);
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

    @Test
    public void aResolutionIsPreparedOncePerFrame() {
        // The pair's minions and the master all at resolution 16: the second minion and a recovery on the device
        // skip the preprocessing; in the cloud the recovery costs L_t.
        JsonObject doc = Fixtures.configJson();
        setLatency(doc, "mobilenet_v2-a0.25-r16-int8", 5.0, 2.0, 16);
        setLatency(doc, "mobilenet_v2-a0.25-r12-int8", 8.0, 2.0, 16);
        setLatency(doc, "resnet-a1.00-r32-int8", 50.0, 10.0, 16);
        org.mmnet.core.RuntimeConfig config = Fixtures.config(doc);
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
        s = Selector.observeBandwidth(t, s, 0.1, null);  // L_t 81 ms > 80 ms: the live link, not the server
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
        SelectorState s = Selector.initialState(AS_BUILT, "wifi");  // L_t 30.34 ms against a 0.26 ms device master
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
        SelectorTables t = tables(80.0);  // the cloud (30.3 ms on wifi) beats an 80 ms device master
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
        Decision cheap = Selector.decide(AS_BUILT, Selector.initialState(AS_BUILT, "lte"), Mode.NORMAL, 0.0, null);
        assertEquals(PAIR, cheap.system());
        assertEquals(ReasonCode.CONFIGURED_SYSTEM, cheap.reasonCodes().get(2));
        assertEquals("system " + PAIR + ": expected 0.13 ms < master alone 0.26 ms on device", cheap.reasons().get(2).text());
        SelectorTables slow = tables(80.0);
        Decision d = Selector.decide(slow, Selector.initialState(slow, "lte"), Mode.NORMAL, 0.0, Placement.DEVICE);
        assertEquals(ReasonCode.RUNNER_UP, d.reasonCodes().get(2));
        assertEquals("pair:mobilenet_v2-a0.25-r16-float16+mobilenet_v2-a0.25-r12-int8", d.system());
        assertEquals(4, d.estimates().expectedMs.size());
    }

    @Test
    public void minionsAreSkippedWhenTheMasterAloneIsFaster() {
        SelectorTables fast = tables(0.08);
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
