package org.mmnet.core;

/** The user modes of runtime_config.json's {@code modes} table (dissertation §5.2.2). */
public enum Mode {
    NORMAL("normal"),
    POWER_SAVING("power_saving"),
    PRIVATE("private"),
    MISSION_CRITICAL("mission_critical");

    private final String json;

    Mode(String json) {
        this.json = json;
    }

    /** The name used in JSON documents and traces. */
    public String json() {
        return json;
    }

    public static Mode parse(String name) {
        for (Mode m : values()) {
            if (m.json.equals(name)) {
                return m;
            }
        }
        throw new ConfigException("mode is '" + name + "'; expected one of " + Vocabulary.MODES);
    }

    @Override
    public String toString() {
        return json;
    }
}
