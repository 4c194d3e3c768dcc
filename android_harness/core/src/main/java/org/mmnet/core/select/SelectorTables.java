package org.mmnet.core.select;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.mmnet.core.ConfigException;
import org.mmnet.core.Mode;
import org.mmnet.core.RuntimeConfig;

/**
 * The numbers {@link Selector#decide} needs, derived once from a parsed runtime config (Python
 * SelectorTables). The arithmetic is written in Python's order so that results are bit-identical.
 */
public final class SelectorTables {
    static final class Profile {
        final double rttMs;
        final double uplinkMbps;
        final double downlinkMbps;
        final double cloudMs;

        Profile(double rttMs, double uplinkMbps, double downlinkMbps, double cloudMs) {
            this.rttMs = rttMs;
            this.uplinkMbps = uplinkMbps;
            this.downlinkMbps = downlinkMbps;
            this.cloudMs = cloudMs;
        }
    }

    static final class Candidate {
        final String system;
        final double minionMs;  // serial sum or parallel max, each resolution's preprocessing once
        final double recoveryRate;
        final double masterPreparedMs;  // the device master's preprocessing when a minion prepares its resolution

        Candidate(String system, double minionMs, double recoveryRate, double masterPreparedMs) {
            this.system = system;
            this.minionMs = minionMs;
            this.recoveryRate = recoveryRate;
            this.masterPreparedMs = masterPreparedMs;
        }
    }

    static final class Selection {
        final String configured;
        final List<Candidate> candidates;

        Selection(String configured, List<Candidate> candidates) {
            this.configured = configured;
            this.candidates = Collections.unmodifiableList(candidates);
        }
    }

    final String master;
    final String defaultProfile;
    final double masterMs;
    final double uploadKbit;
    final double replyKbit;
    final double serverMs;
    final Map<String, Profile> profiles = new LinkedHashMap<>();
    final Map<Mode, RuntimeConfig.ModeSpec> modes = new EnumMap<>(Mode.class);
    private final Map<String, Map<Mode, Selection>> selections = new HashMap<>();
    final double temporalDistanceMs;
    final double probeIntervalS;
    final double rttSmoothing;

    private SelectorTables(RuntimeConfig config) {
        master = config.masterModel();
        defaultProfile = config.defaultProfile();
        masterMs = config.latency().get(master).totalMs;
        RuntimeConfig.Upload upload = config.upload();
        uploadKbit = upload.bytes * 8 / 1e3;
        replyKbit = upload.replyBytes * 8 / 1e3;
        serverMs = upload.serverMs;
        for (RuntimeConfig.NetworkProfile p : config.profiles().values()) {
            double cloud = Selector.cloudLatencyMs(uploadKbit, p.uplinkMbps, p.rttMs, replyKbit, p.downlinkMbps, serverMs);
            profiles.put(p.name, new Profile(p.rttMs, p.uplinkMbps, p.downlinkMbps, cloud));
        }
        for (Mode m : Mode.values()) {
            modes.put(m, config.mode(m));
        }
        for (String profile : config.profiles().keySet()) {
            Map<Mode, Selection> byMode = new EnumMap<>(Mode.class);
            for (Mode mode : Mode.values()) {
                RuntimeConfig.Selection chosen = config.selection(profile, mode);
                RuntimeConfig.ModeSpec spec = modes.get(mode);
                List<String> names = new ArrayList<>();
                List<String> all = new ArrayList<>(chosen.runnerUps);
                all.add(0, chosen.system);
                for (String name : all) {
                    if (!name.equals(RuntimeConfig.MASTER_ONLY) && !names.contains(name)) {
                        names.add(name);
                    }
                }
                List<Candidate> candidates = new ArrayList<>();
                if (spec.minions) {
                    for (String name : names) {
                        RuntimeConfig.MinionSystem system = config.system(name);
                        // Serial: a minion at a resolution an earlier one prepared skips its preprocessing.
                        // Parallel: each waits for its own resolution's preparation, the slowest total.
                        double minionMs = 0.0;
                        boolean first = true;
                        Set<Integer> prepared = new HashSet<>();
                        for (String m : system.minions) {
                            RuntimeConfig.Latency l = config.latency().get(m);
                            if (config.parallelMinions()) {
                                minionMs = first ? l.totalMs : Math.max(minionMs, l.totalMs);
                            } else {
                                boolean shared = l.resolution != null && prepared.contains(l.resolution);
                                minionMs += l.totalMs - (shared ? l.preprocessMs : 0.0);
                            }
                            if (l.resolution != null) {
                                prepared.add(l.resolution);
                            }
                            first = false;
                        }
                        RuntimeConfig.Latency masterLatency = config.latency().get(master);
                        double saved = masterLatency.resolution != null && prepared.contains(masterLatency.resolution)
                                ? masterLatency.preprocessMs : 0.0;
                        candidates.add(new Candidate(name, minionMs, system.modes.get(spec.thresholds).valRecoveryRate,
                                saved));
                    }
                }
                byMode.put(mode, new Selection(chosen.system, candidates));
            }
            selections.put(profile, byMode);
        }
        temporalDistanceMs = config.temporalDistanceMs();
        probeIntervalS = config.probeIntervalS();
        rttSmoothing = config.rttSmoothing();
    }

    /** Build once per loaded config. */
    public static SelectorTables from(RuntimeConfig config) {
        if (config == null) {
            throw new ConfigException("config is null; expected a parsed RuntimeConfig");
        }
        return new SelectorTables(config);
    }

    Profile profile(String name) {
        Profile p = profiles.get(name);
        if (p == null) {
            throw new ConfigException("network profile is '" + name + "'; expected one of " + new TreeSet<>(profiles.keySet()));
        }
        return p;
    }

    Selection selection(String profile, Mode mode) {
        return selections.get(profile).get(mode);
    }

    /** L_m: the master's device latency from the config. */
    public double masterMs() {
        return masterMs;
    }

    /** L_t at the profile's own numbers. */
    public double nominalCloudMs(String profile) {
        return profile(profile).cloudMs;
    }
}
