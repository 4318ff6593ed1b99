package org.peft4j.core.tuner;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What HF PEFT assumes about an architecture when a config leaves it open: the default target modules
 * by {@code model_type} (its {@code TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING}, for the
 * architectures peft4j has), the name of the output head that {@code "all-linear"} leaves out, and
 * the classifier heads that classification tasks train as modules_to_save.
 */
public final class ArchitectureDefaults {
    /** The attention projections HF PEFT adapts by default, by model_type. */
    public static final Map<String, List<String>> ATTENTION_TARGETS = Map.of(
            "bert", List.of("query", "value"),
            "roberta", List.of("query", "value"),
            "gpt2", List.of("c_attn"),
            "llama", List.of("q_proj", "v_proj"),
            "qwen2", List.of("q_proj", "v_proj"),
            "mistral", List.of("q_proj", "v_proj"));

    /** Top-level names of language-model output heads ({@code get_output_embeddings()} of the architectures above). */
    public static final List<String> OUTPUT_HEADS = List.of("lm_head");

    /** Classifier heads HF PEFT adds to modules_to_save for SEQ_CLS and TOKEN_CLS. */
    public static final List<String> CLASSIFIER_HEADS = List.of("classifier", "score");

    private ArchitectureDefaults() {
    }

    /** The default attention targets of {@code modelType}, if peft4j knows them. */
    public static Optional<List<String>> attentionTargets(String modelType) {
        return Optional.ofNullable(ATTENTION_TARGETS.get(modelType));
    }
}
