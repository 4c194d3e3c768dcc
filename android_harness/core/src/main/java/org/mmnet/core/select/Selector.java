package org.mmnet.core.select;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.mmnet.core.ConfigException;
import org.mmnet.core.Mode;
import org.mmnet.core.Placement;
import org.mmnet.core.RuntimeConfig;
import org.mmnet.core.Vocabulary;

/**
 * The runtime selector (dissertation §5.2), a function-by-function mirror of Python
 * {@code mobile_runtime/selector.py}: {@link #decide} maps the tables, an immutable state, the mode
 * and the time to a {@link Decision}; {@link #observeRtt}, {@link #observeBandwidth} and
 * {@link #afterFrame} return new states. No clock, network or file is read here.
 *
 * <p>Rules, in order: (1) user mode; (2) master placement L_t vs L_m, or the override; (3)
 * server-load back-off with probes every probe_interval_s; (4) the configured system and its
 * runner-ups re-costed as L_m1 + L_m2 + P_r × L_master(placement), or the master alone when no
 * system is faster; (5) speculation history within temporal_distance_ms of a recovered frame.
 * Rules 1-4 ({@link #cost}) depend only on the tables, the mode, the override, the link and the
 * server state: a caller deciding frame after frame passes a {@link CostingCache} to reuse them.
 */
public final class Selector {
    private Selector() {
    }

    static double checkNumber(String where, double value, boolean positive) {
        boolean ok = !Double.isNaN(value) && !Double.isInfinite(value) && (positive ? value > 0 : value >= 0);
        if (!ok) {
            throw new ConfigException(where + " is " + value + "; expected a finite number " + (positive ? "> 0" : ">= 0"));
        }
        return value;
    }

