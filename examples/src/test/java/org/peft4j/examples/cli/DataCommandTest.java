package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.peft4j.core.data.ClassificationData;
import org.peft4j.core.data.JsonlDataset;

class DataCommandTest {
    @TempDir
    Path dir;

    @Test
    void acceptabilityWritesReadableSplits() throws Exception {
        Peft4jCliTest.Run run = Peft4jCliTest.run("data", "acceptability", "--out", dir.toString(), "--seed", "7");
        assertEquals(Peft4jCli.EXIT_OK, run.exitCode(), run.err());
        List<String> lines = run.out().lines().toList();
        assertEquals(4, lines.size(), run.out());
        assertTrue(lines.get(1).startsWith("train "), run.out());
        for (String split : List.of("train", "dev", "test")) {
            ClassificationData data = JsonlDataset.classification(dir.resolve(split + ".jsonl"));
            assertEquals(List.of("acceptable", "unacceptable"), data.labelSet().names());
            int[] counts = data.labelCounts();
            String row = lines.stream().filter(l -> l.startsWith(split + " ")).findFirst().orElseThrow();
            assertEquals(List.of(split, String.valueOf(counts[0]), String.valueOf(counts[1])), List.of(row.trim().split("\\s+")));
        }
        assertTrue(Files.isRegularFile(dir.resolve("stats.json")));
    }

    @Test
    void badFractionsAreAUsageError() {
        Peft4jCliTest.Run run = Peft4jCliTest.run("data", "acceptability", "--out", dir.toString(), "--train", "0.95", "--dev", "0.1");
        assertEquals(Peft4jCli.EXIT_USAGE, run.exitCode());
        assertTrue(run.err().contains("--train and --dev"), run.err());
    }
}
