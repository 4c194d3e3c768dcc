package org.mmnet.core.runtime;

/**
 * Runs one bundle model. The app implements it with LiteRT interpreters (one per model id in
 * {@link MmnetRuntime#modelsNeeded()}); tests implement it with recorded outputs.
 */
public interface ModelRunner {
    /**
     * Runs {@code modelId} on {@code input} (already in the model's input dtype and layout) and
     * returns the raw output tensor as the interpreter produced it.
     */
    ModelOutput run(String modelId, ModelInput input);
}
