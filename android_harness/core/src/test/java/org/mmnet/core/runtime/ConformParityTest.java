package org.mmnet.core.runtime;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;
import org.mmnet.core.Fixtures;
import org.mmnet.core.JsonNode;
import org.mmnet.core.PreprocessingSpec.ResizePolicy;

/**
 * {@link Preprocessor#conform} gives exactly the bytes of Python's {@code conform_frame} on the golden
 * cases of {@code conform/cases.json} (written by {@code python -m android_harness.parity.conform_cases}).
 */
public class ConformParityTest {
    @Test
    public void everyCaseIsReproducedByteForByte() {
        JsonObject doc = JsonNode.parse(Fixtures.resource("conform/cases.json"), "conform/cases.json").element().getAsJsonObject();
        Map<String, Frame> inputs = new HashMap<>();
        for (Map.Entry<String, JsonElement> e : doc.getAsJsonObject("inputs").entrySet()) {
            JsonObject in = e.getValue().getAsJsonObject();
            int[] shape = new int[3];
            for (int i = 0; i < 3; i++) {
                shape[i] = in.getAsJsonArray("shape").get(i).getAsInt();
            }
            inputs.put(e.getKey(), Frame.of(Base64.getDecoder().decode(in.get("pixels").getAsString()), shape[0], shape[1], shape[2]));
        }
        List<String> differing = new ArrayList<>();
        int cases = 0;
        for (JsonElement element : doc.getAsJsonArray("cases")) {
            JsonObject c = element.getAsJsonObject();
            String input = c.get("input").getAsString();
            int height = c.get("height").getAsInt();
            int width = c.get("width").getAsInt();
            String policy = c.get("policy").getAsString();
            byte[] expected = Base64.getDecoder().decode(c.get("output").getAsString());
            Frame out = Preprocessor.conform(inputs.get(input), height, width, ResizePolicy.of(policy));
            assertEquals(input + " " + policy, expected.length, out.pixels().length);
            for (int i = 0; i < expected.length; i++) {
                if (expected[i] != out.pixels()[i]) {
                    differing.add(input + " to " + height + "x" + width + " " + policy + ": byte " + i + " is "
                            + (out.pixels()[i] & 0xFF) + ", Python " + (expected[i] & 0xFF));
                    break;
                }
            }
            cases++;
        }
        assertTrue("only " + cases + " cases", cases >= 16);
        assertTrue(differing.toString(), differing.isEmpty());
    }
}
