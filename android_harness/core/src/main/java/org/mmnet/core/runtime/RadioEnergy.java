package org.mmnet.core.runtime;

import org.mmnet.core.RuntimeConfig;

/**
 * Radio energy of one cloud request (Python network.transfer_energy_mj): Huang et al.'s linear
 * power model per direction at the profile's average bandwidths, plus the base power while waiting.
 * The radio's promotion and tail energy are not charged (an underestimate for isolated requests).
 */
public final class RadioEnergy {
    private RadioEnergy() {
    }

    private static double transferMs(long bytes, double mbps) {
        return bytes * 8 / (mbps * 1e3);
    }

    /** mJ of uploading {@code uploadBytes}, downloading {@code downloadBytes} and waiting {@code waitMs}. */
    public static double transferEnergyMj(RuntimeConfig.NetworkProfile profile, long uploadBytes, long downloadBytes, double waitMs) {
        if (!(waitMs >= 0) || Double.isInfinite(waitMs)) {
            throw new org.mmnet.core.ConfigException("wait_ms is " + waitMs + "; expected a finite number >= 0");
        }
        RuntimeConfig.RadioPower power = profile.power;
        double upMw = power.alphaUpMwPerMbps * profile.uplinkMbps + power.betaMw;
        double downMw = power.alphaDownMwPerMbps * profile.downlinkMbps + power.betaMw;
        double microjoules = upMw * transferMs(uploadBytes, profile.uplinkMbps)
                + downMw * transferMs(downloadBytes, profile.downlinkMbps)
                + power.betaMw * waitMs;
        return microjoules / 1e3;
    }
}
