// Generated from mmnet/format/vocabulary.py by `python -m android_harness.parity.java_vocabulary`;
// edit that file and run the generator, not this one.
package org.mmnet.core.select;

/**
 * Why a {@link Decision} went as it did: one code per rule, in the order the rules apply (Python
 * mmnet.format.vocabulary.ReasonCode). {@link #json()} is the name in traces; {@link #template()} is
 * the sentence a {@link Reason} renders from its values ({name} or {name:spec} fields, spec one of
 * .0f, .1f, .2f, g).
 */
public enum ReasonCode {
    /** Always first: the user mode. */
    MODE("mode",
            "mode {mode}"),
    /** The mode never leaves the device: master on device. */
    MODE_DEVICE_ONLY("mode_device_only",
            "mode {mode} never leaves the device: master on device"),
    /** The placement override decided where the master runs. */
    PLACEMENT_OVERRIDE("placement_override",
            "placement forced to {placement} by override (L_t {L_t:.2f} ms vs L_m {L_m:.2f} ms)"),
    /** The server is overloaded, but the override decides the placement. */
    OVERRIDE_DESPITE_OVERLOAD("override_despite_overload",
            "server overloaded, but the override decides the placement"),
    /** Server-load back-off: cloud requests take longer than the device master; master on device. */
    SERVER_OVERLOADED("server_overloaded",
            "server overloaded (request latency {L_t:.1f} ms > L_m {L_m:.1f} ms): master on device"),
    /** L_t < L_m: master in the cloud. */
    CLOUD_FASTER("cloud_faster",
            "L_t {L_t:.2f} ms < L_m {L_m:.2f} ms: master in the cloud"),
    /** L_t >= L_m: master on device. */
    DEVICE_FASTER("device_faster",
            "L_t {L_t:.2f} ms >= L_m {L_m:.2f} ms: master on device"),
    /** The mode runs the master alone. */
    MASTER_ALONE_MODE("master_alone_mode",
            "mode {mode} runs the master alone"),
    /** No minion system is configured for this profile and mode. */
    NO_MINION_SYSTEM("no_minion_system",
            "no minion system is configured for profile {profile} in mode {mode}: master alone"),
    /** Even the cheapest minion system is no faster than the master alone. */
    MINIONS_NOT_WORTH_IT("minions_not_worth_it",
            "minions not worth it: best system {system} expects {expected_ms:.2f} ms >= master alone {master_ms:.2f} ms on {placement}"),
    /** The configured system is the cheapest. */
    CONFIGURED_SYSTEM("configured_system",
            "system {system}: expected {expected_ms:.2f} ms < master alone {master_ms:.2f} ms on {placement}"),
    /** A runner-up is cheaper than the configured system with the current placement. */
    RUNNER_UP("runner_up",
            "runner-up {system} (expected {expected_ms:.2f} ms) replaces the configured {configured} ({configured_ms:.2f} ms) with the master on {placement}"),
    /** The previous frame is beyond the temporal distance: no history effect. */
    HISTORY_EXPIRED("history_expired",
            "no history effect: previous frame {dt_ms:.0f} ms ago, beyond the temporal distance {temporal_distance_ms:g} ms"),
    /** History rule 1: the master agreed with the minions on the previous frame. */
    HISTORY_AGREED("history_agreed",
            "history rule 1: previous frame ({dt_ms:.0f} ms ago) was recovered and the master agreed with the minions (class {master_answer}): minions without detection or recovery"),
    /** History rule 2: the master corrected the minions on the previous frame. */
    HISTORY_CORRECTED("history_corrected",
            "history rule 2: previous frame ({dt_ms:.0f} ms ago) was corrected by the master (minions {minion_answer}, master {master_answer}): straight to the master"),
    /** A server-load probe: one master call to the cloud while overloaded. */
    PROBE_SERVER_OVERLOADED("probe_server_overloaded",
            "probe: server overloaded; one master call to the cloud every {probe_interval_s:g} s"),
    /** A probe because the live link estimates, not the profile, keep the master off the cloud. */
    PROBE_LIVE_LINK("probe_live_link",
            "probe: the live link estimates (L_t {L_t:.2f} ms) keep the master off the cloud, the profile's ({L_t_nominal:.2f} ms) would not; re-measuring every {probe_interval_s:g} s");

    private final String json;
    private final String template;

    ReasonCode(String json, String template) {
        this.json = json;
        this.template = template;
    }

    public String json() {
        return json;
    }

    public String template() {
        return template;
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
