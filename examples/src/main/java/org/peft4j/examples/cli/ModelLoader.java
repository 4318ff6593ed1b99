package org.peft4j.examples.cli;

import org.peft4j.core.io.StrictJson;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.peft4j.core.io.onnx.OnnxHfNames;
import org.peft4j.core.io.onnx.OnnxWeights;
import org.peft4j.core.model.BuiltinModel;
import org.peft4j.core.model.Builtins;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelFactory;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.ModelRegistry;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.tokenizer.ByteTokenizer;
import org.peft4j.core.tokenizer.HfTokenizer;
import org.peft4j.core.tokenizer.Tokenizer;

/**
 * Resolves the {@code --model PATH} of the CLI commands: an HF checkpoint directory ({@code config.json}
 * + safetensors), an {@code .onnx} file with {@code config.json} beside it, or
 * {@code builtin:all-MiniLM-L6-v2}; and finds the matching tokenizer.
 */
final class ModelLoader {
    /** The tokenizer file HF keeps beside a model. */
    static final String TOKENIZER_FILE = "tokenizer.json";

    private ModelLoader() {
    }

    /**
     * The options a checkpoint describes itself: the head named by {@code architectures} in its config
     * ({@code *ForSequenceClassification} with its {@code num_labels}, ...), else a causal-LM head where the
     * architecture has one, else the base model.
     */
    static LoadOptions describedOptions(String path) throws IOException {
        if (Builtins.isBuiltin(path)) {
            return LoadOptions.of(ModelHead.BASE);
        }
        ObjectNode config = config(path);
        String architectures = config.path("architectures").toString();
        if (architectures.contains("ForSequenceClassification") || architectures.contains("ForTokenClassification")) {
            int labels = config.has("id2label") ? config.get("id2label").size() : config.path("num_labels").asInt(2);
            ModelHead head = architectures.contains("ForSequenceClassification") ? ModelHead.SEQUENCE_CLASSIFICATION
                    : ModelHead.TOKEN_CLASSIFICATION;
            return LoadOptions.classification(head, labels);
        }
        ModelFactory factory = ModelRegistry.installed().factory(config.path("model_type").asText());
        return LoadOptions.of(factory.heads().contains(ModelHead.CAUSAL_LM) ? ModelHead.CAUSAL_LM : ModelHead.BASE);
    }

    /** The config.json of a directory model, or the one beside an .onnx file. */
    private static ObjectNode config(String path) throws IOException {
        Path p = Path.of(path);
        if (Files.isDirectory(p)) {
            return HfCheckpoint.readConfig(p);
        }
        if (isOnnx(p)) {
            Path beside = siblingConfig(p);
            JsonNode node = StrictJson.read(beside, (problem, cause) -> new IllegalArgumentException(beside + " is " + problem, cause));
            if (!node.isObject()) {
                throw new IllegalArgumentException(beside + " is not a JSON object");
            }
            return (ObjectNode) node;
        }
        throw notAModel(path);
    }

    /** Loads the model at {@code path} with {@code options}; a path that is not a model is an error naming it. */
    static PretrainedModel load(String path, LoadOptions options) throws IOException {
        if (Builtins.isBuiltin(path)) {
            return Builtins.resolve(path).load(options);
        }
        Path p = Path.of(path);
        if (Files.isDirectory(p)) {
            return org.peft4j.quant.QuantizedCheckpoint.isQuantized(p) ? org.peft4j.quant.QuantizedCheckpoint.load(p, options)
                    : HfCheckpoint.load(p, options);
        }
        if (isOnnx(p)) {
            ObjectNode config = config(path);
            ModelFactory factory = ModelRegistry.installed().factory(config.path("model_type").asText());
            try (OnnxWeights onnx = OnnxWeights.open(p)) {
                return factory.load(config, OnnxHfNames.of(onnx), options);
            }
        }
        throw notAModel(path);
    }

    /**
     * The tokenizer of the model at {@code path}: {@code --tokenizer} if given, else the builtin's, else
     * {@code tokenizer.json} beside the model, else byte-level for a model whose config has a 256-token
     * vocabulary (what {@code peft4j pretrain} writes).
     */
    static Tokenizer tokenizer(String path, Path override) throws IOException {
        Tokenizer tokenizer = openTokenizer(path, override);
        if (!Builtins.isBuiltin(path)) {
            int modelVocab = config(path).path("vocab_size").asInt(0);
            try {
                tokenizer.requireFits(modelVocab, "--model " + path);
            } catch (IllegalArgumentException e) {
                tokenizer.close();
                throw e;
            }
        }
        return tokenizer;
    }

    private static Tokenizer openTokenizer(String path, Path override) throws IOException {
        if (override != null) {
            return HfTokenizer.open(override);
        }
        if (Builtins.isBuiltin(path)) {
            return Builtins.resolve(path).openTokenizer();
        }
        Path p = Path.of(path);
        Path file = Files.isDirectory(p) ? p.resolve(TOKENIZER_FILE) : p.resolveSibling(TOKENIZER_FILE);
        if (Files.isRegularFile(file)) {
            return HfTokenizer.open(file);
        }
        if (config(path).path("vocab_size").asInt() == ByteTokenizer.VOCAB_SIZE) {
            return new ByteTokenizer();
        }
        throw new IllegalArgumentException("no tokenizer for --model " + path + ": expected " + file
                + "; give one with --tokenizer FILE (an HF tokenizer.json)");
    }

    /** The tokenizer.json a model was loaded with, to copy beside a saved model; null for byte-level. */
    static Path tokenizerFile(String path, Path override) throws IOException {
        if (override != null) {
            return override;
        }
        if (Builtins.isBuiltin(path)) {
            BuiltinModel builtin = Builtins.resolve(path);
            return builtin.tokenizerFile();
        }
        Path p = Path.of(path);
        Path file = Files.isDirectory(p) ? p.resolve(TOKENIZER_FILE) : p.resolveSibling(TOKENIZER_FILE);
        return Files.isRegularFile(file) ? file : null;
    }

    private static boolean isOnnx(Path p) {
        return Files.isRegularFile(p) && p.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".onnx");
    }

    private static Path siblingConfig(Path onnx) {
        Path config = onnx.resolveSibling(HfCheckpoint.CONFIG_FILE);
        if (!Files.isRegularFile(config)) {
            throw new IllegalArgumentException("--model " + onnx + ": an ONNX file needs the model's config.json beside it (" + config
                    + " is missing); the attention head count cannot be read from the weights");
        }
        return config;
    }

    private static IllegalArgumentException notAModel(String path) {
        Path p = Path.of(path);
        return new IllegalArgumentException("--model " + path + ": not a model; give an HF checkpoint directory (config.json and "
                + "model.safetensors), an .onnx file with config.json beside it, or one of " + Builtins.names()
                + (Files.exists(p) ? "" : " (no such file or directory)"));
    }
}
