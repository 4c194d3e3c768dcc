package org.mmnet.core;

/** A bundle document or file is malformed, fails its checks or its checksums (Python BundleError). */
public class BundleException extends IllegalArgumentException {
    public BundleException(String message) {
        super(message);
    }

    public BundleException(String message, Throwable cause) {
        super(message, cause);
    }
}
