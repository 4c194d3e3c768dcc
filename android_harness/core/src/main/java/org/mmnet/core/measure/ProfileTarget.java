package org.mmnet.core.measure;

import java.nio.ByteBuffer;
import java.nio.file.Path;

/** One model to profile: its file, its checksum, the delegate it runs on, and how a frame becomes its input. */
public final class ProfileTarget {

    /** Turns one camera frame into the model's input (resize, normalise, quantise) and writes it. */
    public interface InputWriter {
        void write(ByteBuffer input);
    }

    public final String modelId;
    /** The manifest's sha256 of the shipped file (checked when the bundle was loaded): what the host keys results on. */
    public final String sha256;
    /**
     * The sha256 of the TFLite flatbuffer in {@link #file}, what the engine runs: {@link #sha256} for a plain .tflite,
     * the packing spec's flatbuffer sha256 for a packed SIEVE model (unpacked into a cache and checked against it).
     */
    public final String tfliteSha256;
    /** The .tflite file the engine opens (for a packed model, its unpacked flatbuffer). */
    public final Path file;
    /** The request's delegate, unless the manifest says the model cannot run on it. */
    public final Delegate delegate;
    public final InputWriter input;

    public ProfileTarget(String modelId, String sha256, String tfliteSha256, Path file, Delegate delegate,
                         InputWriter input) {
        this.modelId = modelId;
        this.sha256 = sha256;
        this.tfliteSha256 = tfliteSha256;
        this.file = file;
        this.delegate = delegate;
        this.input = input;
    }
}
