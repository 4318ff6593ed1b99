package org.peft4j.core.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.peft4j.core.io.AtomicFiles;

/**
 * Reads and writes datasets as JSONL: UTF-8, one JSON object per line, blank lines skipped.
 *
 * <ul>
 *   <li>Classification: {@code {"text": "...", "label": "positive"}} or {@code {"label": 3, ...}}; a file's labels are
 *       all strings or all integers. Read with {@link #classification(Path)} to collect the label set from the file
 *       (ordered as {@link LabelSet} documents), or with {@link #classification(Path, LabelSet)} to map the labels
 *       through a saved set, as evaluation must.</li>
 *   <li>Causal LM: {@code {"text": "..."}}, read with {@link #texts(Path)}.</li>
 * </ul>
 *
 * <p>Other fields are ignored. Every problem is reported as a {@link DatasetFormatException} that names the file and
 * the line: a line that is not one JSON object, a missing or empty {@code "text"}, a label of the wrong type, a label
 * the saved set lacks, and a file with no examples.
 */
public final class JsonlDataset {
    private static final int MAX_QUOTED_CHARS = 80;

    /** Immutable and thread-safe: rejects duplicate keys and anything after the object on a line. */
    private static final ObjectReader JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build()
            .reader();
    private static final ObjectWriter WRITER = JsonMapper.builder().build().writer();

    private JsonlDataset() {
    }

    /** One line's example before its label is mapped to an index. */
    private record Row(long line, String text, String label, boolean integerLabel) {
    }

    /** The texts of a causal-LM file, in order; a {@code "label"} field, if present, is ignored. */
    public static List<String> texts(Path file) throws IOException {
        return read(file, false).stream().map(Row::text).toList();
    }

    /** A classification file with the label set collected from its own labels (sorted, see {@link LabelSet}). */
    public static ClassificationData classification(Path file) throws IOException {
        List<Row> rows = read(file, true);
        boolean integers = rows.get(0).integerLabel();
        List<String> names = new ArrayList<>();
        for (Row row : rows) {
            names.add(row.label());
        }
        LabelSet labelSet = integers
                ? LabelSet.ofIntegers(names.stream().map(Long::valueOf).toList())
                : LabelSet.ofStrings(names);
        return toData(file, rows, labelSet);
    }

    /**
     * A classification file whose labels are mapped through {@code labelSet} (for instance the set saved beside the
     * model being evaluated); a label outside the set, or of the other type, is an error naming its line.
     */
    public static ClassificationData classification(Path file, LabelSet labelSet) throws IOException {
        if (labelSet == null) {
            throw new IllegalArgumentException("label set must not be null; use classification(file) to collect it from the file");
        }
        return toData(file, read(file, true), labelSet);
    }

    /** Writes {@code data} as a classification JSONL file, atomically; labels are written as strings or integers as the set says. */
    public static void write(Path file, ClassificationData data) throws IOException {
        LabelSet labels = data.labelSet();
        AtomicFiles.write(file, out -> {
            for (int i = 0; i < data.size(); i++) {
                writeLine(out, data.texts().get(i), labels.integers() ? Long.valueOf(labels.name(data.label(i))) : labels.name(data.label(i)));
            }
        });
    }

    /** Writes {@code texts} as a causal-LM JSONL file ({@code {"text": ...}} per line), atomically. */
    public static void writeTexts(Path file, List<String> texts) throws IOException {
        AtomicFiles.write(file, out -> {
            for (String text : texts) {
                writeLine(out, text, null);
            }
        });
    }

    /** Writes one object, {@code {"text": ..., "label": ...}} (no label if null), and a newline. */
    static void writeLine(OutputStream out, String text, Object label) throws IOException {
        if (text == null) {
            throw new IllegalArgumentException("text to write must not be null");
        }
        ObjectNode row = JsonNodeFactory.instance.objectNode();
        row.put("text", text);
        if (label instanceof Long integer) {
            row.put("label", integer);
        } else if (label instanceof String string) {
            row.put("label", string);
        } else if (label != null) {
            throw new IllegalArgumentException("a label is written as a string or a Long, got " + label.getClass().getName());
        }
        out.write(WRITER.writeValueAsBytes(row));
        out.write('\n');
    }

    private static ClassificationData toData(Path file, List<Row> rows, LabelSet labelSet) {
        Map<String, Integer> index = labelSet.indexMap();
        List<String> texts = new ArrayList<>(rows.size());
        int[] labels = new int[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            Row row = rows.get(i);
            if (row.integerLabel() != labelSet.integers()) {
                throw new DatasetFormatException(file, row.line(), "label " + quoteLabel(row) + " is " + kind(row.integerLabel())
                        + ", but the label set " + labelSet.names() + " holds " + (labelSet.integers() ? "integers" : "strings"));
            }
            Integer labelIndex = index.get(row.label());
            if (labelIndex == null) {
                throw new DatasetFormatException(file, row.line(), "label " + quoteLabel(row) + " is not in the label set "
                        + labelSet.names());
            }
            texts.add(row.text());
            labels[i] = labelIndex;
        }
        return new ClassificationData(texts, labels, labelSet);
    }

