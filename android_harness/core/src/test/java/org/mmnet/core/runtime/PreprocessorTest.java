package org.mmnet.core.runtime;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.Test;
import org.mmnet.core.DataException;
import org.mmnet.core.Fixtures;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.PreprocessingSpec;

/** Expected arrays come from Python mmnet.runtime.preprocessing (resize_frames, preprocess) on the same frame. */
public class PreprocessorTest {
    private static final Frame FRAME = Frame.of(new byte[] {0, 10, 20, 30, 40, 50}, 2, 3, 1);

    @Test
    public void bilinearResizeIsTensorFlowsHalfPixelResize() {
        float[] expected = {0f, 6.25f, 13.75f, 20f, 7.5f, 13.75f, 21.25f, 27.5f, 22.5f, 28.75f, 36.25f, 42.5f, 30f, 36.25f, 43.75f, 50f};
        assertArrayEquals(expected, Preprocessor.resize(FRAME, 4, PreprocessingSpec.ResizeMethod.BILINEAR), 0f);
        assertArrayEquals(new float[] {2.5f, 17.5f, 32.5f, 47.5f}, Preprocessor.resize(FRAME, 2, PreprocessingSpec.ResizeMethod.BILINEAR), 0f);
    }

    @Test
    public void nearestResize() {
        float[] expected = {0f, 10f, 10f, 20f, 0f, 10f, 10f, 20f, 30f, 40f, 40f, 50f, 30f, 40f, 40f, 50f};
        assertArrayEquals(expected, Preprocessor.resize(FRAME, 4, PreprocessingSpec.ResizeMethod.NEAREST), 0f);
    }

    @Test
    public void aFrameAlreadyAtTheResolutionIsOnlyConvertedToFloat() {
        Frame square = Frame.of(new byte[] {(byte) 255, 1, 2, 3}, 2, 2, 1);
        assertArrayEquals(new float[] {255f, 1f, 2f, 3f}, Preprocessor.resize(square, 2, PreprocessingSpec.ResizeMethod.BILINEAR), 0f);
    }

    @Test
    public void normalisesWithTheManifestsMeanAndStd() {
        PreprocessingSpec spec = new PreprocessingSpec(new int[] {2, 3, 1}, new double[] {20.0}, new double[] {10.0},
                PreprocessingSpec.ResizeMethod.BILINEAR);
        float[] expected = {-2f, -1.375f, -0.625f, 0f, -1.25f, -0.625f, 0.125f, 0.75f, 0.25f, 0.875f, 1.625f, 2.25f, 1f, 1.625f, 2.375f, 3f};
        assertArrayEquals(expected, Preprocessor.preprocess(FRAME, spec, 4), 0f);
    }

    @Test
    public void quantisesRoundingHalfToEvenAndClipping() {
        // A scale of 0.25 makes x / scale exact, so the ties below are real ties.
        com.google.gson.JsonObject doc = Fixtures.manifestJson();
        for (com.google.gson.JsonElement e : doc.getAsJsonArray("models")) {
            if (e.getAsJsonObject().get("id").getAsString().equals("mobilenet_v2-a0.25-r12-int8")) {
                e.getAsJsonObject().getAsJsonObject("input").addProperty("scale", 0.25);
            }
        }
        ModelRecord m = org.mmnet.core.Manifest.parse(doc.toString(), "manifest.json").model("mobilenet_v2-a0.25-r12-int8");
        float[] x = new float[m.input().elementCount()];
        x[0] = 0.125f;   // 0.5: rounds to 0 (even)
        x[1] = 0.375f;   // 1.5: rounds to 2
        x[2] = 0.625f;   // 2.5: rounds to 2
        x[3] = 1000f;    // clipped to 127
        x[4] = -1000f;   // clipped to -128
        x[5] = -0.375f;  // -1.5: rounds to -2
        ModelInput in = Preprocessor.toInput(x, m);  // zero point -50
        assertEquals(-50, in.bytes()[0]);
        assertEquals(-48, in.bytes()[1]);
        assertEquals(-48, in.bytes()[2]);
        assertEquals(127, in.bytes()[3]);
        assertEquals(-128, in.bytes()[4]);
        assertEquals(-52, in.bytes()[5]);
        ByteBuffer buffer = ByteBuffer.allocateDirect(m.input().byteSize()).order(ByteOrder.nativeOrder());
        in.writeTo(buffer);
        assertEquals(0, buffer.remaining());
    }

    @Test
    public void dequantisesTheRawOutputAndChecksItsType() {
        ModelRecord m = Fixtures.manifest().model("mobilenet_v2-a0.25-r12-int8");  // output scale 1/256, zero point -128
        byte[] raw = new byte[10];
        raw[3] = 127;
        raw[4] = -128;
        float[] p = Preprocessor.dequantize(ModelOutput.ofBytes(raw), m);
        assertEquals(255f / 256f, p[3], 0f);
        assertEquals(0f, p[4], 0f);
        assertEquals(0.5f, p[0], 0f);
        DataException e = assertThrows(DataException.class, () -> Preprocessor.dequantize(ModelOutput.ofFloats(new float[10]), m));
        assertTrue(e.getMessage(), e.getMessage().contains("its output tensor is int8 per the manifest"));
        e = assertThrows(DataException.class, () -> Preprocessor.dequantize(ModelOutput.ofBytes(new byte[9]), m));
        assertTrue(e.getMessage(), e.getMessage().contains("returned 9 values; expected 10"));
    }

    @Test
    public void framesAreCheckedForTheirSize() {
        DataException e = assertThrows(DataException.class, () -> Frame.of(new byte[5], 2, 3, 1));
        assertEquals("frame has 5 bytes; expected 2x3x1 = 6 (uint8 HxWxC)", e.getMessage());
    }
}
