package org.mmnet.core.measure;

/** The run was cancelled (CANCEL broadcast); it ends in state "cancelled", not "failed". */
public class RunCancelledException extends RuntimeException {
    public RunCancelledException(String message) {
        super(message);
    }
}
