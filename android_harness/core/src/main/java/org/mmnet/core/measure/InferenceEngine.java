package org.mmnet.core.measure;

import java.nio.ByteBuffer;
import java.nio.file.Path;

/** Opens models for timing (LiteRT on the phone; fakes in tests). */
public interface InferenceEngine {

    /** One loaded model with its delegate applied and its tensors allocated. Not thread-safe. */
    interface Session extends AutoCloseable {
        /** The input tensor's buffer (direct, native order); the caller fills it before {@link #invoke()}. */
        ByteBuffer input();

        /** One inference on the current input: the part whose time is the model's latency. */
        void invoke();

        /** Frees the interpreter and its delegate. */
        @Override
        void close();
    }

    /** The runtime's version for result.json (e.g. "1.4.0"), or null when it cannot say. */
    String runtimeVersion();

    /**
     * Opens {@code modelFile} on {@code delegate} with {@code threads} CPU threads; throws
     * {@link EngineException} (whose message names the delegate) when this phone cannot run it so.
     */
    Session open(Path modelFile, Delegate delegate, int threads);
}