    /** Reads every non-blank line; with {@code labels}, each needs a string or integer label, all of one type. */
    private static List<Row> read(Path file, boolean labels) throws IOException {
        if (file == null) {
            throw new IllegalArgumentException("file must not be null");
        }
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no such JSONL file");
        }
        List<Row> rows = new ArrayList<>();
        Set<Boolean> labelKinds = new HashSet<>();
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(Files.newInputStream(file), decoder), 1 << 16)) {
            long lineNumber = 0;
            String line;
            while (true) {
                try {
                    line = reader.readLine();
                } catch (CharacterCodingException e) {
                    throw new DatasetFormatException(file, lineNumber + 1, "is not valid UTF-8", e);
                }
                if (line == null) {
                    break;
                }
                lineNumber++;
                if (lineNumber == 1 && line.startsWith("\uFEFF")) {
                    line = line.substring(1);   // a byte order mark
                }
                if (line.isBlank()) {
                    continue;
                }
                Row row = parse(file, lineNumber, line, labels);
                if (labels) {
                    if (!labelKinds.isEmpty() && !labelKinds.contains(row.integerLabel())) {
                        Row first = rows.get(0);
                        throw new DatasetFormatException(file, lineNumber, "label " + quoteLabel(row) + " is " + kind(row.integerLabel())
                                + " but the label on line " + first.line() + " is " + kind(first.integerLabel())
                                + "; a file's labels must be all strings or all integers");
                    }
                    labelKinds.add(row.integerLabel());
                }
                rows.add(row);
            }
        }
        if (rows.isEmpty()) {
            throw new DatasetFormatException(file, 0, "holds no examples; a JSONL dataset needs one JSON object per line, such as "
                    + (labels ? "{\"text\": \"...\", \"label\": \"...\"}" : "{\"text\": \"...\"}"));
        }
        return rows;
    }

    private static Row parse(Path file, long lineNumber, String line, boolean labels) {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new DatasetFormatException(file, lineNumber, "is not valid JSON: " + e.getOriginalMessage()
                    + " (each line must hold one JSON object)", e);
        }
        if (node == null || !node.isObject()) {
            throw new DatasetFormatException(file, lineNumber, "must be a JSON object such as {\"text\": \"...\"}, got "
                    + (node == null ? "nothing" : abbreviate(node.toString())));
        }
        JsonNode text = node.get("text");
        if (text == null || text.isNull()) {
            throw new DatasetFormatException(file, lineNumber, "has no \"text\"; every example needs a string field \"text\"");
        }
        if (!text.isTextual()) {
            throw new DatasetFormatException(file, lineNumber, "\"text\" must be a string, got " + describe(text));
        }
        if (text.textValue().isBlank()) {
            throw new DatasetFormatException(file, lineNumber, "\"text\" is empty; every example needs some text");
        }
        if (!labels) {
            return new Row(lineNumber, text.textValue(), null, false);
        }
        JsonNode label = node.get("label");
        if (label == null || label.isNull()) {
            throw new DatasetFormatException(file, lineNumber, "has no \"label\"; a classification example needs a string or integer label");
        }
        if (label.isTextual()) {
            if (label.textValue().isEmpty()) {
                throw new DatasetFormatException(file, lineNumber, "\"label\" is an empty string; labels must be non-empty");
            }
            return new Row(lineNumber, text.textValue(), label.textValue(), false);
        }
        if (label.isIntegralNumber()) {
            if (!label.canConvertToLong()) {
                throw new DatasetFormatException(file, lineNumber, "\"label\" " + abbreviate(label.toString()) + " does not fit in 64 bits");
            }
            return new Row(lineNumber, text.textValue(), Long.toString(label.longValue()), true);
        }
        throw new DatasetFormatException(file, lineNumber, "\"label\" must be a string or an integer, got " + describe(label));
    }

    private static String kind(boolean integer) {
        return integer ? "an integer" : "a string";
    }

    private static String quoteLabel(Row row) {
        return row.integerLabel() ? row.label() : "\"" + abbreviate(row.label()) + "\"";
    }

    private static String describe(JsonNode node) {
        return node.getNodeType().name().toLowerCase(Locale.ROOT) + " " + abbreviate(node.toString());
    }

    private static String abbreviate(String text) {
        return text.length() <= MAX_QUOTED_CHARS ? text : text.substring(0, MAX_QUOTED_CHARS) + "...";
    }
}
