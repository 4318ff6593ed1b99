package org.peft4j.core.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Support for the fuzz tests (Jazzer, JUnit tag {@code jazzer}): the parsers read files, so every input is
 * written to a file in one directory per JVM, and a parser may fail only with the exceptions its API
 * documents. Anything else thrown (a NullPointerException, an index out of bounds, an OutOfMemoryError, a
 * StackOverflowError) propagates and Jazzer reports it as a finding with the input that caused it.
 */
public final class FuzzFiles {
    private static final Path DIR = createDirectory();

    private FuzzFiles() {
    }

    private static Path createDirectory() {
        try {
            Path dir = Files.createTempDirectory("peft4j-fuzz");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A directory for this JVM's fuzz inputs (one fuzz test runs per JVM). */
    public static Path directory() {
        return DIR;
    }

    /** Writes {@code data} to {@code name} in {@link #directory()}, replacing what was there. */
    public static Path write(String name, byte[] data) {
        try {
            return Files.write(DIR.resolve(name), data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What a parser does with one input. */
    @FunctionalInterface
    public interface Parse {
        void run() throws Exception;
    }

    /**
     * Runs {@code parse}; an exception of one of the {@code documented} types is the parser rejecting a bad
     * input as its API says and is swallowed; any other throwable is rethrown as a finding.
     */
    @SafeVarargs
    public static void expectOnly(Parse parse, Class<? extends Exception>... documented) {
        List<Class<? extends Exception>> allowed = Arrays.asList(documented);
        try {
            parse.run();
        } catch (Exception e) {
            for (Class<? extends Exception> type : allowed) {
                if (type.isInstance(e)) {
                    requireMessage(e);
                    return;
                }
            }
            throw new AssertionError("undocumented exception " + e.getClass().getName() + " (documented: " + allowed + ")", e);
        }
    }

    /** A documented rejection still has to say what was wrong. */
    private static void requireMessage(Exception e) {
        if (e.getMessage() == null || e.getMessage().isBlank()) {
            throw new AssertionError(e.getClass().getName() + " without a message", e);
        }
    }
}
