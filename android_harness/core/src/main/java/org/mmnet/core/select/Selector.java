package org.mmnet.core.select;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.mmnet.core.ConfigException;
import org.mmnet.core.Mode;
import org.mmnet.core.Placement;
import org.mmnet.core.RuntimeConfig;

/**
 * The runtime selector (dissertation §5.2), a line-by-line mirror of Python
 * {@code mobile_runtime/selector.py}: {@link #decide} maps an immutable state, the mode and the
 * time to a {@link Decision}; {@link #observeRtt}, {@link #observeBandwidth} and
 * {@link #afterFrame} return new states. No clock, network or file is read here.
 *
 * <p>Rules, in order: (1) user mode; (2) master placement L_t vs L_m, or the override; (3)
 * server-load back-off with probes every probe_interval_s; (4) the configured system and its
 * runner-ups re-costed as L_m1 + L_m2 + P_r × L_master(placement), or the master alone when no
 * system is faster; (5) speculation history within temporal_distance_ms of a recovered frame.
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
            throw new ConfigException(where + " is " + value + "; expected a finite time in seconds");
        }
        return value;
    }

    /** The state before any measurement: the link at the profile's numbers ({@code null}: the default profile). */
    public static SelectorState initialState(SelectorTables t, String profile) {
        String name = profile == null ? t.defaultProfile : profile;
        SelectorTables.Profile p = t.profile(name);
        return new SelectorState(new LinkEstimate(name, p.rttMs, p.uplinkMbps, p.downlinkMbps), false, null, null);
    }

    private static double cloudMs(SelectorTables t, LinkEstimate link) {
        return t.uploadKbit / link.uplinkMbps() + link.rttMs() + t.replyKbit / link.downlinkMbps() + t.serverMs;
    }

    /** L_t: upload / uplink + smoothed RTT + reply / downlink + server time, at the live link numbers. */
    public static double masterCloudMs(SelectorTables t, LinkEstimate link) {
        return cloudMs(t, link);
    }

    /**
     * The RTT part of a timed cloud request: {@code requestMs} minus the transfer times at the
     * link's bandwidth estimates and the nominal server time, at least 0 (so server queueing
     * counts as RTT, which the server-load detection looks for).
     */
    public static double rttFromRequestMs(SelectorTables t, LinkEstimate link, double requestMs) {
        checkNumber("request_ms", requestMs, false);
        double transfer = t.uploadKbit / link.uplinkMbps() + t.replyKbit / link.downlinkMbps() + t.serverMs;
        return Math.max(0.0, requestMs - transfer);
    }

    /**
     * Feeds one measured RTT of a cloud request (server-load detection): the smoothed RTT becomes
     * (1 - a) × rtt + a × rttMs; not overloaded, the server becomes overloaded when the smoothed
     * RTT exceeds rtt_ratio × the profile's RTT; overloaded, a sample at or under that limit clears
     * the overload and resets the smoothed RTT to the sample. The next probe is due at nowS +
     * probe_interval_s. For a failed request pass the time waited.
     */
    public static SelectorState observeRtt(SelectorTables t, SelectorState state, double rttMs, double nowS) {
        checkNumber("rtt_ms", rttMs, false);
        checkTime("now_s", nowS);
        LinkEstimate link = state.link();
        double limit = t.overloadLimitMs(link.profile());
        double a = t.rttSmoothing;
        double smoothed = (1.0 - a) * link.rttMs() + a * rttMs;
        boolean overloaded;
        double newRtt;
        if (state.serverOverloaded()) {
            overloaded = rttMs > limit;
            newRtt = overloaded ? smoothed : rttMs;
        } else {
            overloaded = smoothed > limit;
            newRtt = smoothed;
        }
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

    /**
     * The path of the frame arriving at {@code nowS} in {@code mode}. {@code override} (null,
     * DEVICE or CLOUD) forces the master's place; CLOUD in a mode that never leaves the device is
     * a ConfigException.
     */
    public static Decision decide(SelectorTables t, SelectorState state, Mode mode, double nowS, Placement override) {
        if (mode == null) {
            throw new ConfigException("mode is null; expected one of [normal, power_saving, private, mission_critical]");
        }
        if (state == null) {
            throw new ConfigException("state is null; expected a SelectorState (initialState)");
        }
        checkTime("now_s", nowS);
        RuntimeConfig.ModeSpec spec = t.modes.get(mode);
        LinkEstimate link = state.link();
        SelectorTables.Profile profile = t.profiles.get(link.profile());
        if (profile == null) {
            throw new ConfigException("state.link.profile is '" + link.profile() + "'; expected one of " + t.profiles.keySet());
        }

        double lM = t.masterMs;
        double lT = t.uploadKbit / link.uplinkMbps() + link.rttMs() + t.replyKbit / link.downlinkMbps() + t.serverMs;
        List<Reason> reasons = new ArrayList<>();
        reasons.add(new Reason(ReasonCode.MODE, "mode " + mode));
        boolean probeDue = false;
        Reason whyProbe = null;

        // Rules 1-3: where the master runs.
        Placement placement;
        if (!spec.cloud) {
            if (override == Placement.CLOUD) {
                throw new ConfigException("placement_override is 'cloud' in mode '" + mode
                        + "', which never leaves the device; expected 'device' or None");
            }
            placement = Placement.DEVICE;
            reasons.add(new Reason(ReasonCode.MODE_DEVICE_ONLY, "mode " + mode + " never leaves the device: master on device"));
        } else if (override != null) {
            placement = override;
            reasons.add(new Reason(ReasonCode.PLACEMENT_OVERRIDE, "placement forced to " + override + " by override (L_t "
                    + f2(lT) + " ms vs L_m " + f2(lM) + " ms)"));
            if (state.serverOverloaded()) {
                reasons.add(new Reason(ReasonCode.OVERRIDE_DESPITE_OVERLOAD, "server overloaded, but the override decides the placement"));
            }
        } else if (state.serverOverloaded()) {
            placement = Placement.DEVICE;
            reasons.add(new Reason(ReasonCode.SERVER_OVERLOADED, "server overloaded (smoothed RTT " + f1(link.rttMs()) + " ms > "
                    + g(t.rttRatio) + " × " + g(profile.rttMs) + " ms): master on device"));
            probeDue = state.nextProbeS() == null || nowS >= state.nextProbeS();
            if (probeDue) {
                whyProbe = new Reason(ReasonCode.PROBE_SERVER_OVERLOADED, "probe: server overloaded; one master call to the cloud every "
                        + g(t.probeIntervalS) + " s");
            }
        } else if (lT < lM) {
            placement = Placement.CLOUD;
            reasons.add(new Reason(ReasonCode.CLOUD_FASTER, "L_t " + f2(lT) + " ms < L_m " + f2(lM) + " ms: master in the cloud"));
        } else {
            placement = Placement.DEVICE;
            reasons.add(new Reason(ReasonCode.DEVICE_FASTER, "L_t " + f2(lT) + " ms >= L_m " + f2(lM) + " ms: master on device"));
            // The live estimates, not the profile, keep the master off the cloud: without a cloud
            // request now and then they would never be re-measured.
            if (profile.cloudMs < lM && state.nextProbeS() != null && nowS >= state.nextProbeS()) {
                probeDue = true;
                whyProbe = new Reason(ReasonCode.PROBE_LIVE_LINK, "probe: the live link estimates (L_t " + f2(lT)
                        + " ms) keep the master off the cloud, the profile's (" + f2(profile.cloudMs)
                        + " ms) would not; re-measuring every " + g(t.probeIntervalS) + " s");
            }
        }
        double masterMs = placement == Placement.CLOUD ? lT : lM;

        // Rules 1 and 4: minions or the master alone.
        Map<String, Double> expected = new LinkedHashMap<>();
        Double dtMs = null;
        String system = RuntimeConfig.MASTER_ONLY;
        boolean master = true;
        boolean unchecked = false;
        if (!spec.minions) {
            reasons.add(new Reason(ReasonCode.MASTER_ALONE_MODE, "mode " + mode + " runs the master alone"));
        } else {
            SelectorTables.Selection selection = t.selection(link.profile(), mode);
            SelectorTables.Candidate best = null;
            double bestMs = Double.POSITIVE_INFINITY;
            for (SelectorTables.Candidate c : selection.candidates) {
                double ms = c.minionMs + c.recoveryRate * masterMs;
                expected.put(c.system, ms);
                if (ms < bestMs) {
                    best = c;
                    bestMs = ms;
                }
            }
            if (best == null) {
                reasons.add(new Reason(ReasonCode.NO_MINION_SYSTEM, "no minion system is configured for profile " + link.profile()
                        + " in mode " + mode + ": master alone"));
            } else if (bestMs >= masterMs) {
                reasons.add(new Reason(ReasonCode.MINIONS_NOT_WORTH_IT, "minions not worth it: best system " + best.system
                        + " expects " + f2(bestMs) + " ms >= master alone " + f2(masterMs) + " ms on " + placement));
            } else {
                system = best.system;
                master = false;
                if (best.system.equals(selection.configured)) {
                    reasons.add(new Reason(ReasonCode.CONFIGURED_SYSTEM, "system " + system + ": expected " + f2(bestMs)
                            + " ms < master alone " + f2(masterMs) + " ms on " + placement));
                } else {
                    Double was = expected.get(selection.configured);
                    reasons.add(new Reason(ReasonCode.RUNNER_UP, "runner-up " + system + " (expected " + f2(bestMs)
                            + " ms) replaces the configured " + selection.configured + " (" + f2(was == null ? masterMs : was)
                            + " ms) with the master on " + placement));
                }
            }

            // Rule 5: speculation history.
            HistoryEntry last = state.last();
            if (last != null) {
                dtMs = (nowS - last.timestampS()) * 1e3;
                if (dtMs < 0) {
                    throw new ConfigException("now_s " + nowS + " is earlier than the previous frame's timestamp_s "
                            + last.timestampS() + "; expected a monotonic clock");
                }
                if (last.recovered() && !master) {
                    if (dtMs > t.temporalDistanceMs) {
                        reasons.add(new Reason(ReasonCode.HISTORY_EXPIRED, "no history effect: previous frame " + f0(dtMs)
                                + " ms ago, beyond the temporal distance " + g(t.temporalDistanceMs) + " ms"));
                    } else if (last.masterAnswer().equals(last.minionAnswer())) {
                        unchecked = true;
                        reasons.add(new Reason(ReasonCode.HISTORY_AGREED, "history rule 1: previous frame (" + f0(dtMs)
                                + " ms ago) was recovered and the master agreed with the minions (class " + last.masterAnswer()
                                + "): minions without detection or recovery"));
                    } else {
                        master = true;
                        system = RuntimeConfig.MASTER_ONLY;
                        reasons.add(new Reason(ReasonCode.HISTORY_CORRECTED, "history rule 2: previous frame (" + f0(dtMs)
                                + " ms ago) was corrected by the master (minions " + last.minionAnswer() + ", master "
                                + last.masterAnswer() + "): straight to the master"));
                    }
                }
            }
        }

        boolean probe = probeDue && !unchecked;
        if (probe) {
            placement = Placement.CLOUD;
            reasons.add(whyProbe);
        }
        FramePath path;
        if (master) {
            path = placement == Placement.CLOUD ? FramePath.MASTER_CLOUD : FramePath.MASTER_DEVICE;
        } else {
            path = unchecked ? FramePath.MINIONS_UNCHECKED : FramePath.MINIONS;
        }
        Estimates estimates = new Estimates(lM, lT, profile.cloudMs, masterMs, expected, link.rttMs(), link.uplinkMbps(),
                link.downlinkMbps(), dtMs);
        return new Decision(path, system, placement, path == FramePath.MINIONS ? spec.thresholds : null, probe, reasons, estimates);
    }

    private static String fixed(double value, int digits) {
        return new BigDecimal(value).setScale(digits, RoundingMode.HALF_EVEN).toPlainString();
    }

    static String f0(double value) {
        return fixed(value, 0);
    }

    static String f1(double value) {
        return fixed(value, 1);
    }

    static String f2(double value) {
        return fixed(value, 2);
    }

    /** Six significant digits without trailing zeros, like Python's {@code :g} for ordinary magnitudes. */
    static String g(double value) {
        return new BigDecimal(value).round(new MathContext(6)).stripTrailingZeros().toPlainString();
    }
}
