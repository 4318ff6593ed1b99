package org.peft4j.core.io.onnx;

import java.nio.file.Path;

/**
 * Thrown when the bytes of a file are not an ONNX model peft4j can read; the message names the file, the
 * offending initializer or field, and what is allowed.
 */
public final class OnnxFormatException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** A format error in {@code file}, described by {@code problem}. */
    public OnnxFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    /** A format error in {@code file}, described by {@code problem}, detected through {@code cause}. */
    public OnnxFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
