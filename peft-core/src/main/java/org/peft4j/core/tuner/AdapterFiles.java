package org.peft4j.core.tuner;

import org.peft4j.core.io.StrictJson;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.AtomicFiles;
import org.peft4j.core.io.SafetensorsDType;
import org.peft4j.core.io.SafetensorsFile;
import org.peft4j.core.io.SafetensorsWriter;

/**
 * HF PEFT's adapter directory: {@code adapter_config.json} (keys sorted, two-space indent, as
 * {@code PeftConfig.save_pretrained} writes it) and {@code adapter_model.safetensors} (metadata
 * {@code {"format": "pt"}}) whose keys are {@code base_model.model.<module path>.<param>} with the adapter
 * name removed. The adapter called {@code default} lives in the directory itself, any other in a
 * subdirectory named after it.
 */
public final class AdapterFiles {
    /** The config file name. */
    public static final String CONFIG = "adapter_config.json";
    /** The weights file name. */
    public static final String WEIGHTS = "adapter_model.safetensors";
    /** The prefix of every key: PeftModel.base_model (the tuner) .model (the wrapped model). */
    public static final String KEY_PREFIX = "base_model.model.";
    /**
     * The prefix of the keys of modules to save for a method that adapts the model's input: HF PEFT leaves
     * the model unwrapped then (PeftModel.base_model is the model itself).
     */
    public static final String INPUT_KEY_PREFIX = "base_model.";
    /** The adapter saved at the top of a directory. */
    public static final String DEFAULT_ADAPTER = "default";

    private static final ObjectReader READER = JsonMapper.builder().build().reader();
    private static final ObjectWriter WRITER = JsonMapper.builder().build().writer(new DefaultPrettyPrinter()
            .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER))
            .withArrayIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"))
            .withObjectIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n")));

    private AdapterFiles() {
    }

    /** The directory adapter {@code name} is saved in under {@code root}. */
    public static Path adapterDir(Path root, String name) {
        return DEFAULT_ADAPTER.equals(name) ? root : root.resolve(name);
    }

    /** Reads {@code dir/adapter_config.json}; fails naming the file when it is missing or not a JSON object. */
    public static ObjectNode readConfig(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("no " + CONFIG + " in " + dir + ": not an adapter directory"
                    + (Files.isDirectory(dir) ? "; it holds " + list(dir) : ""));
        }
        JsonNode node = StrictJson.read(file, (problem, cause) -> new IllegalArgumentException(file + " is " + problem, cause));
        if (!node.isObject()) {
            throw new IllegalArgumentException(file + " must hold a JSON object");
        }
        return (ObjectNode) node;
    }

    /** Writes {@code config} to {@code dir/adapter_config.json} with sorted keys, atomically. */
    public static void writeConfig(Path dir, ObjectNode config) throws IOException {
        AtomicFiles.writeString(dir.resolve(CONFIG), WRITER.writeValueAsString(sorted(config)) + "\n");
    }

    /** Writes the tensors to {@code dir/adapter_model.safetensors}, atomically. */
    public static void writeWeights(Path dir, Map<String, INDArray> tensors) throws IOException {
        SafetensorsWriter.write(dir.resolve(WEIGHTS), tensors, Map.of("format", "pt"));
    }

    /** Reads every tensor of {@code dir/adapter_model.safetensors} (F64 as DOUBLE, other float types as FLOAT). */
    public static Map<String, INDArray> readWeights(Path dir) throws IOException {
        Path file = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("no " + WEIGHTS + " in " + dir + "; it holds " + list(dir));
        }
        Map<String, INDArray> out = new java.util.LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : f.names()) {
                out.put(name, f.info(name).dtype() == SafetensorsDType.F64 ? f.read(name) : f.readAsFloat(name));
            }
        }
        return out;
    }

    /** A copy of {@code node} with the keys of every object sorted, as Python's {@code json.dumps(sort_keys=True)}. */
    static JsonNode sorted(JsonNode node) {
        if (node.isObject()) {
            TreeMap<String, JsonNode> fields = new TreeMap<>();
            Iterator<Map.Entry<String, JsonNode>> it = node.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                fields.put(e.getKey(), sorted(e.getValue()));
            }
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            fields.forEach(out::set);
            return out;
        }
        if (node.isArray()) {
            ArrayNode out = JsonNodeFactory.instance.arrayNode();
            node.forEach(n -> out.add(sorted(n)));
            return out;
        }
        return node;
    }

    private static List<String> list(Path dir) {
        List<String> names = new ArrayList<>();
        try (var stream = Files.list(dir)) {
            stream.limit(20).forEach(p -> names.add(p.getFileName().toString()));
        } catch (IOException e) {
            names.add("(unreadable: " + e.getMessage() + ")");
        }
        return names;
    }
}
