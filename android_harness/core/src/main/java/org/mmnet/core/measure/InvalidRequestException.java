package org.mmnet.core.measure;

/** A request.json (or test set) that does not say what PROTOCOL.md expects; the message names file, field and value. */
public class InvalidRequestException extends IllegalArgumentException {
    public InvalidRequestException(String message) {
        super(message);
    }

    public InvalidRequestException(String message, Throwable cause) {
        super(message, cause);
    }
}
