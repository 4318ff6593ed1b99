package org.peft4j.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonlDatasetTest {
    @TempDir
    Path dir;

    private Path file(String name, String... lines) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, String.join("\n", lines) + "\n");
        return file;
    }

    private DatasetFormatException classificationError(String... lines) throws IOException {
        Path file = file("bad.jsonl", lines);
        return assertThrows(DatasetFormatException.class, () -> JsonlDataset.classification(file));
    }

    // ---------------------------------------------------------------- reading

    @Test
    void readsStringLabelsSortedWhateverTheFileOrder() throws IOException {
        Path file = file("train.jsonl",
                "{\"text\": \"great film\", \"label\": \"positive\", \"id\": 1}",
                "",
                "{\"text\": \"dull\", \"label\": \"negative\"}",
                "{\"label\": \"neutral\", \"text\": \"fine\"}",
                "{\"text\": \"loved it\", \"label\": \"positive\"}");
        ClassificationData data = JsonlDataset.classification(file);
        assertEquals(List.of("negative", "neutral", "positive"), data.labelSet().names(), "sorted, not by first appearance");
        assertFalse(data.labelSet().integers());
        assertEquals(List.of("great film", "dull", "fine", "loved it"), data.texts(), "blank lines skipped, file order kept");
        assertArrayEquals(new int[] {2, 0, 1, 2}, data.labels());
        assertArrayEquals(new int[] {1, 1, 2}, data.labelCounts());
    }

    @Test
    void labelOrderIsStableUnderShufflingAndSubsets() throws IOException {
        List<String> lines = new ArrayList<>();
        for (String label : List.of("b", "a", "c", "B", "é", "a", "c")) {
            lines.add("{\"text\": \"t " + label + "\", \"label\": \"" + label + "\"}");
        }
        LabelSet first = JsonlDataset.classification(file("one.jsonl", lines.toArray(String[]::new))).labelSet();
        Collections.shuffle(lines, new Random(5));
        LabelSet shuffled = JsonlDataset.classification(file("two.jsonl", lines.toArray(String[]::new))).labelSet();
        assertEquals(first, shuffled);
        assertEquals(List.of("B", "a", "b", "c", "é"), first.names(), "String.compareTo order");
    }

    @Test
    void integerLabelsAreSortedNumerically() throws IOException {
        ClassificationData data = JsonlDataset.classification(file("ints.jsonl",
                "{\"text\": \"x\", \"label\": 10}",
                "{\"text\": \"y\", \"label\": 2}",
                "{\"text\": \"z\", \"label\": -1}",
                "{\"text\": \"w\", \"label\": 2}"));
        assertTrue(data.labelSet().integers());
        assertEquals(List.of("-1", "2", "10"), data.labelSet().names(), "numeric, not lexicographic (\"10\" < \"2\")");
        assertArrayEquals(new int[] {2, 1, 0, 1}, data.labels());
    }

    @Test
    void causalLmTextsIgnoreLabels() throws IOException {
        Path file = file("lm.jsonl", "\uFEFF{\"text\": \"first line\"}", "{\"text\": \"second\", \"label\": 3}");
        assertEquals(List.of("first line", "second"), JsonlDataset.texts(file), "a byte order mark is skipped");
    }

    @Test
    void writtenFilesReadBack() throws IOException {
        ClassificationData data = new ClassificationData(List.of("a \"quoted\"\nline", "ünïcödé"), new int[] {1, 0},
                LabelSet.ofIntegers(List.of(0L, 7L)));
        Path file = dir.resolve("out/data.jsonl");
        JsonlDataset.write(file, data);
        assertEquals(2, Files.readAllLines(file).size(), "one line per example, newlines escaped");
        ClassificationData back = JsonlDataset.classification(file);
        assertEquals(data.texts(), back.texts());
        assertArrayEquals(data.labels(), back.labels());
        assertEquals(data.labelSet(), back.labelSet());
        assertTrue(Files.readString(file).contains("\"label\":7"), "integer labels stay integers");

        JsonlDataset.writeTexts(dir.resolve("lm.jsonl"), List.of("x", "y"));
        assertEquals(List.of("x", "y"), JsonlDataset.texts(dir.resolve("lm.jsonl")));
    }

    // ---------------------------------------------------------------- errors with line numbers

    @Test
    void badJsonNamesItsLine() throws IOException {
        DatasetFormatException e = classificationError("{\"text\": \"ok\", \"label\": \"a\"}", "", "{\"text\": \"broken\", \"label\": ");
        assertEquals(3, e.line());
        assertTrue(e.getMessage().contains("bad.jsonl:3: is not valid JSON"), e.getMessage());
        assertEquals(2, classificationError("{\"text\": \"ok\", \"label\": \"a\"}", "{\"text\": \"a\", \"label\": \"b\"} extra").line(),
                "trailing content");
        assertEquals(1, classificationError("[\"text\", \"label\"]").line());
        assertTrue(classificationError("{\"text\": \"a\", \"text\": \"b\", \"label\": \"c\"}").getMessage().contains("Duplicate field"));
    }

    @Test
    void missingOrEmptyTextNamesItsLine() throws IOException {
        DatasetFormatException missing = classificationError("{\"text\": \"ok\", \"label\": \"a\"}", "{\"label\": \"a\"}");
        assertEquals(2, missing.line());
        assertTrue(missing.getMessage().contains("has no \"text\""), missing.getMessage());
        DatasetFormatException number = classificationError("{\"text\": 5, \"label\": \"a\"}");
        assertTrue(number.getMessage().contains(":1: \"text\" must be a string, got number 5"), number.getMessage());
        assertTrue(classificationError("{\"text\": \"  \", \"label\": \"a\"}").getMessage().contains("\"text\" is empty"));
        Path lm = file("lm.jsonl", "{\"text\": \"a\"}", "{\"body\": \"b\"}");
        assertEquals(2, assertThrows(DatasetFormatException.class, () -> JsonlDataset.texts(lm)).line());
    }

    @Test
    void labelsOfTheWrongTypeNameTheirLine() throws IOException {
        String ok = "{\"text\": \"t\", \"label\": \"a\"}";
        for (String bad : List.of("1.5", "true", "[1]", "{\"x\": 1}", "null", "\"\"", "123456789012345678901234567890")) {
            DatasetFormatException e = classificationError(ok, "{\"text\": \"t\", \"label\": " + bad + "}");
            assertEquals(2, e.line(), bad);
        }
        assertTrue(classificationError("{\"text\": \"t\"}").getMessage().contains("has no \"label\""));
        DatasetFormatException mixed = classificationError(ok, ok, "{\"text\": \"t\", \"label\": 3}");
        assertEquals(3, mixed.line());
        assertTrue(mixed.getMessage().contains("label 3 is an integer but the label on line 1 is a string"), mixed.getMessage());
    }

    @Test
    void emptyFilesAndMissingFilesAreErrors() throws IOException {
        Path empty = dir.resolve("empty.jsonl");
        Files.writeString(empty, "");
        DatasetFormatException e = assertThrows(DatasetFormatException.class, () -> JsonlDataset.classification(empty));
        assertEquals(0, e.line());
        assertTrue(e.getMessage().contains("holds no examples"), e.getMessage());
        Path blank = file("blank.jsonl", "", "   ", "");
        assertThrows(DatasetFormatException.class, () -> JsonlDataset.texts(blank));
        assertThrows(NoSuchFileException.class, () -> JsonlDataset.texts(dir.resolve("absent.jsonl")));
        Path latin1 = dir.resolve("latin1.jsonl");
        Files.write(latin1, "{\"text\": \"ok\"}\n{\"text\": \"caf\u00e9\"}\n".getBytes(StandardCharsets.ISO_8859_1));
        DatasetFormatException encoding = assertThrows(DatasetFormatException.class, () -> JsonlDataset.texts(latin1));
        assertTrue(encoding.getMessage().contains("UTF-8"), encoding.getMessage());
    }

    // ---------------------------------------------------------------- label sets beside a model

    @Test
    void labelSetsSaveAndMapEvaluationData() throws IOException {
        ClassificationData train = JsonlDataset.classification(file("train.jsonl",
                "{\"text\": \"a\", \"label\": \"unacceptable\"}", "{\"text\": \"b\", \"label\": \"acceptable\"}"));
        Path model = dir.resolve("model");
        train.labelSet().save(model.resolve(LabelSet.FILE_NAME));
        assertEquals("{\n  \"labels\" : [ \"acceptable\", \"unacceptable\" ]\n}\n", Files.readString(model.resolve(LabelSet.FILE_NAME)));
        LabelSet saved = LabelSet.load(model.resolve(LabelSet.FILE_NAME));
        assertEquals(train.labelSet(), saved);

        // An evaluation file holding only one of the labels keeps the model's indices.
        ClassificationData eval = JsonlDataset.classification(file("eval.jsonl", "{\"text\": \"c\", \"label\": \"unacceptable\"}"), saved);
        assertArrayEquals(new int[] {1}, eval.labels());
        assertEquals(List.of("unacceptable"), JsonlDataset.classification(dir.resolve("eval.jsonl")).labelSet().names(),
                "without the saved set the index would differ");

        Path unknown = file("unknown.jsonl", "{\"text\": \"c\", \"label\": \"acceptable\"}", "{\"text\": \"d\", \"label\": \"maybe\"}");
        DatasetFormatException e = assertThrows(DatasetFormatException.class, () -> JsonlDataset.classification(unknown, saved));
        assertEquals(2, e.line());
        assertTrue(e.getMessage().contains("\"maybe\" is not in the label set [acceptable, unacceptable]"), e.getMessage());
        Path ints = file("ints.jsonl", "{\"text\": \"c\", \"label\": 1}");
        assertTrue(assertThrows(DatasetFormatException.class, () -> JsonlDataset.classification(ints, saved)).getMessage()
                .contains("holds strings"));

        LabelSet integers = LabelSet.ofIntegers(List.of(3L, 1L));
        integers.save(dir.resolve("ints-labels.json"));
        assertEquals(integers, LabelSet.load(dir.resolve("ints-labels.json")));
    }

    @Test
    void labelSetsValidate() throws IOException {
        assertThrows(IllegalArgumentException.class, () -> new LabelSet(List.of(), false));
        assertThrows(IllegalArgumentException.class, () -> new LabelSet(List.of("b", "a"), false));
        assertThrows(IllegalArgumentException.class, () -> new LabelSet(List.of("a", "a"), false));
        assertThrows(IllegalArgumentException.class, () -> new LabelSet(List.of("2", "1"), true));
        assertThrows(IllegalArgumentException.class, () -> new LabelSet(List.of("01"), true));
        assertThrows(IllegalArgumentException.class, () -> new LabelSet(List.of(""), false));
        LabelSet set = LabelSet.ofStrings(List.of("x", "y", "x"));
        assertEquals(2, set.size());
        assertEquals(1, set.indexOf("y"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> set.indexOf("z")).getMessage().contains("[x, y]"));
        Path bad = dir.resolve("labels.json");
        for (String json : List.of("{\"labels\": []}", "{\"labels\": [\"a\", 1]}", "{\"labels\": [\"b\", \"a\"]}", "[1]", "{")) {
            Files.writeString(bad, json);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LabelSet.load(bad), json);
            assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
        }
        assertThrows(NoSuchFileException.class, () -> LabelSet.load(dir.resolve("absent.json")));
    }
}
