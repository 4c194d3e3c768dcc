package org.mmnet.core;

/** Where the master runs. */
public enum Placement {
    DEVICE("device"),
    CLOUD("cloud");

    private final String json;

    Placement(String json) {
        this.json = json;
    }

    public String json() {
        return json;
    }

    public static Placement parse(String name) {
        for (Placement p : values()) {
            if (p.json.equals(name)) {
                return p;
            }
        }
        throw new ConfigException("placement is '" + name + "'; expected 'device' or 'cloud'");
    }

    @Override
    public String toString() {
        return json;
    }
}
