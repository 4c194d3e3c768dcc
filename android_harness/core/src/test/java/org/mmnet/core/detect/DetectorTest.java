package org.mmnet.core.detect;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import org.junit.Test;
import org.mmnet.core.ConfigException;

/** Expected numbers come from Python mmnet.runtime.detector (detect_frame, apply_temperature) on the same inputs. */
public class DetectorTest {
    private static final float[] P1 = {0.7f, 0.2f, 0.1f};
    private static final float[] P2 = {0.6f, 0.3f, 0.1f};
    private static final float[] OTHER = {0.1f, 0.8f, 0.1f};
    private static final double[] HALF = {0.5, 0.5, 0.5};

    @Test
    public void agreeingMinionsAreAcceptedAtTheLowestCalibratedConfidence() {
        FrameVerdict v = Detector.detectFrame(new float[][] {P1, P2}, new double[] {0.8, 1.2}, HALF, null);
        assertTrue(v.agree());
        assertTrue(v.accept());
        assertEquals(0, v.answer());
        assertEquals(0.559942169908912, v.confidence(), 1e-12);  // Python: FrameVerdict(0, 0.559942169908912, True, True)
        FrameVerdict low = Detector.detectFrame(new float[][] {P1, P2}, new double[] {0.8, 1.2}, new double[] {0.56, 0.5, 0.5}, null);
        assertFalse(low.accept());
        assertEquals("low_confidence", low.reason());
    }

    @Test
    public void aDisagreementIsRecoveredUnlessARelaxedThresholdIsMet() {
        FrameVerdict strict = Detector.detectFrame(new float[][] {P1, OTHER}, new double[] {1.0, 1.0}, HALF, null);
        assertFalse(strict.agree());
        assertFalse(strict.accept());
        assertEquals(1, strict.answer());  // the more confident minion's answer
        assertEquals(0.8, strict.confidence(), 1e-7);
        assertEquals("disagree", strict.reason());
        assertTrue(Detector.detectFrame(new float[][] {P1, OTHER}, new double[] {1.0, 1.0}, HALF, 0.75).accept());
        assertFalse(Detector.detectFrame(new float[][] {P1, OTHER}, new double[] {1.0, 1.0}, HALF, 0.85).accept());
    }

    @Test
    public void neverRecoversEveryInputOfItsClass() {
        FrameVerdict v = Detector.detectFrame(new float[][] {{1.0f, 0.0f}}, new double[] {1.0}, new double[] {Detector.NEVER, 0.0}, null);
        assertEquals(1.0 / (1.0 + 1e-12), v.confidence(), 0.0);  // zero probabilities count as 1e-12, as in Python
        assertFalse(v.accept());
    }

    @Test
    public void tiesGoToTheFirstClass() {
        FrameVerdict v = Detector.detectFrame(new float[][] {{0.4f, 0.4f, 0.2f}}, new double[] {1.0}, HALF, null);
        assertEquals(0, v.answer());
    }

    @Test
    public void temperatureScalingMatchesPython() {
        double[] p = Detector.applyTemperature(P1, 0.5);
        // Python apply_temperature([[0.7, 0.2, 0.1]] float32, 0.5)
        assertEquals(0.9074074020417628, p[0], 1e-12);
        assertEquals(0.07407407836658976, p[1], 1e-12);
        assertEquals(0.018518519591647437, p[2], 1e-12);
    }

    @Test
    public void badSettingsAreConfigErrors() {
        assertThrows(ConfigException.class, () -> Detector.detectFrame(new float[][] {P1, P2, P1}, new double[] {1, 1, 1}, HALF, null));
        assertThrows(ConfigException.class, () -> Detector.detectFrame(new float[][] {P1}, new double[] {0.0}, HALF, null));
        assertThrows(ConfigException.class, () -> Detector.detectFrame(new float[][] {P1}, new double[] {1.0}, HALF, 1.5));
        ConfigException e = assertThrows(ConfigException.class, () -> Detector.checkThresholds(new double[] {0.5, 2.0}, 2, "t"));
        assertEquals("t must lie in [0, 1.01]; got [0.5, 2.0]", e.getMessage());
    }
}
