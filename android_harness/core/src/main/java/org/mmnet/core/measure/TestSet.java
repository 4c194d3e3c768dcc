package org.mmnet.core.measure;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashSet;

/**
 * The test set a system run replays (PROTOCOL.md "testset/"): frames.bin (uint8 N×H×W×C,
 * row-major), labels.bin (int32 little-endian, N) and testset.json. Frames are memory-mapped, so a
 * large set costs no heap.
 */
public final class TestSet {
    public final int count;
    public final int height;
    public final int width;
    public final int channels;
    private final MappedByteBuffer frames;
    private final int[] labels;

    private TestSet(int count, int height, int width, int channels, MappedByteBuffer frames, int[] labels) {
        this.count = count;
        this.height = height;
        this.width = width;
        this.channels = channels;
        this.frames = frames;
        this.labels = labels;
    }

    /** Opens the three files in {@code dir}; InvalidRequestException when they are missing or disagree. */
    public static TestSet open(Path dir) {
        Path header = dir.resolve("testset.json");
        String where = header.toString();
        JsonObject doc;
        try {
            doc = Json.parseObject(new String(Files.readAllBytes(header), StandardCharsets.UTF_8), where);
        } catch (IOException e) {
            throw new InvalidRequestException(where + ": cannot read the test set header: " + e, e);
        }
        Json.rejectUnknown(doc, new HashSet<>(Arrays.asList("count", "height", "width", "channels", "dtype")),
                where, "the header");
        int count = (int) Json.integer(doc, "count", 1, Integer.MAX_VALUE, where);
        int height = (int) Json.integer(doc, "height", 1, 65_535, where);
        int width = (int) Json.integer(doc, "width", 1, 65_535, where);
        int channels = (int) Json.integer(doc, "channels", 1, 4, where);
        String dtype = Json.string(doc, "dtype", where);
        if (!dtype.equals("uint8")) {
            throw new InvalidRequestException(where + ": dtype is \"" + dtype + "\"; expected \"uint8\"");
        }
        long frameBytes = (long) count * height * width * channels;
        if (frameBytes > Integer.MAX_VALUE) {
            throw new InvalidRequestException(where + ": " + count + " frames of " + height + "x" + width + "x"
                    + channels + " are " + frameBytes + " bytes; expected at most 2 GiB (push fewer frames)");
        }
        Path framesFile = dir.resolve("frames.bin");
        Path labelsFile = dir.resolve("labels.bin");
        try {
            long size = Files.size(framesFile);
            long labelSize = Files.size(labelsFile);
            if (size != frameBytes || labelSize != 4L * count) {
                throw new InvalidRequestException(dir + ": frames.bin has " + size + " bytes and labels.bin " + labelSize
                        + "; expected " + frameBytes + " (" + count + "x" + height + "x" + width + "x" + channels
                        + " uint8) and " + 4L * count + " (" + count + " int32)");
            }
            MappedByteBuffer mapped;
            try (FileChannel channel = FileChannel.open(framesFile, StandardOpenOption.READ)) {
                mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, size);
            }
            ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(labelsFile)).order(ByteOrder.LITTLE_ENDIAN);
            int[] labels = new int[count];
            for (int i = 0; i < count; i++) {
                labels[i] = raw.getInt();
                if (labels[i] < 0) {
                    throw new InvalidRequestException(labelsFile + ": label " + i + " is " + labels[i]
                            + "; expected a class index >= 0");
                }
            }
            return new TestSet(count, height, width, channels, mapped, labels);
        } catch (IOException e) {
            throw new InvalidRequestException(dir + ": cannot read the test set: " + e, e);
        }
    }

    public int frameBytes() {
        return height * width * channels;
    }

    /** Frame {@code i} as uint8 H×W×C row-major, in a new array. */
    public byte[] frame(int i) {
        byte[] out = new byte[frameBytes()];
        ByteBuffer view = frames.duplicate();
        view.position(i * frameBytes());
        view.get(out);
        return out;
    }

    public int label(int i) {
        return labels[i];
    }

    /** The labels must name classes the bundle has; the frames must have the bundle's frame shape. */
    public void check(int bundleHeight, int bundleWidth, int bundleChannels, int numClasses, String bundle) {
        if (height != bundleHeight || width != bundleWidth || channels != bundleChannels) {
            throw new InvalidRequestException("test set frames are " + height + "x" + width + "x" + channels
                    + " but bundle " + bundle + " takes " + bundleHeight + "x" + bundleWidth + "x" + bundleChannels
                    + " frames; push the test set made for this bundle");
        }
        int max = 0;
        for (int label : labels) {
            max = Math.max(max, label);
        }
        if (max >= numClasses) {
            throw new InvalidRequestException("test set label " + max + " is out of range; bundle " + bundle + " has "
                    + numClasses + " classes");
        }
    }
}
