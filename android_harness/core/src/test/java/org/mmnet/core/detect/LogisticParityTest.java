package org.mmnet.core.detect;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.Test;
import org.mmnet.core.Fixtures;
import org.mmnet.core.JsonNode;

/**
 * {@link LogisticDetector} reproduces Python's {@code mmnet.runtime.learned_detector} on the golden
 * cases of {@code detector/cases.json} (written by {@code python -m android_harness.parity.detector_cases}):
 * on every case the same verdict, and every feature, the score and the shown confidence bit for bit.
 * The learned detector has no temperature and no power function (only additions, multiplications
 * and divisions in Python's order), so nothing may differ, not even in the last bit.
 */
public class LogisticParityTest {
    @Test
    public void everyCaseGivesPythonsVerdictAndItsFeaturesScoreAndConfidenceBitForBit() {
        JsonObject doc = JsonNode.parse(Fixtures.resource("detector/cases.json"), "detector/cases.json").element().getAsJsonObject();
        List<String> failures = new ArrayList<>();
        int cases = 0;
        int undefined = 0;
        int accepted = 0;
        int quantized = 0;
        for (JsonElement element : doc.getAsJsonArray("cases")) {
            JsonObject c = element.getAsJsonObject();
            String name = c.get("name").getAsString();
            try {
                replay(c);
                JsonObject e = c.getAsJsonObject("expected");
                undefined += e.get("score").isJsonNull() ? 1 : 0;
                accepted += e.get("accept").getAsBoolean() ? 1 : 0;
                quantized += c.get("quantized").isJsonNull() ? 0 : 1;
            } catch (AssertionError err) {
                failures.add(name + ": " + err.getMessage());
            }
            cases++;
        }
        assertTrue(failures.size() + " of " + cases + " cases differ:\n" + String.join("\n", failures), failures.isEmpty());
        assertTrue("only " + cases + " cases", cases >= 40);
        assertTrue("only " + undefined + " cases with undefined features", undefined >= 4);
        assertTrue(accepted + " of " + cases + " cases accepted", accepted >= 5 && accepted <= cases - 5);
        assertTrue("only " + quantized + " cases of 8-bit outputs", quantized >= 2);
    }

    /** Replays one case: Python's verdict, and its features, score and confidence bit for bit. */
    private static void replay(JsonObject c) {
        JsonArray encoded = c.getAsJsonArray("outputs");
        int classes = c.get("classes").getAsInt();
        float[][] outputs = new float[encoded.size()][];
        for (int i = 0; i < outputs.length; i++) {
            ByteBuffer bytes = ByteBuffer.wrap(Base64.getDecoder().decode(encoded.get(i).getAsString())).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals("output bytes", 4 * classes, bytes.remaining());
            outputs[i] = new float[classes];
            bytes.asFloatBuffer().get(outputs[i]);
        }
        if (!c.get("quantized").isJsonNull()) {
            JsonObject q = c.getAsJsonObject("quantized");
            JsonArray codes = q.getAsJsonArray("codes");
            boolean signed = "int8".equals(q.get("dtype").getAsString());
            float scale = (float) q.get("scale").getAsDouble();  // as Preprocessor: the double scale rounded to float
            int zero = q.get("zero_point").getAsInt();
            for (int i = 0; i < outputs.length; i++) {
                byte[] raw = Base64.getDecoder().decode(codes.get(i).getAsString());
                assertEquals("code count", classes, raw.length);
                for (int j = 0; j < classes; j++) {
                    int code = signed ? raw[j] : raw[j] & 0xFF;
                    float dequantized = ((float) code - zero) * scale;  // as Preprocessor.dequantize
                    assertEquals("minion " + i + " code " + j + " dequantizes to the case's score",
                            Float.floatToRawIntBits(dequantized), Float.floatToRawIntBits(outputs[i][j]));
                }
            }
        }
        LogisticDetector detector = LogisticDetector.fromJson(c.get("detector"), outputs.length, c.get("name").getAsString());
        JsonObject e = c.getAsJsonObject("expected");

        MinionSummary[] summaries = new MinionSummary[outputs.length];
        for (int i = 0; i < outputs.length; i++) {
            summaries[i] = LogisticDetector.minionSummary(outputs[i]);
        }
        double[] features = LogisticDetector.frameFeatures(summaries);
        LogisticDetector.Scored scored = LogisticDetector.logisticFrame(outputs, detector);
        FrameVerdict v = scored.verdict();
        assertEquals("answer", e.get("answer").getAsInt(), v.answer());
        assertEquals("agree", e.get("agree").getAsBoolean(), v.agree());
        assertEquals("accept", e.get("accept").getAsBoolean(), v.accept());
        assertEquals("reason", e.get("reason").getAsString(), v.reason());
        assertTrue("scored", v.scored());
        same("confidence", e.get("confidence"), e.get("confidence_json"), v.confidence());
        if (e.get("features").isJsonNull()) {
            assertNull("features are defined in Java, not in Python", features);
            assertTrue("score is null in Python", e.get("score").isJsonNull() && e.get("score_json").isJsonNull());
            assertNull("score", scored.score());
            assertEquals("an undefined frame is recovered", false, v.accept());
            return;
        }
        assertNotNull("features are undefined in Java, not in Python", features);
        JsonArray hex = e.getAsJsonArray("features");
        JsonArray json = e.getAsJsonArray("features_json");
        assertEquals("feature count", hex.size(), features.length);
        for (int k = 0; k < features.length; k++) {
            same(detector.features().get(k), hex.get(k), json.get(k), features[k]);
        }
        assertNotNull("score", scored.score());
        same("score", e.get("score"), e.get("score_json"), scored.score());
        assertEquals("score from the features", Double.doubleToLongBits(detector.score(features)),
                Double.doubleToLongBits(scored.score()));
    }

    /** Python's value (its float.hex, which must be its JSON number too) against Java's: the same bits. */
    private static void same(String what, JsonElement hex, JsonElement json, double actual) {
        double expected = Double.parseDouble(hex.getAsString());
        assertEquals(what + ": float.hex and JSON number", Double.doubleToLongBits(expected), Double.doubleToLongBits(json.getAsDouble()));
        assertEquals(what + " is " + actual + " (" + Double.toHexString(actual) + "), Python " + hex.getAsString(),
                Double.doubleToLongBits(expected), Double.doubleToLongBits(actual));
    }

    @Test
    public void pythonsHexFormatParsesInJava() {
        assertEquals(3.0, Double.parseDouble("0x1.8000000000000p+1"), 0.0);
        assertEquals(0.0, Double.parseDouble("0x0.0p+0"), 0.0);
        assertEquals(-0.25, Double.parseDouble("-0x1.0000000000000p-2"), 0.0);
        assertEquals(Double.MIN_VALUE * 0x7e8, Double.parseDouble("0x0.00000000007e8p-1022"), 0.0);
    }
}
