package org.peft4j.examples.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.ModelFactory;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.ModelRegistry;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.PretrainedModel;

/**
 * Resolves the {@code --model PATH} of the CLI commands to a model: an HF checkpoint directory
 * ({@code config.json} + safetensors).
 */
final class ModelLoader {
    private ModelLoader() {
    }

    /**
     * The options a checkpoint describes itself: the head named by {@code architectures} in its config
     * ({@code *ForSequenceClassification} with its {@code num_labels}, {@code *ForCausalLM}, ...), else a
     * causal-LM head where the architecture has one, else the base model.
     */
    static LoadOptions describedOptions(String path) throws IOException {
        Path dir = Path.of(path);
        if (!Files.isDirectory(dir)) {
            return LoadOptions.of(ModelHead.BASE);
        }
        ObjectNode config = HfCheckpoint.readConfig(dir);
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

    /** Loads the model at {@code path} with {@code options}; a path that is not a model is an error naming it. */
    static PretrainedModel load(String path, LoadOptions options) throws IOException {
        Path p = Path.of(path);
        if (Files.isDirectory(p)) {
            return HfCheckpoint.load(p, options);
        }
        throw new IllegalArgumentException("--model " + path + ": not a model; give an HF checkpoint directory (config.json and "
                + "model.safetensors)" + (Files.exists(p) ? "" : " — no such file or directory"));
    }
}
