package org.mmnet.core;

/** A frame or a model output is not usable (Python DataError). */
public class DataException extends IllegalArgumentException {
    public DataException(String message) {
        super(message);
    }
}
