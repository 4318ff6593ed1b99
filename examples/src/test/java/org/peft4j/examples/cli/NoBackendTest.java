package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The CLI on a class path whose ND4J backend cannot start (here: none at all, as when nd4j-cuda-11.6 finds
 * no driver) ends with one line saying so and where to look, not a stack trace.
 */
class NoBackendTest {
    @Test
    void missingBackendIsOneLineAndExitCodeOne() throws Exception {
        String classPath = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(entry -> !Path.of(entry).getFileName().toString().startsWith("nd4j-native"))
                .collect(Collectors.joining(File.pathSeparator));
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process child = new ProcessBuilder(List.of(java.toString(), "-cp", classPath, Peft4jCli.class.getName(), "logits", "--model",
                "builtin:all-MiniLM-L6-v2", "--ids", "101,102"))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(child.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(child.waitFor(120, TimeUnit.SECONDS), "the child JVM did not end");
        assertEquals(Peft4jCli.EXIT_FAILURE, child.exitValue(), err);
        List<String> lines = err.lines().toList();
        assertEquals("peft4j: error: " + Peft4jCli.NO_BACKEND, lines.get(lines.size() - 1), err);
        assertFalse(err.contains("\tat org.nd4j"), "no stack trace: " + err);
    }
}
