package org.mmnet.core.measure;

/** The phone cannot load or run a model as asked (e.g. "delegate gpu unavailable: ..."). */
public class EngineException extends RuntimeException {
    public EngineException(String message) {
        super(message);
    }

    public EngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
