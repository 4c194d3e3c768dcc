package org.mmnet.core.select;

import java.util.Collections;
import java.util.Map;

/** The numbers a decision compared (ms; Python Decision.estimates). */
public final class Estimates {
    /** L_m: the master on the device (config latency, preprocessing included). */
    public final double lM;
    /** L_t: the master in the cloud at the live link estimates. */
    public final double lT;
    /** L_t at the profile's own numbers. */
    public final double lTNominal;
    /** The master at the costing placement. */
    public final double masterMs;
    /** Expected latency per candidate system, in candidate order. */
    public final Map<String, Double> expectedMs;
    public final double rttMs;
    public final double uplinkMbps;
    public final double downlinkMbps;
    /** Time since the previous frame; null without one (or in a mode without minions). */
    public final Double dtMs;

    Estimates(double lM, double lT, double lTNominal, double masterMs, Map<String, Double> expectedMs, double rttMs,
              double uplinkMbps, double downlinkMbps, Double dtMs) {
        this.lM = lM;
        this.lT = lT;
        this.lTNominal = lTNominal;
        this.masterMs = masterMs;
        this.expectedMs = Collections.unmodifiableMap(expectedMs);
        this.rttMs = rttMs;
        this.uplinkMbps = uplinkMbps;
        this.downlinkMbps = downlinkMbps;
        this.dtMs = dtMs;
    }
}
