package org.peft4j.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.tuner.TaskType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fields every prompt learning config shares (HF PEFT's {@code PromptLearningConfig}): the number of
 * virtual tokens, the sizes the prompt is made for (null: taken from the model, as HF's
 * {@code _prepare_prompt_learning_config} does), the task, the base model's name, modules to save and
 * whether the adapter was saved for inference (then the prompt is the flat table HF saves, without encoder).
 *
 * @param numVirtualTokens    number of virtual tokens n (> 0)
 * @param tokenDim            width of one virtual token, or null for the model's hidden size
 * @param numLayers           number of transformer layers, or null for the model's
 * @param numAttentionHeads   number of attention heads, or null for the model's
 * @param taskType            HF's task_type, or null
 * @param baseModelNameOrPath HF's base_model_name_or_path, or null
 * @param modulesToSave       modules trained as full copies (e.g. a classifier head)
 * @param inferenceMode       true for an adapter loaded from its files: the prompt is its saved flat table
 */
public record PromptLearning(int numVirtualTokens, Integer tokenDim, Integer numLayers, Integer numAttentionHeads, TaskType taskType,
        String baseModelNameOrPath, List<String> modulesToSave, boolean inferenceMode) {
    private static final Logger LOG = LoggerFactory.getLogger(PromptLearning.class);

    /** The keys every prompt learning config reads or knows. */
    static final Set<String> KEYS = Set.of("peft_type", "num_virtual_tokens", "token_dim", "num_layers", "num_attention_heads",
            "num_transformer_submodules", "task_type", "base_model_name_or_path", "modules_to_save", "inference_mode", "revision",
            "auto_mapping", "peft_version");

    public PromptLearning {
        if (numVirtualTokens <= 0) {
            throw new IllegalArgumentException("num_virtual_tokens must be > 0, got " + numVirtualTokens);
        }
        positiveOrNull("token_dim", tokenDim);
        positiveOrNull("num_layers", numLayers);
        positiveOrNull("num_attention_heads", numAttentionHeads);
        modulesToSave = modulesToSave == null ? List.of() : List.copyOf(modulesToSave);
    }

    private static void positiveOrNull(String field, Integer v) {
        if (v != null && v <= 0) {
            throw new IllegalArgumentException(field + " must be > 0 (or null for the model's), got " + v);
        }
    }

    /** n virtual tokens, every size from the model, for training. */
    public static PromptLearning of(int numVirtualTokens) {
        return new PromptLearning(numVirtualTokens, null, null, null, null, null, List.of(), false);
    }

    public PromptLearning withTaskType(TaskType t) {
        return new PromptLearning(numVirtualTokens, tokenDim, numLayers, numAttentionHeads, t, baseModelNameOrPath, modulesToSave, inferenceMode);
    }

    public PromptLearning withBaseModelNameOrPath(String name) {
        return new PromptLearning(numVirtualTokens, tokenDim, numLayers, numAttentionHeads, taskType, name, modulesToSave, inferenceMode);
    }

    public PromptLearning withModulesToSave(List<String> modules) {
        return new PromptLearning(numVirtualTokens, tokenDim, numLayers, numAttentionHeads, taskType, baseModelNameOrPath, modules, inferenceMode);
    }

    public PromptLearning withSizes(int newTokenDim, int newLayers, int newHeads) {
        return new PromptLearning(numVirtualTokens, newTokenDim, newLayers, newHeads, taskType, baseModelNameOrPath, modulesToSave, inferenceMode);
    }

    /**
     * These fields with the sizes the config leaves open taken from {@code base}'s config.json as HF's
     * {@code _prepare_prompt_learning_config} does: num_layers from num_hidden_layers / num_layers / n_layer,
     * token_dim from hidden_size / n_embd / d_model, heads from num_attention_heads / n_head / num_heads; for a
     * prefix ({@code kvPrefix}) on a model with num_key_value_heads, heads = num_key_value_heads and
     * token_dim = head_dim · num_key_value_heads (grouped-query attention).
     */
    public PromptLearning resolve(PretrainedModel base, boolean kvPrefix) {
        ObjectNode c = base.hfConfig();
        int layers = numLayers != null ? numLayers : first(c, "num_layers", "num_hidden_layers", "num_layers", "n_layer");
        int dim = tokenDim != null ? tokenDim : first(c, "token_dim", "hidden_size", "n_embd", "d_model");
        int heads = numAttentionHeads != null ? numAttentionHeads : first(c, "num_attention_heads", "num_attention_heads", "n_head", "num_heads");
        if (kvPrefix && c.hasNonNull("num_key_value_heads")) {
            int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").intValue() : dim / heads;
            int kvHeads = c.get("num_key_value_heads").intValue();
            dim = headDim * kvHeads;
            heads = kvHeads;
        }
        return withSizes(dim, layers, heads);
    }

    private static int first(ObjectNode config, String field, String... keys) {
        for (String k : keys) {
            if (config.hasNonNull(k)) {
                return config.get(k).intValue();
            }
        }
        throw new IllegalArgumentException("the model's config.json has none of " + List.of(keys) + "; set " + field + " in the prompt config");
    }

    /** Writes the shared fields under HF's names (the method adds its own and peft_type). */
    public void writeHfJson(ObjectNode n, String peftType) {
        n.put("peft_type", peftType);
        n.put("num_virtual_tokens", numVirtualTokens);
        putOrNull(n, "token_dim", tokenDim);
        putOrNull(n, "num_layers", numLayers);
        putOrNull(n, "num_attention_heads", numAttentionHeads);
        n.put("num_transformer_submodules", 1);
        if (taskType == null) {
            n.putNull("task_type");
        } else {
            n.put("task_type", taskType.name());
        }
        if (baseModelNameOrPath == null) {
            n.putNull("base_model_name_or_path");
        } else {
            n.put("base_model_name_or_path", baseModelNameOrPath);
        }
        if (modulesToSave.isEmpty()) {
            n.putNull("modules_to_save");
        } else {
            ArrayNode a = n.putArray("modules_to_save");
            modulesToSave.forEach(a::add);
        }
        n.put("inference_mode", inferenceMode);
        n.putNull("revision");
        n.putNull("auto_mapping");
    }

    private static void putOrNull(ObjectNode n, String key, Integer v) {
        if (v == null) {
            n.putNull(key);
        } else {
            n.put(key, v);
        }
    }

    /** A new JSON object. */
    public static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }

    /**
     * Reads the shared fields of an adapter_config.json of {@code peftType}, whose method reads {@code ownKeys};
     * other keys are ignored with one warning that lists them. num_transformer_submodules must be 1 (decoders
     * and encoders; encoder-decoder models are not supported).
     */
    public static PromptLearning fromHfJson(JsonNode json, String peftType, Set<String> ownKeys) {
        JsonNode type = json.get("peft_type");
        if (type == null || !peftType.equals(type.asText())) {
            throw new IllegalArgumentException("adapter config has peft_type " + (type == null ? "none" : "'" + type.asText() + "'")
                    + ", expected \"" + peftType + "\"");
        }
        List<String> unknown = new ArrayList<>();
        Iterator<String> names = json.fieldNames();
        while (names.hasNext()) {
            String k = names.next();
            if (!KEYS.contains(k) && !ownKeys.contains(k)) {
                unknown.add(k);
            }
        }
        if (!unknown.isEmpty()) {
            LOG.warn("unexpected keys {} in a {} adapter config are ignored", new TreeSet<>(unknown), peftType);
        }
        if (json.hasNonNull("num_transformer_submodules") && json.get("num_transformer_submodules").intValue() != 1) {
            throw new IllegalArgumentException("num_transformer_submodules = " + json.get("num_transformer_submodules")
                    + " is for encoder-decoder models, which peft4j does not have; it must be 1");
        }
        if (!json.hasNonNull("num_virtual_tokens")) {
            throw new IllegalArgumentException(peftType + " adapter config needs num_virtual_tokens");
        }
        List<String> modules = new ArrayList<>();
        if (json.hasNonNull("modules_to_save")) {
            json.get("modules_to_save").forEach(m -> modules.add(m.asText()));
        }
        return new PromptLearning(json.get("num_virtual_tokens").intValue(), intOrNull(json, "token_dim"), intOrNull(json, "num_layers"),
                intOrNull(json, "num_attention_heads"), json.hasNonNull("task_type") ? TaskType.parse(json.get("task_type").asText()) : null,
                json.hasNonNull("base_model_name_or_path") ? json.get("base_model_name_or_path").asText() : null, modules,
                json.path("inference_mode").asBoolean(false));
    }

    static Integer intOrNull(JsonNode json, String key) {
        return json.hasNonNull(key) ? json.get(key).intValue() : null;
    }
}
