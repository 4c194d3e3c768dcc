package org.mmnet.core.select;

import org.mmnet.core.ConfigException;

/** What the runtime currently believes about the network of one config profile. */
public final class LinkEstimate {
    private final String profile;
    private final double rttMs;
    private final double uplinkMbps;
    private final double downlinkMbps;

    public LinkEstimate(String profile, double rttMs, double uplinkMbps, double downlinkMbps) {
        if (profile == null || profile.isEmpty()) {
            throw new ConfigException("LinkEstimate.profile is " + profile + "; expected a profile name of the config");
        }
        Selector.checkNumber("LinkEstimate.rtt_ms", rttMs, false);
        Selector.checkNumber("LinkEstimate.uplink_mbps", uplinkMbps, true);
        Selector.checkNumber("LinkEstimate.downlink_mbps", downlinkMbps, true);
        this.profile = profile;
        this.rttMs = rttMs;
        this.uplinkMbps = uplinkMbps;
        this.downlinkMbps = downlinkMbps;
    }

    public String profile() {
        return profile;
    }

    /** The smoothed measured RTT; starts at the profile's rtt_ms. */
    public double rttMs() {
        return rttMs;
    }

    public double uplinkMbps() {
        return uplinkMbps;
    }

    public double downlinkMbps() {
        return downlinkMbps;
    }

    LinkEstimate withRtt(double rtt) {
        return new LinkEstimate(profile, rtt, uplinkMbps, downlinkMbps);
    }

    @Override
    public String toString() {
        return "LinkEstimate(" + profile + ", rtt " + rttMs + " ms, up " + uplinkMbps + " Mbps, down " + downlinkMbps + " Mbps)";
    }
}
