package org.mmnet.core.runtime;

/** The runtime's placement option: the selector decides (AUTO) or the master is forced to one place. */
public enum PlacementChoice {
    AUTO("auto"),
    DEVICE("device"),
    CLOUD("cloud");

    private final String json;

    PlacementChoice(String json) {
        this.json = json;
    }

    public String json() {
        return json;
    }

    public static PlacementChoice parse(String name) {
        for (PlacementChoice p : values()) {
            if (p.json.equals(name)) {
                return p;
            }
        }
        throw new org.mmnet.core.ConfigException("placement is '" + name + "'; expected one of [auto, device, cloud]");
    }

    @Override
    public String toString() {
        return json;
    }
}
