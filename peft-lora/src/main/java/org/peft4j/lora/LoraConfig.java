package org.peft4j.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.peft4j.core.tuner.BiasTraining;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TaskType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A LoRA adapter's configuration (HF PEFT's {@code LoraConfig}; JSON field names are HF's). The update
 * of a wrapped layer is ΔW = s·B·A with A {@code [r, in]}, B {@code [out, r]} and s = lora_alpha/r, or
 * lora_alpha/√r with rsLoRA; rank_pattern and alpha_pattern override r and lora_alpha per module.
 *
 * @param r                   the rank (> 0)
 * @param loraAlpha           the scaling numerator
 * @param loraDropout         dropout on the adapter's input, in [0, 1)
 * @param targets             target_modules, exclude_modules, layers_to_transform, layers_pattern
 * @param modulesToSave       modules trained in full next to the adapter
 * @param rankPattern         per-module ranks: regex key (matched at the end of the path) → rank
 * @param alphaPattern        per-module alphas: regex key → lora_alpha
 * @param bias                which base biases train (HF's "none", "all", "lora_only")
 * @param useRslora           s = alpha/√r instead of alpha/r
 * @param useDora             weight-decomposed LoRA: a trainable magnitude per output row
 * @param initLoraWeights     how A and B start
 * @param fanInFanOut         whether the wrapped weights are stored [in, out] (GPT-2's Conv1D); null: derived from each layer
 * @param taskType            HF's task_type, or null
 * @param baseModelNameOrPath HF's base_model_name_or_path, or null
 */
public record LoraConfig(int r, double loraAlpha, double loraDropout, TargetSpec targets, List<String> modulesToSave,
        Map<String, Integer> rankPattern, Map<String, Double> alphaPattern, BiasTraining bias, boolean useRslora, boolean useDora,
        LoraInit initLoraWeights, Boolean fanInFanOut, TaskType taskType, String baseModelNameOrPath) implements PeftConfig {
    private static final Logger LOG = LoggerFactory.getLogger(LoraConfig.class);

    /** HF PEFT's {@code peft_type} of LoRA. */
    public static final String PEFT_TYPE = "LORA";

    /** Keys HF writes that carry no meaning for loading (bookkeeping). */
    private static final Set<String> IGNORED = Set.of("peft_type", "auto_mapping", "revision", "peft_version", "inference_mode",
            "runtime_config", "megatron_core", "qalora_group_size");
    /** Keys of HF features peft4j lacks: accepted only at their "off" value (null, false, {} or []). */
    private static final Set<String> UNSUPPORTED = Set.of("lora_bias", "use_qalora", "ensure_weight_tying", "loftq_config", "eva_config",
            "corda_config", "lora_ga_config", "megatron_config", "layer_replication", "trainable_token_indices", "target_parameters",
            "alora_invocation_tokens", "velora_config", "monteclora_config", "arrow_config", "kasa_config", "use_bdlora");
    /** The keys this record reads. */
    private static final Set<String> READ = Set.of("r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules",
            "layers_to_transform", "layers_pattern", "modules_to_save", "rank_pattern", "alpha_pattern", "bias", "use_rslora", "use_dora",
            "init_lora_weights", "fan_in_fan_out", "task_type", "base_model_name_or_path");

    public LoraConfig {
        if (r <= 0) {
            throw new IllegalArgumentException("r must be > 0, got " + r);
        }
        if (!Double.isFinite(loraAlpha)) {
            throw new IllegalArgumentException("lora_alpha must be a finite number, got " + loraAlpha);
        }
        if (!(loraDropout >= 0.0 && loraDropout < 1.0)) {
            throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + loraDropout);
        }
        if (targets == null) {
            throw new IllegalArgumentException("targets must not be null; use TargetSpec.architectureDefault() for the model's default");
        }
        modulesToSave = modulesToSave == null ? List.of() : List.copyOf(modulesToSave);
        rankPattern = checkedPattern("rank_pattern", rankPattern);
        alphaPattern = checkedPattern("alpha_pattern", alphaPattern);
        rankPattern.forEach((k, v) -> {
            if (v == null || v <= 0) {
                throw new IllegalArgumentException("rank_pattern['" + k + "'] must be a rank > 0, got " + v);
            }
        });
        alphaPattern.forEach((k, v) -> {
            if (v == null || !Double.isFinite(v)) {
                throw new IllegalArgumentException("alpha_pattern['" + k + "'] must be a finite number, got " + v);
            }
        });
        if (bias == null) {
            throw new IllegalArgumentException("bias must be NONE, ALL or ADAPTED_ONLY (HF: \"none\", \"all\", \"lora_only\")");
        }
        if (initLoraWeights == null) {
            throw new IllegalArgumentException("init_lora_weights must not be null; the default is LoraInit.DEFAULT (HF's true)");
        }
    }

    private static <V> Map<String, V> checkedPattern(String field, Map<String, V> pattern) {
        if (pattern == null) {
            return Map.of();
        }
        for (String key : pattern.keySet()) {
            try {
                Pattern.compile(key);
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException(field + " key '" + key + "' is not a valid regular expression: " + e.getDescription(), e);
            }
        }
        return Collections.unmodifiableMap(new LinkedHashMap<>(pattern));
    }

    /** A builder with HF PEFT's defaults: r 8, lora_alpha 8, no dropout, the architecture's default targets. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this config's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.r = r;
        b.loraAlpha = loraAlpha;
        b.loraDropout = loraDropout;
        b.rankPattern = rankPattern;
        b.alphaPattern = alphaPattern;
        b.bias = bias;
        b.useRslora = useRslora;
        b.useDora = useDora;
        b.initLoraWeights = initLoraWeights;
        b.fanInFanOut = fanInFanOut;
        return b.from(this);
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    /** The rank of the module at {@code path}: its rank_pattern entry, or r. */
    public int rankFor(String path) {
        String key = TargetSpec.patternKey(rankPattern.keySet(), path);
        return key == null ? r : rankPattern.get(key);
    }

    /** The lora_alpha of the module at {@code path}: its alpha_pattern entry, or lora_alpha. */
    public double alphaFor(String path) {
        String key = TargetSpec.patternKey(alphaPattern.keySet(), path);
        return key == null ? loraAlpha : alphaPattern.get(key);
    }

    /** The scaling s of an adapter of this rank and alpha: alpha/r, or alpha/√r with rsLoRA. */
    public double scaling(int rank, double alpha) {
        return useRslora ? alpha / Math.sqrt(rank) : alpha / rank;
    }

    @Override
    public LoraConfig withTargets(TargetSpec newTargets) {
        return toBuilder().targets(newTargets).build();
    }

    @Override
    public LoraConfig withModulesToSave(List<String> modules) {
        return toBuilder().modulesToSave(modules).build();
    }

    @Override
    public LoraConfig withBaseModelNameOrPath(String name) {
        return toBuilder().baseModelNameOrPath(name).build();
    }

    /** This config with fan_in_fan_out set. */
    public LoraConfig withFanInFanOut(Boolean value) {
        return toBuilder().fanInFanOut(value).build();
    }

    @Override
    public ObjectNode toHfJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("peft_type", PEFT_TYPE);
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
        n.putNull("revision");
        n.putNull("auto_mapping");
        n.put("inference_mode", false);
        n.put("r", r);
        putNumber(n, "lora_alpha", loraAlpha);
        n.put("lora_dropout", loraDropout);
        targets.writeHfJson(n);
        if (modulesToSave.isEmpty()) {
            n.putNull("modules_to_save");
        } else {
            modulesToSave.forEach(n.putArray("modules_to_save")::add);
        }
        ObjectNode ranks = n.putObject("rank_pattern");
        rankPattern.forEach(ranks::put);
        ObjectNode alphas = n.putObject("alpha_pattern");
        alphaPattern.forEach((k, v) -> putNumber(alphas, k, v));
        n.put("bias", switch (bias) {
            case NONE -> "none";
            case ALL -> "all";
            case ADAPTED_ONLY -> "lora_only";
        });
        n.put("use_rslora", useRslora);
        n.put("use_dora", useDora);
        n.set("init_lora_weights", initLoraWeights.toJson());
        n.put("fan_in_fan_out", fanInFanOut != null && fanInFanOut);
        n.put("lora_bias", false);
        n.putObject("loftq_config");
        n.putNull("layer_replication");
        n.putNull("megatron_config");
        n.put("megatron_core", "megatron.core");
        n.putNull("trainable_token_indices");
        return n;
    }

    private static void putNumber(ObjectNode n, String field, double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            n.put(field, (long) v);
        } else {
            n.put(field, v);
        }
    }

    /**
     * Reads an {@code adapter_config.json} written by HF PEFT or peft4j. Fields of HF features peft4j lacks
     * must be at their "off" value; unknown fields are ignored with one warning that lists them.
     */
    public static LoraConfig fromHfJson(JsonNode json) {
        JsonNode type = json.get("peft_type");
        if (type == null || !type.isTextual()) {
            throw new IllegalArgumentException("adapter config has no peft_type; a LoRA config needs \"peft_type\": \"LORA\"");
        }
        if (!PEFT_TYPE.equals(type.textValue())) {
            throw new IllegalArgumentException("adapter config has peft_type '" + type.textValue() + "', not \"LORA\"");
        }
        List<String> unknown = new ArrayList<>();
        Iterator<String> names = json.fieldNames();
        while (names.hasNext()) {
            String key = names.next();
            if (UNSUPPORTED.contains(key) && !isOff(json.get(key))) {
                throw new IllegalArgumentException("adapter config sets " + key + " = " + json.get(key)
                        + ", which peft4j does not support; it accepts only null, false or empty there");
            }
            if (!READ.contains(key) && !IGNORED.contains(key) && !UNSUPPORTED.contains(key)) {
                unknown.add(key);
            }
        }
        if (!unknown.isEmpty()) {
            LOG.warn("unexpected keys {} in a LoRA adapter config are ignored", new TreeSet<>(unknown));
        }
        Builder b = builder();
        if (json.hasNonNull("r")) {
            b.r(intField(json, "r"));
        }
        if (json.hasNonNull("lora_alpha")) {
            b.loraAlpha(numberField(json, "lora_alpha"));
        }
        if (json.hasNonNull("lora_dropout")) {
            b.loraDropout(numberField(json, "lora_dropout"));
        }
        b.targets(TargetSpec.fromHfJson(json));
        if (json.hasNonNull("modules_to_save")) {
            List<String> modules = new ArrayList<>();
            json.get("modules_to_save").forEach(m -> modules.add(m.asText()));
            b.modulesToSave(modules);
        }
        if (json.hasNonNull("rank_pattern")) {
            Map<String, Integer> ranks = new LinkedHashMap<>();
            json.get("rank_pattern").fields().forEachRemaining(e -> ranks.put(e.getKey(), e.getValue().intValue()));
            b.rankPattern(ranks);
        }
        if (json.hasNonNull("alpha_pattern")) {
            Map<String, Double> alphas = new LinkedHashMap<>();
            json.get("alpha_pattern").fields().forEachRemaining(e -> alphas.put(e.getKey(), e.getValue().doubleValue()));
            b.alphaPattern(alphas);
        }
        if (json.hasNonNull("bias")) {
            b.bias(parseBias(json.get("bias").asText()));
        }
        b.useRslora(json.path("use_rslora").asBoolean(false));
        b.useDora(json.path("use_dora").asBoolean(false));
        b.initLoraWeights(LoraInit.fromJson(json.get("init_lora_weights")));
        if (json.hasNonNull("fan_in_fan_out")) {
            b.fanInFanOut(json.get("fan_in_fan_out").asBoolean());
        }
        if (json.hasNonNull("task_type")) {
            b.taskType(TaskType.parse(json.get("task_type").asText()));
        }
        if (json.hasNonNull("base_model_name_or_path")) {
            b.baseModelNameOrPath(json.get("base_model_name_or_path").asText());
        }
        return b.build();
    }

    private static boolean isOff(JsonNode v) {
        return v == null || v.isNull() || (v.isBoolean() && !v.booleanValue()) || (v.isContainerNode() && v.isEmpty());
    }

    private static int intField(JsonNode json, String field) {
        JsonNode v = json.get(field);
        if (!v.isIntegralNumber()) {
            throw new IllegalArgumentException(field + " must be an integer, got " + v);
        }
        return v.intValue();
    }

    private static double numberField(JsonNode json, String field) {
        JsonNode v = json.get(field);
        if (!v.isNumber()) {
            throw new IllegalArgumentException(field + " must be a number, got " + v);
        }
        return v.doubleValue();
    }

    /** Parses HF's bias value: "none", "all" or "lora_only". */
    public static BiasTraining parseBias(String value) {
        return switch (value) {
            case "none" -> BiasTraining.NONE;
            case "all" -> BiasTraining.ALL;
            case "lora_only" -> BiasTraining.ADAPTED_ONLY;
            default -> throw new IllegalArgumentException("bias must be \"none\", \"all\" or \"lora_only\", got '" + value + "'");
        };
    }

    /**
     * Builds a {@link LoraConfig}; setters are named after HF's fields. Defaults as HF PEFT: r 8, lora_alpha 8,
     * lora_dropout 0, the architecture's default targets, bias none, init_lora_weights true.
     */
    public static final class Builder extends LoraFamilyBuilder<Builder> {
        private int r = 8;
        private Map<String, Integer> rankPattern = Map.of();
        private Map<String, Double> alphaPattern = Map.of();
        private BiasTraining bias = BiasTraining.NONE;
        private boolean useRslora;
        private boolean useDora;
        private LoraInit initLoraWeights = LoraInit.DEFAULT;

        private Builder() {
        }

        @Override
        protected Builder self() {
            return this;
        }

        /** The rank. */
        public Builder r(int r) {
            this.r = r;
            return this;
        }

        /** Per-module ranks. */
        public Builder rankPattern(Map<String, Integer> pattern) {
            this.rankPattern = pattern;
            return this;
        }

        /** Per-module alphas. */
        public Builder alphaPattern(Map<String, Double> pattern) {
            this.alphaPattern = pattern;
            return this;
        }

        /** Which base biases train. */
        public Builder bias(BiasTraining bias) {
            this.bias = bias;
            return this;
        }

        /** rsLoRA scaling alpha/√r. */
        public Builder useRslora(boolean on) {
            this.useRslora = on;
            return this;
        }

        /** DoRA. */
        public Builder useDora(boolean on) {
            this.useDora = on;
            return this;
        }

        /** The initialisation of A and B. */
        public Builder initLoraWeights(LoraInit init) {
            this.initLoraWeights = init;
            return this;
        }

        /** The config; fails naming the first invalid field. */
        public LoraConfig build() {
            return new LoraConfig(r, loraAlpha, loraDropout, targets, modulesToSave, rankPattern, alphaPattern, bias, useRslora, useDora,
                    initLoraWeights, fanInFanOut, taskType, baseModelNameOrPath);
        }
    }
}
