package org.mmnet.core.select;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Pattern;
import org.mmnet.core.DataException;
import org.mmnet.core.JsonNode;

/**
 * The multi-dsNN selector tree (dissertation ch. 3), mirroring Python {@code mmnet.format.multi_dsnn.SelectorTree}
 * and {@code mmnet.runtime.multi_dsnn.route}: {@code multi_dsnn/selector.json} of a bundle, schema 1.0.
 *
 * <p>Nodes are parallel arrays, node 0 the root; a leaf has feature -1 and names its part. An internal node
 * sends an input left when its float32 feature, widened to double, is {@code <=} the node's double threshold
 * (scikit-learn's rule; JSON numbers parse to the same doubles Python wrote), else right. Children come after
 * their parent, so every walk ends. Non-finite features are refused: a NaN compares false and would route right.
 * A malformed tree is a {@link org.mmnet.core.BundleException} naming the JSON path.
 */
public final class DsnnSelector {
    public static final String SCHEMA_VERSION = "1.0";
    public static final String COMPARISON = "float32_feature_as_float64 <= float64_threshold";
    public static final int LEAF = -1;
    private static final Pattern PART = Pattern.compile("^[a-z][a-z0-9_]{0,31}$");

    private final int nFeatures;
    private final List<String> parts;
    private final int[] feature;
    private final double[] threshold;
    private final int[] left;
    private final int[] right;
    private final int[] part;

    /** Where an input went: the leaf reached, its part and the path's length. */
    public static final class Route {
        public final int leaf;
        public final int partIndex;
        public final String part;
        public final int depth;

        Route(int leaf, int partIndex, String part, int depth) {
            this.leaf = leaf;
            this.partIndex = partIndex;
            this.part = part;
            this.depth = depth;
        }
    }

    private DsnnSelector(int nFeatures, List<String> parts, int[] feature, double[] threshold, int[] left, int[] right,
                         int[] part) {
        this.nFeatures = nFeatures;
        this.parts = parts;
        this.feature = feature;
        this.threshold = threshold;
        this.left = left;
        this.right = right;
        this.part = part;
    }

    /** The tree of a selector document; BundleException naming the JSON path of what is wrong. */
    public static DsnnSelector fromJson(JsonNode doc) {
        String version = doc.get("schema_version").string();
        if (!SCHEMA_VERSION.equals(version)) {
            throw doc.get("schema_version").error("is '" + version + "'; expected '" + SCHEMA_VERSION + "'");
        }
        doc.get("comparison").oneOf(COMPARISON);
        int nFeatures = doc.get("n_features").intAtLeast(1);
        List<String> parts = new ArrayList<>();
        for (JsonNode p : doc.get("parts").items()) {
            String name = p.matching(PART, "a part name (lower case, digits, '_')");
            if (parts.contains(name)) {
                throw p.error("repeats part '" + name + "'; expected distinct parts");
            }
            parts.add(name);
        }
        if (parts.size() < 2) {
            throw doc.get("parts").error("names " + parts.size() + " parts; expected at least 2");
        }
        JsonNode nodes = doc.get("nodes");
        int[] feature = ints(nodes.get("feature"));
        int n = feature.length;
        double[] threshold = new double[n];
        List<JsonNode> thresholds = nodes.get("threshold").items();
        int[] left = ints(nodes.get("left"));
        int[] right = ints(nodes.get("right"));
        int[] part = ints(nodes.get("part"));
        if (n == 0 || thresholds.size() != n || left.length != n || right.length != n || part.length != n) {
            throw nodes.error("has " + n + " features, " + thresholds.size() + " thresholds, " + left.length + " left, "
                    + right.length + " right and " + part.length + " parts; expected the same number (>= 1)");
        }
        int[] parents = new int[n];
        boolean[] reached = new boolean[parts.size()];
        int partsReached = 0;
        for (int i = 0; i < n; i++) {
            threshold[i] = thresholds.get(i).number();
            if (feature[i] == LEAF) {
                if (left[i] != LEAF || right[i] != LEAF || part[i] < 0 || part[i] >= parts.size()) {
                    throw nodes.error("node " + i + " is a leaf with left " + left[i] + ", right " + right[i] + ", part "
                            + part[i] + "; expected left and right -1 and a part in 0.." + (parts.size() - 1));
                }
                if (!reached[part[i]]) {
                    reached[part[i]] = true;
                    partsReached++;
                }
                continue;
            }
            if (feature[i] < 0 || feature[i] >= nFeatures) {
                throw nodes.error("node " + i + " reads feature " + feature[i] + "; expected 0.." + (nFeatures - 1));
            }
            if (part[i] != LEAF) {
                throw nodes.error("node " + i + " is internal with part " + part[i] + "; expected -1");
            }
            for (int child : new int[] {left[i], right[i]}) {
                if (child <= i || child >= n) {
                    throw nodes.error("node " + i + " has child " + child + "; expected a node id in " + (i + 1) + ".."
                            + (n - 1));
                }
                parents[child]++;
            }
        }
        for (int i = 1; i < n; i++) {
            if (parents[i] != 1) {
                throw nodes.error("node " + i + " has " + parents[i] + " parents; expected exactly one");
            }
        }
        if (partsReached < 2) {
            throw nodes.error("leaves reach " + partsReached + " part(s); expected at least 2");
        }
        return new DsnnSelector(nFeatures, Collections.unmodifiableList(parts), feature, threshold, left, right, part);
    }

    private static int[] ints(JsonNode array) {
        List<JsonNode> items = array.items();
        int[] out = new int[items.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = items.get(i).anyInt();
        }
        return out;
    }

    public int featureCount() {
        return nFeatures;
    }

    public List<String> parts() {
        return parts;
    }

    /** Walks the tree on one input's float32 features. */
    public Route route(float[] features) {
        if (features.length != nFeatures) {
            throw new DataException("selector features hold " + features.length + " values; expected " + nFeatures);
        }
        for (int i = 0; i < features.length; i++) {
            if (Float.isNaN(features[i]) || Float.isInfinite(features[i])) {
                throw new DataException("selector feature " + i + " is " + features[i] + "; expected finite float32 features");
            }
        }
        int node = 0;
        int depth = 0;
        while (feature[node] != LEAF) {
            node = (double) features[feature[node]] <= threshold[node] ? left[node] : right[node];
            depth++;
        }
        return new Route(node, part[node], parts.get(part[node]), depth);
    }
}
