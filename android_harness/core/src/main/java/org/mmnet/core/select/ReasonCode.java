package org.mmnet.core.select;

/** The machine-readable kind of each reason a {@link Decision} records, in the order rules apply. */
public enum ReasonCode {
    /** Always first: the user mode. */
    MODE("mode"),
    /** The mode never leaves the device: master on device. */
    MODE_DEVICE_ONLY("mode_device_only"),
    /** The placement override decided where the master runs. */
    PLACEMENT_OVERRIDE("placement_override"),
    /** The server is overloaded, but the override decides the placement. */
    OVERRIDE_DESPITE_OVERLOAD("override_despite_overload"),
    /** Server-load back-off: master on device. */
    SERVER_OVERLOADED("server_overloaded"),
    /** L_t < L_m: master in the cloud. */
    CLOUD_FASTER("cloud_faster"),
    /** L_t >= L_m: master on device. */
    DEVICE_FASTER("device_faster"),
    /** The mode runs the master alone. */
    MASTER_ALONE_MODE("master_alone_mode"),
    /** No minion system is configured for this profile and mode. */
    NO_MINION_SYSTEM("no_minion_system"),
    /** Even the cheapest minion system is no faster than the master alone. */
    MINIONS_NOT_WORTH_IT("minions_not_worth_it"),
    /** The configured system is the cheapest. */
    CONFIGURED_SYSTEM("configured_system"),
    /** A runner-up is cheaper than the configured system with the current placement. */
    RUNNER_UP("runner_up"),
    /** The previous frame is beyond the temporal distance: no history effect. */
    HISTORY_EXPIRED("history_expired"),
    /** History rule 1: the master agreed with the minions on the previous frame. */
    HISTORY_AGREED("history_agreed"),
    /** History rule 2: the master corrected the minions on the previous frame. */
    HISTORY_CORRECTED("history_corrected"),
    /** A server-load probe: one master call to the cloud while overloaded. */
    PROBE_SERVER_OVERLOADED("probe_server_overloaded"),
    /** A probe because live link estimates, not the profile, keep the master off the cloud. */
    PROBE_LIVE_LINK("probe_live_link");

    private final String json;

    ReasonCode(String json) {
        this.json = json;
    }

    public String json() {
        return json;
    }

    public static ReasonCode parse(String name) {
        for (ReasonCode c : values()) {
            if (c.json.equals(name)) {
                return c;
            }
        }
        throw new IllegalArgumentException("reason code is '" + name + "'; expected one of the ReasonCode names");
    }

    @Override
    public String toString() {
        return json;
    }
}
