package org.mmnet.core.select;

/** The path a frame takes (Python selector.PATHS). */
public enum FramePath {
    /** The system's minions and the detector; the master recovers what the detector rejects. */
    MINIONS("minions"),
    /** History rule 1: the minions' answer is accepted without detection or recovery. */
    MINIONS_UNCHECKED("minions_unchecked"),
    MASTER_DEVICE("master_device"),
    MASTER_CLOUD("master_cloud");

    private final String json;

    FramePath(String json) {
        this.json = json;
    }

    public String json() {
        return json;
    }

    public boolean runsMinions() {
        return this == MINIONS || this == MINIONS_UNCHECKED;
    }

    public boolean runsDetector() {
        return this == MINIONS;
    }

    @Override
    public String toString() {
        return json;
    }
}
