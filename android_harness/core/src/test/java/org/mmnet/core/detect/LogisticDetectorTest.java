package org.mmnet.core.detect;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Test;
import org.mmnet.core.Bundle;
import org.mmnet.core.BundleException;
import org.mmnet.core.ConfigException;
import org.mmnet.core.Fixtures;
import org.mmnet.core.RuntimeConfig;
import org.mmnet.core.runtime.Frame;
import org.mmnet.core.runtime.FrameResult;
import org.mmnet.core.runtime.MmnetRuntime;
import org.mmnet.core.runtime.MmnetRuntimeTest;
import org.mmnet.core.runtime.RuntimeOptions;
import org.mmnet.core.select.FramePath;

/** The learned detector (Python mmnet.runtime.learned_detector) on hand-computed examples, its parsing and its runtime use. */
public class LogisticDetectorTest {
    private static final float[] HALF_QUARTERS = {0.5f, 0.25f, 0.25f};
    private static final float[] QUARTER_HALF = {0.25f, 0.5f, 0.25f};

    private static LogisticDetector single(double bias, double threshold, double... weights) {
        return new LogisticDetector(LogisticDetector.SINGLE_FEATURES, weights, bias, threshold);
    }

    @Test
    public void threeClassesGiveTheHandComputedFeaturesAndScore() {
        // s = (0.5, 0.25, 0.25), S = 1: confidence 0.5, margin 0.5 - 0.25, concentration 0.25 + 0.0625 + 0.0625
        MinionSummary s = LogisticDetector.minionSummary(HALF_QUARTERS);
        assertEquals(0, s.top);
        assertEquals(1.0, s.total, 0.0);
        assertEquals(0.25, s.second, 0.0);
        assertEquals(0.375, s.squares, 0.0);
        assertTrue(s.usable());
        double[] features = LogisticDetector.frameFeatures(new MinionSummary[] {s});
        assertArrayEquals(new double[] {0.5, 0.25, 0.375}, features, 0.0);
        LogisticDetector d = single(-1.0, 1.5, 1.0, 2.0, 4.0);
        assertEquals(1.5, d.score(features), 0.0);  // -1 + 0.5 + 0.5 + 1.5
        LogisticDetector.Scored at = LogisticDetector.logisticFrame(new float[][] {HALF_QUARTERS}, d);
        assertEquals(1.5, at.score(), 0.0);
        assertTrue("score >= threshold accepts", at.verdict().accept());
        assertEquals("accepted", at.verdict().reason());
        assertEquals(0.5, at.verdict().confidence(), 0.0);
        LogisticDetector above = single(-1.0, Math.nextUp(1.5), 1.0, 2.0, 4.0);
        FrameVerdict low = LogisticDetector.logisticFrame(new float[][] {HALF_QUARTERS}, above).verdict();
        assertFalse(low.accept());
        assertTrue(low.scored());
        assertEquals("low_score", low.reason());
    }

    @Test
    public void negativeScoresAreClippedAtZeroAndTheFirstMaximumIsTheTop() {
        MinionSummary s = LogisticDetector.minionSummary(new float[] {-2f, 0.25f, -0f, 0.75f, 0.75f, Float.NaN});
        assertArrayEquals(new double[] {0.0, 0.25, 0.0, 0.75, 0.75, 0.0}, s.terms(), 0.0);
        assertEquals("the first of equal maxima", 3, s.top);
        assertEquals(1.75, s.total, 0.0);
        assertEquals(0.75, s.peak, 0.0);
        assertEquals(0.75, s.second, 0.0);
        assertEquals(0.0625 + 0.5625 + 0.5625, s.squares, 0.0);
        assertArrayEquals(new double[] {0.75 / 1.75, 0.75 / 1.75 - 0.75 / 1.75, s.squares / (1.75 * 1.75)},
                LogisticDetector.frameFeatures(new MinionSummary[] {s}), 0.0);
        MinionSummary one = LogisticDetector.minionSummary(new float[] {3f});
        assertEquals("a single class has no second", 0.0, one.second, 0.0);
    }

