package org.mmnet.harness;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.measure.Delegate;
import org.mmnet.core.measure.InferenceEngine;

/**
 * The app's engine for both kinds of run: the profile runner times its sessions, and the system run's
 * {@link LiteRtModelRunner} also reads their outputs. LiteRT on a phone; a scripted engine in the JVM tests.
 */
interface ModelEngine extends InferenceEngine {

    /** An opened model whose output the runtime reads, checked against the manifest before use. */
    interface Session extends InferenceEngine.Session {
        /** The output tensor's buffer (direct, native order), filled by {@link #invoke()}. */
        ByteBuffer output();

        /** Throws EngineException naming the model when its input or output tensor is not the manifest's. */
        void requireTensors(ModelRecord record);
    }

    @Override
    Session open(Path modelFile, Delegate delegate, int threads);
}
