package org.mmnet.core.select;

import org.mmnet.core.Mode;
import org.mmnet.core.Placement;

/**
 * The memo of rules 1-4 for one caller of {@link Selector#decide} (a runtime): its last costing
 * (Python selector.CostingCache). Rules 1-4 depend only on the tables, the mode, the override, the
 * link estimate and the server state, which change far less often than frames arrive (a new link
 * estimate is a new object, so it is compared by identity). One entry: a change of any of them
 * recomputes it. Mutable, unlike everything else in this package, and not thread-safe: a runtime
 * owns one beside its {@link SelectorTables}.
 */
public final class CostingCache {
    private SelectorTables tables;
    private LinkEstimate link;
    private Mode mode;
    private Placement override;
    private boolean serverOverloaded;
    private Selector.Costing costing;

    Selector.Costing costing(SelectorTables t, Mode m, Placement o, LinkEstimate l, boolean overloaded) {
        if (costing == null || tables != t || link != l || mode != m || override != o || serverOverloaded != overloaded) {
            costing = Selector.cost(t, m, o, l, overloaded);
            tables = t;
            link = l;
            mode = m;
            override = o;
            serverOverloaded = overloaded;
        }
        return costing;
    }
}
