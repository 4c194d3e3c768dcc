package org.mmnet.core.runtime;

/** The remote master gave no usable answer (Python RemoteMasterError); the runtime falls back. */
public class MasterException extends Exception {
    /** Failure kinds, as remote.FAILURE_KINDS; the runtime counts fallbacks as "cloud_" + json(). */
    public enum Kind {
        UNREACHABLE("unreachable"),
        TIMEOUT("timeout"),
        HTTP_5XX("http_5xx"),
        HTTP_4XX("http_4xx"),
        MALFORMED("malformed");

        private final String json;

        Kind(String json) {
            this.json = json;
        }

        public String json() {
            return json;
        }

        /** Worth another attempt (the server may answer next time). */
        public boolean retryable() {
            return this == UNREACHABLE || this == TIMEOUT || this == HTTP_5XX;
        }

        public static Kind parse(String name) {
            for (Kind k : values()) {
                if (k.json.equals(name)) {
                    return k;
                }
            }
            throw new IllegalArgumentException("failure kind is '" + name
                    + "'; expected one of [unreachable, timeout, http_5xx, http_4xx, malformed]");
        }
    }

    private final Kind kind;
    private final Integer status;
    private final int attempts;

    public MasterException(String message, Kind kind, Integer status, int attempts) {
        super(message);
        this.kind = kind;
        this.status = status;
        this.attempts = attempts;
    }

    public MasterException(String message, Kind kind, Integer status, int attempts, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.status = status;
        this.attempts = attempts;
    }

    public Kind kind() {
        return kind;
    }

    /** The HTTP status when there was a reply, else null. */
    public Integer status() {
        return status;
    }

    public int attempts() {
        return attempts;
    }
}