    @Test
    public void aDisagreeingPairGivesTheHandComputedFeaturesInPythonsOrder() {
        // minion 0: s = (0.5, 0.25, 0.25), S = 1; minion 1: s = (0.25, 1, 0) (-0.75 clipped), S = 1.25
        float[] second = {0.25f, 1.0f, -0.75f};
        double s1 = 1.25;
        double c1 = 1.0 / s1;
        double[] expected = {
            0.5, 0.5 - 0.25, 0.375,
            c1, c1 - 0.25 / s1, (0.0625 + 1.0 + 0.0) / (s1 * s1),
            0.0, 0.25 / 1.0, 0.25 / s1,
        };
        MinionSummary a = LogisticDetector.minionSummary(HALF_QUARTERS);
        MinionSummary b = LogisticDetector.minionSummary(second);
        double[] features = LogisticDetector.frameFeatures(new MinionSummary[] {a, b});
        assertArrayEquals(expected, features, 0.0);
        double[] weights = {1, -1, 2, -2, 3, -3, 4, -4, 5};
        LogisticDetector d = new LogisticDetector(LogisticDetector.PAIR_FEATURES, weights, 0.25, 0.0);
        double z = 0.25;
        for (int k = 0; k < weights.length; k++) {
            z += weights[k] * expected[k];
        }
        LogisticDetector.Scored r = LogisticDetector.logisticFrame(new float[][] {HALF_QUARTERS, second}, d);
        assertEquals(z, r.score(), 0.0);
        FrameVerdict v = r.verdict();
        assertFalse(v.agree());
        assertEquals("the answer of the minion with the higher q_top", 1, v.answer());
        assertEquals("the highest confidence on a disagreement", c1, v.confidence(), 0.0);
        assertEquals(z >= 0.0, v.accept());

        LogisticDetector zero = new LogisticDetector(LogisticDetector.PAIR_FEATURES, new double[9], 0.0, 0.0);
        FrameVerdict equal = LogisticDetector.logisticFrame(new float[][] {HALF_QUARTERS, QUARTER_HALF}, zero).verdict();
        assertFalse(equal.agree());
        assertEquals("equal q_top: the first minion answers", 0, equal.answer());
        assertEquals(0.5, equal.confidence(), 0.0);
        float[] agreeing = {0.75f, 0.25f, 0.0f};
        FrameVerdict agree = LogisticDetector.logisticFrame(new float[][] {agreeing, HALF_QUARTERS}, zero).verdict();
        assertTrue(agree.agree());
        assertEquals(0, agree.answer());
        assertEquals("the lowest confidence on agreement", 0.5, agree.confidence(), 0.0);
    }

    @Test
    public void allZeroOrNegativeScoresLeaveTheFeaturesUndefinedAndTheFrameRecovered() {
        float[] zeros = {0f, -0f, 0f};
        float[] negative = {-0.001f, -2f, -0.5f};
        for (float[] output : new float[][] {zeros, negative}) {
            MinionSummary s = LogisticDetector.minionSummary(output);
            assertFalse(s.usable());
            assertEquals(0, s.top);
            assertNull(LogisticDetector.frameFeatures(new MinionSummary[] {s}));
            LogisticDetector.Scored r = LogisticDetector.logisticFrame(new float[][] {output}, single(100.0, -100.0, 0.0, 0.0, 0.0));
            assertNull(r.score());
            assertFalse(r.verdict().accept());
            assertTrue(r.verdict().scored());
            assertEquals("low_score", r.verdict().reason());
            assertEquals(0, r.verdict().answer());
            assertEquals("the confidence of an undefined frame is 0", 0.0, r.verdict().confidence(), 0.0);
        }
        // One unusable minion of a pair: no score; the usable minion (q_top > 0.0) answers.
        LogisticDetector pair = new LogisticDetector(LogisticDetector.PAIR_FEATURES, new double[9], 100.0, -100.0);
        LogisticDetector.Scored r = LogisticDetector.logisticFrame(new float[][] {negative, QUARTER_HALF}, pair);
        assertNull(r.score());
        assertFalse(r.verdict().accept());
        assertFalse(r.verdict().agree());
        assertEquals(1, r.verdict().answer());
        assertEquals(0.5, r.verdict().confidence(), 0.0);
        // Huge float32 scores do not overflow in double: the features stay defined.
        float[] huge = {Float.MAX_VALUE, Float.MAX_VALUE, 1f};
        assertNotNull(LogisticDetector.logisticFrame(new float[][] {huge}, single(0, 0, 1, 1, 1)).score());
    }

    private static JsonObject spec(List<String> features, double... weights) {
        JsonObject o = new JsonObject();
        o.addProperty("kind", "logistic");
        JsonArray f = new JsonArray();
        features.forEach(f::add);
        o.add("features", f);
        JsonArray w = new JsonArray();
        for (double x : weights) {
            w.add(x);
        }
        o.add("weights", w);
        o.addProperty("bias", 0.5);
        o.addProperty("threshold", -0.25);
        return o;
    }

