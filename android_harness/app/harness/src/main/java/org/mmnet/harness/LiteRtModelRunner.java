package org.mmnet.harness;

import java.io.File;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import org.mmnet.core.Bundle;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.measure.Delegate;
import org.mmnet.core.measure.EngineException;
import org.mmnet.core.runtime.ModelInput;
import org.mmnet.core.runtime.ModelOutput;
import org.mmnet.core.runtime.ModelRunner;

/**
 * The core runtime's {@link ModelRunner} on the app's engine (LiteRT on a phone): one session per model, opened up
 * front ({@link #load}) so no frame pays for a model load, each checked against the manifest's tensors. A packed
 * SIEVE model is opened as its flatbuffer, unpacked once into {@code unpackDir} and checked against the packing
 * spec's sha256 ({@link Bundle#tfliteFile}): the interpreter cannot read the packed file.
 */
final class LiteRtModelRunner implements ModelRunner, AutoCloseable {
    private final Bundle bundle;
    private final ModelEngine engine;
    private final File unpackDir;
    private final Delegate delegate;
    private final int threads;
    private final Map<String, ModelEngine.Session> sessions = new HashMap<>();
    private final Map<String, Delegate> delegates = new HashMap<>();

    LiteRtModelRunner(Bundle bundle, ModelEngine engine, File unpackDir, Delegate delegate, int threads) {
        this.bundle = bundle;
        this.engine = engine;
        this.unpackDir = unpackDir;
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
            ModelEngine.Session session = engine.open(bundle.tfliteFile(id, unpackDir).toPath(), chosen, threads);
            try {
                session.requireTensors(record);
            } catch (EngineException e) {
                session.close();
                throw e;
            }
            sessions.put(id, session);
            delegates.put(id, chosen);
        }
        return new HashMap<>(delegates);
    }

    @Override
    public ModelOutput run(String modelId, ModelInput input) {
        ModelEngine.Session session = sessions.get(modelId);
        if (session == null) {
            throw new IllegalStateException("model " + modelId + " was not loaded; the runtime asked for a model outside "
                    + "modelsNeeded()");
        }
        session.input().clear();
        HarnessRun.writeInput(input, session.input());
        session.invoke();
        session.output().rewind();
        return ModelOutput.read(bundle.model(modelId).output(), session.output());
    }

    @Override
    public void close() {
        for (ModelEngine.Session s : sessions.values()) {
            s.close();
        }
        sessions.clear();
    }
}
