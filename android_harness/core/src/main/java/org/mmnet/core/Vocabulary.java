// Generated from mmnet/format/vocabulary.py by `python -m android_harness.parity.java_vocabulary`;
// edit that file and run the generator, not this one.
package org.mmnet.core;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/** The names and numbers the Python code and the Java core share (Python mmnet.format.vocabulary). */
public final class Vocabulary {
    private Vocabulary() {
    }

    /** The schema_version of manifest.json. */
    public static final String MANIFEST_SCHEMA_VERSION = "1.0";

    /** The schema_version of runtime_config.json. */
    public static final String RUNTIME_CONFIG_SCHEMA_VERSION = "1.0";

    /** The schema_version of device_profile.json. */
    public static final String DEVICE_PROFILE_SCHEMA_VERSION = "1.0";

    /** A detector threshold no probability reaches: the class is always recovered. */
    public static final double NEVER = 1.01;

    /** The system name of the master alone, where a config names a minion system. */
    public static final String MASTER_ONLY = "master-only";

    /** The user modes, the json names of {@link Mode}, in its order. */
    public static final List<String> MODES = Collections.unmodifiableList(Arrays.asList(
            "normal", "power_saving", "private", "mission_critical"));

    /** The paths a frame takes, the json names of {@link org.mmnet.core.select.FramePath}, in its order. */
    public static final List<String> PATHS = Collections.unmodifiableList(Arrays.asList(
            "minions", "minions_unchecked", "master_device", "master_cloud"));

    /** Where the master runs, the json names of {@link Placement}, in its order. */
    public static final List<String> PLACEMENTS = Collections.unmodifiableList(Arrays.asList(
            "device", "cloud"));
}
