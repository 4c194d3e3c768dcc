package org.mmnet.core.runtime;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertThrows;

import org.junit.Test;
import org.mmnet.core.DataException;
import org.mmnet.core.PreprocessingSpec.ResizePolicy;

/**
 * {@link Preprocessor#conform}: the resize policy's crop box and the antialiased triangle filter,
 * every expected value worked out by hand from the contract (comments show the weights).
 */
public class ConformTest {
    private static int[] values(Frame f) {
        int[] out = new int[f.pixels().length];
        for (int i = 0; i < out.length; i++) {
            out[i] = f.pixels()[i] & 0xFF;
        }
        return out;
    }

    private static Frame frame(int h, int w, int c, int... values) {
        byte[] pixels = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            pixels[i] = (byte) values[i];
        }
        return Frame.of(pixels, h, w, c);
    }

    @Test
    public void aFrameOfTheTargetSizeIsReturnedAsItIs() {
        Frame f = frame(2, 3, 1, 0, 10, 20, 30, 40, 50);
        assertSame(f, Preprocessor.conform(f, 2, 3, ResizePolicy.CENTER_CROP));
        assertSame(f, Preprocessor.conform(f, 2, 3, ResizePolicy.SQUASH));
    }

    @Test
    public void halvingWeighsThreeTapsPerAxis() {
        // 4 -> 2: scale 2, support 2; output 0 takes pixels 0, 1, 2 with weights 3/7, 3/7, 1/7,
        // output 1 takes pixels 1, 2, 3 with 1/7, 3/7, 3/7 (mean positions 5/7 and 16/7).
        int[] p = new int[16];
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                p[y * 4 + x] = 70 * y + 7 * x;
            }
        }
        assertArrayEquals(new int[] {55, 66, 165, 176}, values(Preprocessor.conform(frame(4, 4, 1, p), 2, 2, ResizePolicy.SQUASH)));
        // One bright corner pixel: 255 × (3/7)² = 46.84 in the first output only.
        int[] corner = new int[16];
        corner[0] = 255;
        assertArrayEquals(new int[] {47, 0, 0, 0}, values(Preprocessor.conform(frame(4, 4, 1, corner), 2, 2, ResizePolicy.SQUASH)));
    }

    @Test
    public void centerCropOfAWideFrameKeepsItsMiddleColumns() {
        // 3x5 to 3x3: crop_h 3, crop_w (2·3·3 + 3) // (2·3) = 3, left (5 - 3) // 2 = 1; the crop is the target size.
        Frame f = frame(3, 5, 1, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140);
        assertArrayEquals(new int[] {10, 20, 30, 60, 70, 80, 110, 120, 130},
                values(Preprocessor.conform(f, 3, 3, ResizePolicy.CENTER_CROP)));
        // Squash resizes all 5 columns to 3: weights (4/7, 3/7) on 0-1, (2/9, 5/9, 2/9) on 1-3, (3/7, 4/7) on 3-4.
        // Row 0: 30/7 = 4.29, 20, 250/7 = 35.71.
        assertArrayEquals(new int[] {4, 20, 36, 54, 70, 86, 104, 120, 136},
                values(Preprocessor.conform(f, 3, 3, ResizePolicy.SQUASH)));
    }

    @Test
    public void centerCropOfATallFrameKeepsItsMiddleRowsPerChannel() {
        // 5x1x2 to 1x1: crop_w 1, crop_h (2·1·1 + 1) // 2 = 1, top (5 - 1) // 2 = 2: row 2 as it is.
        Frame f = frame(5, 1, 2, 0, 1, 10, 11, 20, 21, 30, 31, 40, 41);
        assertArrayEquals(new int[] {20, 21}, values(Preprocessor.conform(f, 1, 1, ResizePolicy.CENTER_CROP)));
        assertArrayEquals(new int[] {2, 0, 1, 1}, Preprocessor.cropBox(5, 1, 1, 1, ResizePolicy.CENTER_CROP));
        assertArrayEquals(new int[] {0, 0, 5, 1}, Preprocessor.cropBox(5, 1, 1, 1, ResizePolicy.SQUASH));
        // 37x53 to 7x9: wider than 9/7 would be 47.57 columns, rounded half up to 48; left (53 - 48) // 2 = 2.
        assertArrayEquals(new int[] {0, 2, 37, 48}, Preprocessor.cropBox(37, 53, 7, 9, ResizePolicy.CENTER_CROP));
    }

    @Test
    public void doublingInterpolatesWithQuarterWeights() {
        // 2 -> 4: scale 0.5, support 1; outputs take (1, 0), (3/4, 1/4), (1/4, 3/4), (0, 1).
        // Rows first: [0, 100], [50, 85], [150, 55], [200, 40]; then columns, rounded half to even.
        Frame f = frame(2, 2, 1, 0, 100, 200, 40);
        assertArrayEquals(new int[] {0, 25, 75, 100, 50, 59, 76, 85, 150, 126, 79, 55, 200, 160, 80, 40},
                values(Preprocessor.conform(f, 4, 4, ResizePolicy.SQUASH)));
        // Exact ties round half to even: 0.5 -> 0 and 1.5 -> 2.
        assertArrayEquals(new int[] {0, 0, 2, 2}, values(Preprocessor.conform(frame(1, 2, 1, 0, 2), 1, 4, ResizePolicy.SQUASH)));
    }

    @Test
    public void aBadTargetIsADataError() {
        Frame f = frame(1, 2, 1, 0, 2);
        DataException e = assertThrows(DataException.class, () -> Preprocessor.conform(f, 0, 4, ResizePolicy.SQUASH));
        assertEquals("conform target is 0x4; expected a positive height and width", e.getMessage());
    }

    @Test
    public void weightsAreNormalisedWithNumpysPairwiseSum() {
        // 1 then 2^-53 sixteen times: added one by one every 2^-53 is lost, numpy's eight partial
        // sums keep them (Python: (a.sum() - 1) / 2**-52 is 8.0; for 300 values, 145.0).
        double[] a = new double[17];
        java.util.Arrays.fill(a, Math.scalb(1.0, -53));
        a[0] = 1.0;
        assertEquals(1.0 + 8 * Math.ulp(1.0), Preprocessor.numpySum(a), 0.0);
        double[] b = new double[300];
        java.util.Arrays.fill(b, Math.scalb(1.0, -53));
        b[0] = 1.0;
        assertEquals(1.0 + 145 * Math.ulp(1.0), Preprocessor.numpySum(b), 0.0);
    }
}
