package org.mmnet.core.select;

import org.mmnet.core.ConfigException;

/**
 * Everything {@link Selector#decide} needs besides the config, the mode and the time: the link
 * estimate, whether the server is overloaded, the earliest time of the next cloud probe and the
 * previous frame. Immutable; the transitions return new states.
 */
public final class SelectorState {
    private final LinkEstimate link;
    private final boolean serverOverloaded;
    private final Double nextProbeS;
    private final HistoryEntry last;

    public SelectorState(LinkEstimate link, boolean serverOverloaded, Double nextProbeS, HistoryEntry last) {
        if (link == null) {
            throw new ConfigException("SelectorState.link is null; expected a LinkEstimate");
        }
        if (nextProbeS != null) {
            Selector.checkTime("SelectorState.next_probe_s", nextProbeS);
        }
        this.link = link;
        this.serverOverloaded = serverOverloaded;
        this.nextProbeS = nextProbeS;
        this.last = last;
    }

    public LinkEstimate link() {
        return link;
    }

    public boolean serverOverloaded() {
        return serverOverloaded;
    }

    /** Null until the first RTT observation. */
    public Double nextProbeS() {
        return nextProbeS;
    }

    /** Null before the first frame. */
    public HistoryEntry last() {
        return last;
    }

    @Override
    public String toString() {
        return "SelectorState(" + link + ", overloaded " + serverOverloaded + ", next probe " + nextProbeS + " s)";
    }
}
