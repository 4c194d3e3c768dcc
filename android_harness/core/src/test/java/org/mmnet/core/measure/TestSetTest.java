package org.mmnet.core.measure;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The layout android_harness/host/testset.py writes. */
public class TestSetTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    Path write(int count, int h, int w, int c, int[] labels, String header) throws IOException {
        Path dir = tmp.newFolder("testset").toPath();
        byte[] frames = new byte[count * h * w * c];
        for (int i = 0; i < frames.length; i++) {
            frames[i] = (byte) i;
        }
        Files.write(dir.resolve("frames.bin"), frames);
        ByteBuffer l = ByteBuffer.allocate(4 * labels.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int label : labels) {
            l.putInt(label);
        }
        Files.write(dir.resolve("labels.bin"), l.array());
        Files.write(dir.resolve("testset.json"), header.getBytes(StandardCharsets.UTF_8));
        return dir;
    }

    @Test
    public void readsFramesAndLabels() throws IOException {
        Path dir = write(3, 2, 2, 1, new int[] {7, 0, 9},
                "{\"count\": 3, \"height\": 2, \"width\": 2, \"channels\": 1, \"dtype\": \"uint8\"}\n");
        TestSet t = TestSet.open(dir);
        assertEquals(3, t.count);
        assertEquals(4, t.frameBytes());
        assertArrayEquals(new byte[] {4, 5, 6, 7}, t.frame(1));
        assertEquals(9, t.label(2));
        t.check(2, 2, 1, 10, "digits");
    }

    @Test
    public void filesThatDisagreeWithTheHeaderAreRejected() throws IOException {
        Path dir = write(3, 2, 2, 1, new int[] {1, 2},
                "{\"count\": 3, \"height\": 2, \"width\": 2, \"channels\": 1, \"dtype\": \"uint8\"}");
        assertEquals(dir + ": frames.bin has 12 bytes and labels.bin 8; expected 12 (3x2x2x1 uint8) and 12 (3 int32)",
                assertThrows(InvalidRequestException.class, () -> TestSet.open(dir)).getMessage());
    }

    @Test
    public void aTestSetForAnotherBundleIsRejected() throws IOException {
        TestSet t = TestSet.open(write(1, 2, 2, 1, new int[] {12},
                "{\"count\": 1, \"height\": 2, \"width\": 2, \"channels\": 1, \"dtype\": \"uint8\"}"));
        assertEquals("test set frames are 2x2x1 but bundle digits takes 8x8x1 frames; push the test set made for this "
                + "bundle", assertThrows(InvalidRequestException.class, () -> t.check(8, 8, 1, 10, "digits")).getMessage());
        assertEquals("test set label 12 is out of range; bundle digits has 10 classes",
                assertThrows(InvalidRequestException.class, () -> t.check(2, 2, 1, 10, "digits")).getMessage());
    }

    @Test
    public void headerErrorsNameTheField() throws IOException {
        Path dir = write(1, 1, 1, 1, new int[] {0},
                "{\"count\": 1, \"height\": 1, \"width\": 1, \"channels\": 1, \"dtype\": \"float32\"}");
        assertEquals(dir.resolve("testset.json") + ": dtype is \"float32\"; expected \"uint8\"",
                assertThrows(InvalidRequestException.class, () -> TestSet.open(dir)).getMessage());
    }
}
