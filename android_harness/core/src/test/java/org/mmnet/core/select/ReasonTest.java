package org.mmnet.core.select;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;
import org.mmnet.core.Fixtures;
import org.mmnet.core.JsonNode;

/**
 * Reasons render their sentences from the shared templates exactly as Python does: every code with
 * the sample values of {@code vocabulary/reason_texts.json}, which the Python generator
 * (android_harness/parity/java_vocabulary.py) rendered.
 */
public class ReasonTest {
    private static JsonArray samples() {
        String text = Fixtures.resource("vocabulary/reason_texts.json");
        return JsonNode.parse(text, "reason_texts.json").element().getAsJsonObject().getAsJsonArray("reasons");
    }

    /** JSON numbers written by Python: ints without a point or exponent, floats with one. */
    private static Object value(JsonPrimitive p) {
        if (p.isString()) {
            return p.getAsString();
        }
        String number = p.getAsString();
        return number.contains(".") || number.contains("e") || number.contains("E") ? (Object) p.getAsDouble() : p.getAsInt();
    }

    @Test
    public void everyCodeRendersPythonsSentenceFromTheSampleValues() {
        JsonArray samples = samples();
        assertEquals(2 * ReasonCode.values().length, samples.size());
        for (JsonElement e : samples) {
            JsonObject sample = e.getAsJsonObject();
            Map<String, Object> values = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> v : sample.getAsJsonObject("values").entrySet()) {
                values.put(v.getKey(), value(v.getValue().getAsJsonPrimitive()));
            }
            Reason reason = new Reason(ReasonCode.parse(sample.get("code").getAsString()), values);
            assertEquals(sample.get("text").getAsString(), reason.text());
            assertEquals(sample, reason.toJson());
        }
    }

    @Test
    public void aMissingValueOrAnUnknownSpecIsNamed() {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> Reason.of(ReasonCode.CLOUD_FASTER, "L_t", 1.0).text());
        assertTrue(missing.getMessage(), missing.getMessage().contains("needs the value 'L_m'"));
        IllegalArgumentException spec = assertThrows(IllegalArgumentException.class,
                () -> Reason.render("{x:.3e}", Map.of("x", 1.0)));
        assertTrue(spec.getMessage(), spec.getMessage().contains("format spec is '.3e'"));
    }

    @Test
    public void anUnknownCodeIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ReasonCode.parse("a rule the core lacks"));
        assertTrue(e.getMessage(), e.getMessage().contains("reason code is 'a rule the core lacks'"));
    }
}