    static double checkTime(String where, double value) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            throw new ConfigException(where + " is " + value + "; expected a finite number");
        }
        return value;
    }

    /**
     * L_t (§5.2.1): upload / uplink + RTT + reply / downlink + server time, sizes in kbit, rates in
     * Mbps (kbit / Mbps is ms). The one definition, in Python's order of operations (Python
     * network.cloud_latency_ms), so both sides get the same bits.
     */
    public static double cloudLatencyMs(double uploadKbit, double uplinkMbps, double rttMs, double replyKbit,
                                        double downlinkMbps, double serverMs) {
        return uploadKbit / uplinkMbps + rttMs + replyKbit / downlinkMbps + serverMs;
    }

    /** The state before any measurement: the link at the profile's numbers ({@code null}: the default profile). */
    public static SelectorState initialState(SelectorTables t, String profile) {
        String name = profile == null ? t.defaultProfile : profile;
        SelectorTables.Profile p = t.profile(name);
        return new SelectorState(new LinkEstimate(name, p.rttMs, p.uplinkMbps, p.downlinkMbps), false, null, null);
    }

    /** L_t at the live link numbers. */
    public static double masterCloudMs(SelectorTables t, LinkEstimate link) {
        return cloudLatencyMs(t.uploadKbit, link.uplinkMbps(), link.rttMs(), t.replyKbit, link.downlinkMbps(), t.serverMs);
    }

    /**
     * The RTT part of a timed cloud request: {@code requestMs} minus L_t at an RTT of 0 (the
     * transfer times at the link's bandwidth estimates and the nominal server time), at least 0 (so
     * server queueing counts as RTT, which the server-load detection looks for).
     */
    public static double rttFromRequestMs(SelectorTables t, LinkEstimate link, double requestMs) {
        checkNumber("request_ms", requestMs, false);
        double transfer = cloudLatencyMs(t.uploadKbit, link.uplinkMbps(), 0.0, t.replyKbit, link.downlinkMbps(), t.serverMs);
        return Math.max(0.0, requestMs - transfer);
    }

    /**
     * Feeds one measured RTT of a cloud request (server-load detection, §5.2.1): the smoothed RTT
     * becomes (1 - a) × rtt + a × rttMs. The request latency at an RTT is L_t at the link's live
     * numbers. Not overloaded, the server becomes overloaded when the request latency at the
     * smoothed RTT exceeds L_m (only on a profile whose nominal L_t is below L_m); overloaded, a sample whose request latency is at or under L_m
     * clears the overload and resets the smoothed RTT to the sample. The next probe is due at
     * nowS + probe_interval_s. For a failed request pass the time waited.
     */
    public static SelectorState observeRtt(SelectorTables t, SelectorState state, double rttMs, double nowS) {
        checkNumber("rtt_ms", rttMs, false);
        checkTime("now_s", nowS);
        LinkEstimate link = state.link();
        double nominalCloudMs = t.profile(link.profile()).cloudMs;
        double a = t.rttSmoothing;
        double smoothed = (1.0 - a) * link.rttMs() + a * rttMs;
        double judgedRtt = state.serverOverloaded() ? rttMs : smoothed;
        double requestMs = cloudLatencyMs(t.uploadKbit, link.uplinkMbps(), judgedRtt, t.replyKbit, link.downlinkMbps(),
                t.serverMs);
        // On a profile whose own numbers are slower than the device, a slow request says nothing of the server.
        boolean overloaded = requestMs > t.masterMs && nominalCloudMs < t.masterMs;
        double newRtt = state.serverOverloaded() && !overloaded ? rttMs : smoothed;
        return new SelectorState(link.withRtt(newRtt), overloaded, nowS + t.probeIntervalS, state.last());
    }

    /** Sets the link's bandwidth estimates (Mbps) as given; null keeps a direction unchanged. */
    public static SelectorState observeBandwidth(SelectorTables t, SelectorState state, Double uplinkMbps, Double downlinkMbps) {
        t.profile(state.link().profile());
        if (uplinkMbps == null && downlinkMbps == null) {
            return state;
        }
        LinkEstimate link = state.link();
        double up = uplinkMbps == null ? link.uplinkMbps() : checkNumber("uplink_mbps", uplinkMbps, true);
        double down = downlinkMbps == null ? link.downlinkMbps() : checkNumber("downlink_mbps", downlinkMbps, true);
        return new SelectorState(new LinkEstimate(link.profile(), link.rttMs(), up, down), state.serverOverloaded(),
                state.nextProbeS(), state.last());
    }

    /** Records what happened to the frame just processed, for the next frame's history rules. */
    public static SelectorState afterFrame(SelectorState state, HistoryEntry entry) {
        if (entry == null) {
            throw new ConfigException("entry is null; expected a HistoryEntry");
        }
        return new SelectorState(state.link(), state.serverOverloaded(), state.nextProbeS(), entry);
    }

    /** Which rule may send a probe to the cloud (Python _Costing.probe_rule). */
    enum ProbeRule {
        NONE, OVERLOADED, LIVE_ESTIMATES
    }

    /** Rules 1-4 for one mode, override, link estimate and server state (Python _Costing). */
    static final class Costing {
        final Placement placement;
        final ProbeRule probeRule;
        final Reason probeReason;
        final String system;
        final boolean master;
        final List<Reason> reasons;
        final double lM;
        final double lT;
        final double lTNominal;
        final double masterMs;
        final Map<String, Double> expectedMs;

        Costing(Placement placement, ProbeRule probeRule, Reason probeReason, String system, boolean master, List<Reason> reasons,
                double lM, double lT, double lTNominal, double masterMs, Map<String, Double> expectedMs) {
            this.placement = placement;
            this.probeRule = probeRule;
            this.probeReason = probeReason;
            this.system = system;
            this.master = master;
            this.reasons = Collections.unmodifiableList(reasons);
            this.lM = lM;
            this.lT = lT;
            this.lTNominal = lTNominal;
            this.masterMs = masterMs;
            this.expectedMs = Collections.unmodifiableMap(expectedMs);
        }
    }

    /** Rules 1-4: where the master runs, and which system (if any) runs first. */
    static Costing cost(SelectorTables t, Mode mode, Placement override, LinkEstimate link, boolean serverOverloaded) {
        RuntimeConfig.ModeSpec spec = t.modes.get(mode);
        SelectorTables.Profile profile = t.profiles.get(link.profile());
        if (profile == null) {
            throw new ConfigException("state.link.profile is '" + link.profile() + "'; expected one of "
                    + new TreeSet<>(t.profiles.keySet()));
        }
        double lM = t.masterMs;
        double lT = masterCloudMs(t, link);
        List<Reason> reasons = new ArrayList<>();
        reasons.add(Reason.of(ReasonCode.MODE, "mode", mode.json()));
        ProbeRule probeRule = ProbeRule.NONE;
        Reason probeReason = null;

        // Rules 1-3: where the master runs.
        Placement placement;
        if (!spec.cloud) {
            if (override == Placement.CLOUD) {
                throw new ConfigException("placement_override is 'cloud' in mode '" + mode
                        + "', which never leaves the device; expected 'device' or None");
            }
            placement = Placement.DEVICE;
            reasons.add(Reason.of(ReasonCode.MODE_DEVICE_ONLY, "mode", mode.json()));
        } else if (override != null) {
            placement = override;
            reasons.add(Reason.of(ReasonCode.PLACEMENT_OVERRIDE, "placement", placement.json(), "L_t", lT, "L_m", lM));
            if (serverOverloaded) {
                reasons.add(Reason.of(ReasonCode.OVERRIDE_DESPITE_OVERLOAD));
            }
        } else if (serverOverloaded) {
            placement = Placement.DEVICE;
            reasons.add(Reason.of(ReasonCode.SERVER_OVERLOADED, "L_t", lT, "L_m", lM));
            probeRule = ProbeRule.OVERLOADED;
            probeReason = Reason.of(ReasonCode.PROBE_SERVER_OVERLOADED, "probe_interval_s", t.probeIntervalS);
        } else if (lT < lM) {
            placement = Placement.CLOUD;
            reasons.add(Reason.of(ReasonCode.CLOUD_FASTER, "L_t", lT, "L_m", lM));
        } else {
            placement = Placement.DEVICE;
            reasons.add(Reason.of(ReasonCode.DEVICE_FASTER, "L_t", lT, "L_m", lM));
            // The live estimates, not the profile, keep the master off the cloud: without a cloud
            // request now and then they would never be re-measured.
            if (profile.cloudMs < lM) {
                probeRule = ProbeRule.LIVE_ESTIMATES;
                probeReason = Reason.of(ReasonCode.PROBE_LIVE_LINK, "L_t", lT, "L_t_nominal", profile.cloudMs,
                        "probe_interval_s", t.probeIntervalS);
            }
        }
        double masterMs = placement == Placement.CLOUD ? lT : lM;

        // Rules 1 and 4: minions or the master alone.
        Map<String, Double> expected = new LinkedHashMap<>();
        String system = RuntimeConfig.MASTER_ONLY;
        boolean master = true;
        if (!spec.minions) {
            reasons.add(Reason.of(ReasonCode.MASTER_ALONE_MODE, "mode", mode.json()));
        } else {
            SelectorTables.Selection selection = t.selection(link.profile(), mode);
            SelectorTables.Candidate best = null;
            double bestMs = Double.POSITIVE_INFINITY;
            for (SelectorTables.Candidate c : selection.candidates) {
                double recoveryMs = placement == Placement.DEVICE ? masterMs - c.masterPreparedMs : masterMs;
                double ms = c.minionMs + c.recoveryRate * recoveryMs;
                expected.put(c.system, ms);
                if (ms < bestMs) {
                    best = c;
                    bestMs = ms;
                }
            }
            if (best == null) {
                reasons.add(Reason.of(ReasonCode.NO_MINION_SYSTEM, "profile", link.profile(), "mode", mode.json()));
            } else if (bestMs >= masterMs) {
                reasons.add(Reason.of(ReasonCode.MINIONS_NOT_WORTH_IT, "system", best.system, "expected_ms", bestMs,
                        "master_ms", masterMs, "placement", placement.json()));
            } else {
                system = best.system;
                master = false;
                if (best.system.equals(selection.configured)) {
                    reasons.add(Reason.of(ReasonCode.CONFIGURED_SYSTEM, "system", system, "expected_ms", bestMs,
                            "master_ms", masterMs, "placement", placement.json()));
                } else {
                    Double configuredMs = expected.get(selection.configured);
                    reasons.add(Reason.of(ReasonCode.RUNNER_UP, "system", system, "expected_ms", bestMs,
                            "configured", selection.configured, "configured_ms", configuredMs == null ? masterMs : configuredMs,
                            "placement", placement.json()));
                }
            }
        }
        return new Costing(placement, probeRule, probeReason, system, master, reasons, lM, lT, profile.cloudMs, masterMs,
                expected);
    }

    /** {@link #decide(SelectorTables, SelectorState, Mode, double, Placement, CostingCache)} without a cache. */
    public static Decision decide(SelectorTables t, SelectorState state, Mode mode, double nowS, Placement override) {
        return decide(t, state, mode, nowS, override, null);
    }

    /**
     * The path of the frame arriving at {@code nowS} in {@code mode}. {@code override} (null,
     * DEVICE or CLOUD) forces the master's place; CLOUD in a mode that never leaves the device is
     * a ConfigException. {@code cache} (null: none) lets consecutive calls share the result of
     * rules 1-4; the decision is the same with or without it.
     */
    public static Decision decide(SelectorTables t, SelectorState state, Mode mode, double nowS, Placement override,
                                  CostingCache cache) {
        if (mode == null) {
            throw new ConfigException("mode is null; expected one of " + Vocabulary.MODES);
        }
        if (state == null) {
            throw new ConfigException("state is null; expected a SelectorState (initialState)");
        }
        checkTime("now_s", nowS);
        RuntimeConfig.ModeSpec spec = t.modes.get(mode);
        LinkEstimate link = state.link();
        Costing costing = cache == null ? cost(t, mode, override, link, state.serverOverloaded())
                : cache.costing(t, mode, override, link, state.serverOverloaded());
        Placement placement = costing.placement;
        String system = costing.system;
        boolean master = costing.master;
        List<Reason> reasons = new ArrayList<>(costing.reasons);
        Double dtMs = null;

        // Rule 3: a server-load or link probe when one is due.
        Double nextProbeS = state.nextProbeS();
        boolean probeDue;
        if (costing.probeRule == ProbeRule.NONE) {
            probeDue = false;
        } else if (costing.probeRule == ProbeRule.OVERLOADED) {
            probeDue = nextProbeS == null || nowS >= nextProbeS;
        } else {
            probeDue = nextProbeS != null && nowS >= nextProbeS;
        }

        // Rule 5: speculation history.
        boolean unchecked = false;
        HistoryEntry last = state.last();
        if (spec.minions && last != null) {
            dtMs = (nowS - last.timestampS()) * 1e3;
            if (dtMs < 0) {
                throw new ConfigException("now_s " + nowS + " is earlier than the previous frame's timestamp_s "
                        + last.timestampS() + "; expected a monotonic clock");
            }
            if (last.recovered() && !master) {
                if (dtMs > t.temporalDistanceMs) {
                    reasons.add(Reason.of(ReasonCode.HISTORY_EXPIRED, "dt_ms", dtMs, "temporal_distance_ms", t.temporalDistanceMs));
                } else if (last.masterAnswer().equals(last.minionAnswer())) {
                    unchecked = true;
                    reasons.add(Reason.of(ReasonCode.HISTORY_AGREED, "dt_ms", dtMs, "master_answer", last.masterAnswer()));
                } else {
                    master = true;
                    system = RuntimeConfig.MASTER_ONLY;
                    reasons.add(Reason.of(ReasonCode.HISTORY_CORRECTED, "dt_ms", dtMs, "minion_answer", last.minionAnswer(),
                            "master_answer", last.masterAnswer()));
                }
            }
        }

        boolean probe = probeDue && !unchecked;
        if (probe) {
            placement = Placement.CLOUD;
            reasons.add(costing.probeReason);
        }
        FramePath path;
        if (master) {
            path = placement == Placement.CLOUD ? FramePath.MASTER_CLOUD : FramePath.MASTER_DEVICE;
        } else {
            path = unchecked ? FramePath.MINIONS_UNCHECKED : FramePath.MINIONS;
        }
        Estimates estimates = new Estimates(costing.lM, costing.lT, costing.lTNominal, costing.masterMs, costing.expectedMs,
                link.rttMs(), link.uplinkMbps(), link.downlinkMbps(), dtMs);
        return new Decision(path, system, placement, path == FramePath.MINIONS ? spec.thresholds : null, probe, reasons, estimates);
    }
}
