package org.mmnet.core.select;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.Test;
import org.mmnet.core.BundleException;
import org.mmnet.core.DataException;
import org.mmnet.core.Fixtures;
import org.mmnet.core.JsonNode;

/**
 * {@link DsnnSelector} routes every input of {@code dsnn/cases.json} (written by
 * {@code python -m android_harness.parity.dsnn_cases}) to Python's leaf, part and depth, including the
 * inputs pinned on a threshold, some of which a float32 comparison would route elsewhere.
 */
public class DsnnSelectorParityTest {
    private static JsonObject doc() {
        return JsonNode.parse(Fixtures.resource("dsnn/cases.json"), "dsnn/cases.json").element().getAsJsonObject();
    }

    private static float[] floats(String encoded) {
        ByteBuffer bytes = ByteBuffer.wrap(Base64.getDecoder().decode(encoded)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[bytes.remaining() / 4];
        bytes.asFloatBuffer().get(out);
        return out;
    }

    @Test
    public void everyInputTakesPythonsRoute() {
        List<String> failures = new ArrayList<>();
        int inputs = 0;
        int float32Differs = 0;
        int trees = 0;
        for (JsonElement element : doc().getAsJsonArray("cases")) {
            JsonObject c = element.getAsJsonObject();
            String tree = c.get("name").getAsString();
            DsnnSelector selector = DsnnSelector.fromJson(JsonNode.of(c.get("selector"), tree));
            trees++;
            for (JsonElement in : c.getAsJsonArray("inputs")) {
                JsonObject input = in.getAsJsonObject();
                JsonObject e = input.getAsJsonObject("expected");
                DsnnSelector.Route r = selector.route(floats(input.get("features").getAsString()));
                String got = r.leaf + "/" + r.part + "/" + r.partIndex + "/" + r.depth;
                String want = e.get("leaf").getAsInt() + "/" + e.get("part").getAsString() + "/"
                        + e.get("part_index").getAsInt() + "/" + e.get("depth").getAsInt();
                if (!got.equals(want)) {
                    failures.add(tree + " " + input.get("name").getAsString() + ": leaf/part/index/depth " + got
                            + ", Python " + want);
                }
                float32Differs += input.get("float32_comparison_differs").getAsBoolean() ? 1 : 0;
                inputs++;
            }
        }
        assertTrue(failures.size() + " of " + inputs + " inputs differ:\n" + String.join("\n", failures), failures.isEmpty());
        assertEquals("trees", 3, trees);
        assertTrue("only " + inputs + " inputs", inputs >= 150);
        assertTrue("no pinned input a float32 comparison would route elsewhere", float32Differs >= 1);
    }

    @Test
    public void aMalformedTreeOrInputIsRefused() {
        JsonObject c = doc().getAsJsonArray("cases").get(2).getAsJsonObject();
        JsonObject tree = c.getAsJsonObject("selector").deepCopy();
        tree.getAsJsonObject("nodes").getAsJsonArray("left").set(0, new com.google.gson.JsonPrimitive(0));
        try {
            DsnnSelector.fromJson(JsonNode.of(tree, "bad"));
            fail("a node that is its own child was accepted");
        } catch (BundleException expected) {
            assertTrue(expected.getMessage(), expected.getMessage().contains("child 0"));
        }
        DsnnSelector selector = DsnnSelector.fromJson(JsonNode.of(c.get("selector"), "hand"));
        try {
            selector.route(new float[] {0f, Float.NaN, 0f});
            fail("a NaN feature was routed");
        } catch (DataException expected) {
            assertTrue(expected.getMessage(), expected.getMessage().contains("finite"));
        }
        try {
            selector.route(new float[2]);
            fail("two features were routed by a tree of three");
        } catch (DataException expected) {
            assertTrue(expected.getMessage(), expected.getMessage().contains("expected 3"));
        }
    }
}
