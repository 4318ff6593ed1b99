package org.peft4j.core.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Set;

/**
 * Builds one architecture from an HF {@code config.json} and its weights. One factory per architecture
 * ({@code gpt2}, {@code bert}, {@code llama}); the checkpoint loader picks it by {@code model_type}.
 */
public interface ModelFactory {
    /** The {@code model_type} values this factory builds, e.g. {"llama", "qwen2", "mistral"}. */
    Set<String> modelTypes();

    /** Heads this architecture supports. */
    Set<ModelHead> heads();

    /**
     * Builds the model described by {@code config} with the given weights. Params the checkpoint lacks
     * (a new classification head) are initialised from {@code options.seed()}; a weight the architecture
     * needs and the checkpoint lacks is an error naming it.
     */
    PretrainedModel load(JsonNode config, WeightSource weights, LoadOptions options);
}