    @Test
    public void fromJsonRefusesWhatPythonRefuses() {
        LogisticDetector ok = LogisticDetector.fromJson(spec(LogisticDetector.SINGLE_FEATURES, 1, 2, 3), 1, "d");
        assertEquals(1, ok.minions());
        assertEquals(-0.25, ok.threshold(), 0.0);
        assertEquals(JsonParser.parseString("{\"kind\":\"logistic\",\"features\":[\"confidence_0\",\"margin_0\",\"concentration_0\"],"
                + "\"weights\":[1.0,2.0,3.0],\"bias\":0.5,\"threshold\":-0.25}"), ok.toJson());

        List<String> swapped = new ArrayList<>(LogisticDetector.SINGLE_FEATURES);
        java.util.Collections.swap(swapped, 0, 1);
        ConfigException e = assertThrows(ConfigException.class, () -> LogisticDetector.fromJson(spec(swapped, 1, 2, 3), 1, "d"));
        assertTrue(e.getMessage(), e.getMessage().startsWith("d.features is [\"margin_0\",\"confidence_0\",\"concentration_0\"]"));
        e = assertThrows(ConfigException.class, () -> LogisticDetector.fromJson(spec(LogisticDetector.SINGLE_FEATURES, 1, 2, 3), 2, "d"));
        assertTrue(e.getMessage(), e.getMessage().contains("a system of 2 minion(s) expects"));
        e = assertThrows(ConfigException.class, () -> LogisticDetector.fromJson(spec(LogisticDetector.SINGLE_FEATURES, 1, 2), 1, "d"));
        assertEquals("logistic detector has 2 weights for 3 features; expected one per feature", e.getMessage());
        e = assertThrows(ConfigException.class, () -> LogisticDetector.fromJson(spec(LogisticDetector.PAIR_FEATURES, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 2, "d"));
        assertEquals("logistic detector has 10 weights for 9 features; expected one per feature", e.getMessage());
        JsonObject perClass = new JsonObject();
        perClass.addProperty("kind", "per_class_confidence");
        assertThrows(ConfigException.class, () -> LogisticDetector.fromJson(perClass, 1, "d"));
        JsonObject noBias = spec(LogisticDetector.SINGLE_FEATURES, 1, 2, 3);
        noBias.remove("bias");
        e = assertThrows(ConfigException.class, () -> LogisticDetector.fromJson(noBias, 1, "d"));
        assertEquals("d.bias is missing; expected a finite number", e.getMessage());
        assertThrows(ConfigException.class, () -> single(Double.NaN, 0, 1, 1, 1));
        assertThrows(ConfigException.class, () -> single(0, 0, 1, Double.POSITIVE_INFINITY, 1));
        assertThrows(ConfigException.class, () -> LogisticDetector.featureNames(3));
        JsonObject notBoolean = spec(LogisticDetector.PAIR_FEATURES, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        notBoolean.addProperty("requires_agreement", "yes");
        e = assertThrows(ConfigException.class, () -> LogisticDetector.fromJson(notBoolean, 2, "d"));
        assertEquals("d.requires_agreement is \"yes\"; expected true or false", e.getMessage());
    }

    @Test
    public void aDetectorRequiringAgreementRecoversADisagreementWhateverItsScore() {
        JsonObject doc = spec(LogisticDetector.PAIR_FEATURES, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        doc.addProperty("requires_agreement", true);
        LogisticDetector gated = LogisticDetector.fromJson(doc, 2, "d");
        assertTrue(gated.requiresAgreement());
        assertEquals(doc, gated.toJson());
        float[] a = {0.75f, 0.125f, 0.125f};
        float[] b = {0.125f, 0.25f, 0.625f};
        LogisticDetector.Scored disagreeing = LogisticDetector.logisticFrame(new float[][] {a, b}, gated);
        assertEquals(1.25, disagreeing.score(), 0.0); // bias 0.5 + confidence_0 0.75, above the threshold -0.25
        assertFalse(disagreeing.verdict().accept());
        assertEquals("disagree", disagreeing.verdict().reason());
        doc.remove("requires_agreement");
        assertTrue(LogisticDetector.logisticFrame(new float[][] {a, b}, LogisticDetector.fromJson(doc, 2, "d")).verdict().accept());
        LogisticDetector.Scored agreeing = LogisticDetector.logisticFrame(new float[][] {a, a}, gated);
        assertTrue(agreeing.verdict().agree());
        assertTrue(agreeing.verdict().accept());
    }

    /** The digits config with {@code detector} in every tuned mode of every system. */
    private static JsonObject configWith(JsonElement detector) {
        JsonObject doc = Fixtures.configJson();
        for (Map.Entry<String, JsonElement> s : doc.getAsJsonObject("systems").entrySet()) {
            for (Map.Entry<String, JsonElement> m : s.getValue().getAsJsonObject().getAsJsonObject("modes").entrySet()) {
                m.getValue().getAsJsonObject().add("detector", detector.deepCopy());
            }
        }
        return doc;
    }

    @Test
    public void theRuntimeConfigReadsATunedModesDetector() {
        // As built: each tuned mode runs what its "detector" says (absent or per_class_confidence: the paper's rule).
        JsonObject built = Fixtures.configJson();
        RuntimeConfig plain = Fixtures.config(built);
        String system = plain.systems().keySet().iterator().next();
        for (Map.Entry<String, JsonElement> s : built.getAsJsonObject("systems").entrySet()) {
            int minions = s.getValue().getAsJsonObject().getAsJsonArray("minions").size();
            for (Map.Entry<String, JsonElement> m : s.getValue().getAsJsonObject().getAsJsonObject("modes").entrySet()) {
                JsonElement spec = m.getValue().getAsJsonObject().get("detector");
                LogisticDetector parsed = plain.system(s.getKey()).modes.get(m.getKey()).detector;
                String where = s.getKey() + " " + m.getKey();
                if (spec == null || spec.isJsonNull()
                        || "per_class_confidence".equals(spec.getAsJsonObject().get("kind").getAsString())) {
                    assertNull(where, parsed);
                } else {
                    assertEquals(where, "logistic", spec.getAsJsonObject().get("kind").getAsString());
                    assertNotNull(where, parsed);
                    assertEquals(where, minions, parsed.minions());
                    assertEquals(where, spec, parsed.toJson());
                }
            }
        }
        JsonObject perClass = new JsonObject();
        perClass.addProperty("kind", "per_class_confidence");
        assertNull(Fixtures.config(configWith(perClass)).system(system).modes.get("normal").detector);
        LogisticDetector d = Fixtures.config(configWith(spec(LogisticDetector.PAIR_FEATURES, 1, 2, 3, 4, 5, 6, 7, 8, 9)))
                .system(system).modes.get("power_saving").detector;
        assertNotNull(d);
        assertEquals(2, d.minions());
        JsonObject single = spec(LogisticDetector.SINGLE_FEATURES, 1, 2, 3);
        ConfigException e = assertThrows(ConfigException.class, () -> Fixtures.config(configWith(single)));
        assertTrue(e.getMessage(), e.getMessage().contains("a system of 2 minion(s) expects"));
        JsonObject unknown = new JsonObject();
        unknown.addProperty("kind", "oracle");
        assertThrows(BundleException.class, () -> Fixtures.config(configWith(unknown)));
    }

    private static FrameResult firstFrame(JsonObject configDoc) {
        Bundle b = Fixtures.bundle(configDoc);
        MmnetRuntime rt = new MmnetRuntime(b, RuntimeOptions.builder().build(), MmnetRuntimeTest.confident(b), null, () -> 0.0);
        FrameResult r = rt.classify(Frame.of(new byte[64], 8, 8, 1), 0.0);
        assertEquals(FramePath.MINIONS, r.path());
        return r;
    }

    @Test
    public void theRuntimeRunsTheLearnedDetectorAndReportsPythonsDict() {
        JsonObject accepting = spec(LogisticDetector.PAIR_FEATURES, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        accepting.addProperty("bias", 1.0);
        accepting.addProperty("threshold", 1.0);
        FrameResult r = firstFrame(configWith(accepting));
        assertFalse(r.recovered());
        JsonObject d = r.toJson().getAsJsonObject("decision").getAsJsonObject("detector");
        assertEquals(Arrays.asList("kind", "agree", "confidence", "score", "threshold", "verdict"), new ArrayList<>(d.keySet()));
        assertEquals("logistic", d.get("kind").getAsString());
        assertTrue(d.get("agree").getAsBoolean());
        assertEquals(1.0, d.get("score").getAsDouble(), 0.0);
        assertEquals(1.0, d.get("threshold").getAsDouble(), 0.0);
        assertEquals("accepted", d.get("verdict").getAsString());
        assertEquals("logistic", r.detector().kind());
        assertNull(r.detector().disagreementThreshold());

        JsonObject refusing = accepting.deepCopy();
        refusing.addProperty("threshold", 1e9);
        FrameResult recovered = firstFrame(configWith(refusing));
        assertTrue(recovered.recovered());
        assertEquals("low_score", recovered.toJson().getAsJsonObject("decision").getAsJsonObject("detector").get("verdict").getAsString());

        JsonObject paper = firstFrame(Fixtures.configJson()).toJson().getAsJsonObject("decision").getAsJsonObject("detector");
        assertEquals("the paper's dict is unchanged", Arrays.asList("agree", "confidence", "threshold", "disagreement_threshold", "verdict"),
                new ArrayList<>(paper.keySet()));
    }
}
