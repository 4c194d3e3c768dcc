package org.mmnet.harness;

import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import org.mmnet.core.Bundle;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.TensorSpec;
import org.mmnet.core.measure.Delegate;
import org.mmnet.core.measure.EngineException;
import org.mmnet.core.runtime.ModelInput;
import org.mmnet.core.runtime.ModelOutput;
import org.mmnet.core.runtime.ModelRunner;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Tensor;

/**
 * The core runtime's {@link ModelRunner} on LiteRT: one interpreter per model, opened up front
 * ({@link #load}) so no frame pays for a model load, each checked against the manifest's tensors.
 */
final class LiteRtModelRunner implements ModelRunner, AutoCloseable {
    private final Bundle bundle;
    private final Delegate delegate;
    private final int threads;
    private final Map<String, LiteRtEngine.Session> sessions = new HashMap<>();
    private final Map<String, Delegate> delegates = new HashMap<>();

    LiteRtModelRunner(Bundle bundle, Delegate delegate, int threads) {
        this.bundle = bundle;
        this.delegate = delegate;
        this.threads = threads;
    }

    /** Opens every model in {@code ids} not opened yet; returns the delegate each one runs on. */
    Map<String, Delegate> load(Collection<String> ids) {
        for (String id : ids) {
            if (sessions.containsKey(id)) {
                continue;
            }
            ModelRecord record = bundle.model(id);
            Delegate chosen = delegate == Delegate.XNNPACK && !record.useXnnpack() ? Delegate.CPU : delegate;
            LiteRtEngine.Session session = LiteRtEngine.Session.open(bundle.modelFile(id), chosen, threads);
            try {
                check(id, "input", session.interpreter.getInputTensor(0), record.input());
                check(id, "output", session.interpreter.getOutputTensor(0), record.output());
            } catch (EngineException e) {
                session.close();
                throw e;
            }
            sessions.put(id, session);
            delegates.put(id, chosen);
        }
        return new HashMap<>(delegates);
    }

    private static void check(String id, String which, Tensor tensor, TensorSpec spec) {
        String dtype = dtype(tensor.dataType());
        if (!Arrays.equals(tensor.shape(), spec.shape()) || !dtype.equals(spec.dtype().json())) {
            throw new EngineException("model " + id + ": its " + which + " tensor is " + dtype + " "
                    + Arrays.toString(tensor.shape()) + " but the manifest says " + spec
                    + "; the bundle's manifest does not describe this .tflite file");
        }
    }

    private static String dtype(DataType type) {
        switch (type) {
            case FLOAT32:
                return "float32";
            case INT8:
                return "int8";
            case UINT8:
                return "uint8";
            default:
                return type.name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    @Override
    public ModelOutput run(String modelId, ModelInput input) {
        LiteRtEngine.Session session = sessions.get(modelId);
        if (session == null) {
            throw new IllegalStateException("model " + modelId + " was not loaded; the runtime asked for a model outside "
                    + "modelsNeeded()");
        }
        session.input().clear();
        HarnessRun.writeInput(input, session.input());
        session.invoke();
        session.output.rewind();
        return ModelOutput.read(bundle.model(modelId).output(), session.output);
    }

    @Override
    public void close() {
        for (LiteRtEngine.Session s : sessions.values()) {
            s.close();
        }
        sessions.clear();
    }
}
