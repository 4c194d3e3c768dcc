package org.mmnet.core;

/** An option or argument holds a value that is not allowed (Python ConfigError). */
public class ConfigException extends IllegalArgumentException {
    public ConfigException(String message) {
        super(message);
    }
}
