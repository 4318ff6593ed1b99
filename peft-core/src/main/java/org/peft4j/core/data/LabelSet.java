package org.peft4j.core.data;

import org.peft4j.core.io.StrictJson;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.peft4j.core.io.AtomicFiles;

/**
 * The labels of a classification task in a fixed order: label index {@code i} (the class a model's logit {@code i}
 * stands for) is {@code names().get(i)}.
 *
 * <p><b>Order.</b> Integer labels are sorted numerically; string labels are sorted by {@link String#compareTo}
 * (UTF-16 code unit order, so {@code "B" < "a"}). Sorting, rather than order of first appearance, makes the order a
 * function of the set of labels alone: a training file and an evaluation file with the same labels, in any order and
 * however shuffled, give the same indices. To keep a model's indices when the evaluation data lacks a label, save the
 * set beside the model ({@link #save}, as {@value #FILE_NAME}) and read the evaluation data against it.
 *
 * @param names    the labels by index: integer labels in canonical decimal form ({@code "-1"}, {@code "7"})
 * @param integers true if the labels are JSON integers, false if they are JSON strings
 */
public record LabelSet(List<String> names, boolean integers) {
    /** The name a label set is saved under beside a model. */
    public static final String FILE_NAME = "labels.json";

    private static final ObjectWriter PRETTY = JsonMapper.builder().build().writerWithDefaultPrettyPrinter();

    /** Checks that there is at least one label, all distinct, in the documented order. */
    public LabelSet {
        if (names == null || names.isEmpty()) {
            throw new IllegalArgumentException("a label set needs at least one label");
        }
        names = List.copyOf(names);   // also rejects null entries
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            if (integers) {
                long value;
                try {
                    value = Long.parseLong(name);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("integer label " + i + " is '" + name + "', not a 64-bit integer", e);
                }
                if (!Long.toString(value).equals(name)) {
                    throw new IllegalArgumentException("integer label " + i + " must be written canonically as " + value + ", got '" + name + "'");
                }
                if (i > 0 && Long.parseLong(names.get(i - 1)) >= value) {
                    throw new IllegalArgumentException("integer labels must be distinct and ascending, got " + names);
                }
            } else {
                if (name.isEmpty()) {
                    throw new IllegalArgumentException("label " + i + " is an empty string; labels must be non-empty");
                }
                if (i > 0 && names.get(i - 1).compareTo(name) >= 0) {
                    throw new IllegalArgumentException("string labels must be distinct and sorted, got " + names
                            + "; build the set with LabelSet.ofStrings to sort them");
                }
            }
        }
    }

    /** The set of the given string labels, sorted; duplicates collapse. */
    public static LabelSet ofStrings(Collection<String> labels) {
        if (labels == null) {
            throw new IllegalArgumentException("labels must not be null");
        }
        return new LabelSet(new ArrayList<>(new TreeSet<>(labels)), false);
    }

    /** The set of the given integer labels, sorted numerically; duplicates collapse. */
    public static LabelSet ofIntegers(Collection<Long> labels) {
        if (labels == null) {
            throw new IllegalArgumentException("labels must not be null");
        }
        return new LabelSet(new TreeSet<>(labels).stream().map(String::valueOf).toList(), true);
    }

    /** Number of labels (the classifier's {@code num_labels}). */
    public int size() {
        return names.size();
    }

    /** The label of index {@code index}. */
    public String name(int index) {
        if (index < 0 || index >= names.size()) {
            throw new IllegalArgumentException("label index must be in [0, " + names.size() + "), got " + index);
        }
        return names.get(index);
    }

    /** True if {@code name} is one of the labels. */
    public boolean contains(String name) {
        return names.contains(name);
    }

    /** The index of label {@code name}; fails naming the labels when there is none. */
    public int indexOf(String name) {
        int index = names.indexOf(name);
        if (index < 0) {
            throw new IllegalArgumentException("unknown label '" + name + "'; the labels are " + names);
        }
        return index;
    }

    /** A map from label to index, for callers that look many labels up. */
    public Map<String, Integer> indexMap() {
        Map<String, Integer> map = new HashMap<>();
        for (int i = 0; i < names.size(); i++) {
            map.put(names.get(i), i);
        }
        return Map.copyOf(map);
    }

    /** This set as JSON: {@code {"labels": ["a", "b"]}}, or {@code {"labels": [0, 1]}} for integer labels. */
    public ObjectNode toJson() {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ArrayNode array = root.putArray("labels");
        for (String name : names) {
            if (integers) {
                array.add(Long.parseLong(name));
            } else {
                array.add(name);
            }
        }
        return root;
    }

    /** Reads a set from the JSON that {@link #toJson()} writes; the labels must already be in order. */
    public static LabelSet fromJson(JsonNode node) {
        JsonNode array = node == null ? null : node.get("labels");
        if (array == null || !array.isArray() || array.isEmpty()) {
            throw new IllegalArgumentException("a label set is a JSON object {\"labels\": [...]} with at least one string or integer");
        }
        List<String> names = new ArrayList<>();
        Set<Boolean> kinds = new HashSet<>();
        for (JsonNode label : array) {
            if (label.isTextual()) {
                names.add(label.textValue());
                kinds.add(false);
            } else if (label.isIntegralNumber() && label.canConvertToLong()) {
                names.add(Long.toString(label.longValue()));
                kinds.add(true);
            } else {
                throw new IllegalArgumentException("labels must be strings or 64-bit integers, got " + label);
            }
        }
        if (kinds.size() > 1) {
            throw new IllegalArgumentException("labels must be all strings or all integers, got " + array);
        }
        return new LabelSet(names, kinds.contains(true));
    }

    /** Writes this set to {@code file} (usually {@code modelDir/labels.json}) atomically. */
    public void save(Path file) throws IOException {
        byte[] json = PRETTY.writeValueAsBytes(toJson());
        AtomicFiles.write(file, out -> {
            out.write(json);
            out.write('\n');
        });
    }

    /** Reads a set that {@link #save} wrote; fails naming the file if it is missing or malformed. */
    public static LabelSet load(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no label set; it is written beside a model as " + FILE_NAME);
        }
        JsonNode node = StrictJson.read(file, (problem, cause) -> new IllegalArgumentException(file + " is " + problem, cause));
        try {
            return fromJson(node);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }
}
