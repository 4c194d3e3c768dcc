package org.mmnet.core.runtime;

import org.mmnet.core.ConfigException;
import org.mmnet.core.Mode;
import org.mmnet.core.Vocabulary;

/** How a runtime runs a bundle: user mode, network profile, placement, whether the phone holds the master. */
public final class RuntimeOptions {
    private final Mode mode;
    private final String network;
    private final PlacementChoice placement;
    private final boolean deviceMaster;

    private RuntimeOptions(Builder b) {
        mode = b.mode;
        network = b.network;
        placement = b.placement;
        deviceMaster = b.deviceMaster;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Mode mode() {
        return mode;
    }

    /** A network profile of the runtime config; null means its default_profile. */
    public String network() {
        return network;
    }

    public PlacementChoice placement() {
        return placement;
    }

    public boolean deviceMaster() {
        return deviceMaster;
    }

    /** Defaults: mode normal, the config's default profile, placement auto, a device master. */
    public static final class Builder {
        private Mode mode = Mode.NORMAL;
        private String network;
        private PlacementChoice placement = PlacementChoice.AUTO;
        private boolean deviceMaster = true;

        public Builder mode(Mode value) {
            if (value == null) {
                throw new ConfigException("mode is null; expected one of " + Vocabulary.MODES);
            }
            mode = value;
            return this;
        }

        public Builder network(String value) {
            network = value;
            return this;
        }

        public Builder placement(PlacementChoice value) {
            if (value == null) {
                throw new ConfigException("placement is null; expected one of [auto, device, cloud]");
            }
            placement = value;
            return this;
        }

        public Builder deviceMaster(boolean value) {
            deviceMaster = value;
            return this;
        }

        public RuntimeOptions build() {
            return new RuntimeOptions(this);
        }
    }
}
