package org.peft4j.core.data;

import java.nio.file.Path;

/**
 * Thrown when a line of a dataset file is not what the reader allows; the message names the file, the 1-based line
 * number and what is wrong, and {@link #line()} gives the number (0 when the problem concerns the whole file).
 */
public final class DatasetFormatException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final long line;

    /** A problem on line {@code line} (1-based; 0 for the whole file) of {@code file}. */
    public DatasetFormatException(Path file, long line, String problem) {
        super(file + (line > 0 ? ":" + line : "") + ": " + problem);
        this.line = line;
    }

    /** A problem on line {@code line} of {@code file}, detected through {@code cause}. */
    public DatasetFormatException(Path file, long line, String problem, Throwable cause) {
        super(file + (line > 0 ? ":" + line : "") + ": " + problem, cause);
        this.line = line;
    }

    /** The 1-based line number of the problem, or 0 if it concerns the whole file. */
    public long line() {
        return line;
    }
}
