package org.peft4j.core.io;

import java.nio.file.Path;

/**
 * Thrown when the bytes of a file are not a valid safetensors file; the message names the file, the offending
 * tensor or header field, and what is allowed.
 */
public final class SafetensorsFormatException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** A format error in {@code file}, described by {@code problem}. */
    public SafetensorsFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    /** A format error in {@code file}, described by {@code problem}, detected through {@code cause}. */
    public SafetensorsFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
