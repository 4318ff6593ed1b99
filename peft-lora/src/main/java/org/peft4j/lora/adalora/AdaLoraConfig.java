package org.peft4j.lora.adalora;

import org.peft4j.lora.LoraFamilyBuilder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.peft4j.core.tuner.BiasTraining;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.LoraConfig;
import org.peft4j.lora.LoraInit;

/**
 * An AdaLoRA adapter's configuration (HF PEFT's {@code AdaLoraConfig}; JSON field names are HF's). Each
 * target gets ΔW = B·diag(E)·A·s with {@code init_r} triplets, s = lora_alpha/(init_r + 1e-5); during
 * training the total number of unmasked triplets (the budget) falls from init_r·targets after
 * {@code tinit} steps, cubically, to target_r·targets at {@code total_step − tfinal}. HF's {@code r} is
 * not used by AdaLoRA and is not a field here.
 *
 * @param initR               triplets per module at the start (HF's init_r, > 0)
 * @param targetR             average triplets per module at the end (target_r, in 1..init_r)
 * @param tinit               steps before the budget starts to fall (≥ 0)
 * @param tfinal              steps at the end with the final budget fixed (≥ 0)
 * @param deltaT              steps between two re-allocations while the budget falls (≥ 1)
 * @param beta1               smoothing of the importance (in [0, 1))
 * @param beta2               smoothing of its uncertainty (in [0, 1))
 * @param orthRegWeight       weight of the orthogonal regularizer (≥ 0; 0 turns it off)
 * @param totalStep           optimizer steps of the training, or null: the trainer fills in its own
 * @param rankPattern         {@code <module path>.lora_E} → init_r booleans (which triplets are kept), or empty
 * @param loraAlpha           the scaling numerator
 * @param loraDropout         dropout on the adapter's input, in [0, 1)
 * @param targets             target_modules, exclude_modules, layers_to_transform, layers_pattern
 * @param modulesToSave       modules trained in full next to the adapter
 * @param initLoraWeights     true: A, B ~ N(0, 0.02) and E = 0 (the output starts unchanged); false: all N(0, 1)
 * @param fanInFanOut         whether the wrapped weights are stored [in, out]; null: derived from each layer
 * @param taskType            HF's task_type, or null
 * @param baseModelNameOrPath HF's base_model_name_or_path, or null
 */
public record AdaLoraConfig(int initR, int targetR, int tinit, int tfinal, int deltaT, double beta1, double beta2, double orthRegWeight,
        Integer totalStep, Map<String, List<Boolean>> rankPattern, double loraAlpha, double loraDropout, TargetSpec targets,
        List<String> modulesToSave, boolean initLoraWeights, Boolean fanInFanOut, TaskType taskType, String baseModelNameOrPath)
        implements PeftConfig {
    /** HF PEFT's {@code peft_type} of AdaLoRA. */
    public static final String PEFT_TYPE = "ADALORA";
    /** The suffix of a rank_pattern key after the module path. */
    public static final String PATTERN_SUFFIX = ".lora_E";
    /** The keys AdaLoRA adds to LoRA's config. */
    private static final Set<String> OWN = Set.of("init_r", "target_r", "tinit", "tfinal", "deltaT", "beta1", "beta2", "orth_reg_weight",
            "total_step", "rank_pattern");

    public AdaLoraConfig {
        if (initR <= 0) {
            throw new IllegalArgumentException("init_r must be > 0, got " + initR);
        }
        if (targetR <= 0 || targetR > initR) {
            throw new IllegalArgumentException("target_r must be in 1..init_r (" + initR + "), got " + targetR);
        }
        if (tinit < 0 || tfinal < 0) {
            throw new IllegalArgumentException("tinit and tfinal must be >= 0, got tinit " + tinit + ", tfinal " + tfinal);
        }
        if (deltaT < 1) {
            throw new IllegalArgumentException("deltaT must be >= 1 (steps between two allocations), got " + deltaT);
        }
        checkBeta("beta1", beta1);
        checkBeta("beta2", beta2);
        if (!(orthRegWeight >= 0) || !Double.isFinite(orthRegWeight)) {
            throw new IllegalArgumentException("`orth_reg_weight` should be greater than or equal to 0, but the value passed is " + orthRegWeight);
        }
        if (totalStep != null) {
            if (totalStep <= 0) {
                throw new IllegalArgumentException("total_step must be > 0 (or unset to take the trainer's step count), got " + totalStep);
            }
            if (tinit >= totalStep - tfinal) {
                throw new IllegalArgumentException("The supplied schedule values don't allow for a budgeting phase: tinit (" + tinit
                        + ") must be < total_step (" + totalStep + ") - tfinal (" + tfinal + "); decrease tfinal or tinit, or increase total_step");
            }
        }
        Map<String, List<Boolean>> ranks = new LinkedHashMap<>();
        if (rankPattern != null) {
            for (Map.Entry<String, List<Boolean>> e : rankPattern.entrySet()) {
                if (!e.getKey().endsWith(PATTERN_SUFFIX)) {
                    throw new IllegalArgumentException("rank_pattern key '" + e.getKey() + "' must be '<module path>" + PATTERN_SUFFIX + "'");
                }
                List<Boolean> keep = e.getValue();
                if (keep == null || keep.size() != initR || keep.stream().anyMatch(k -> k == null)) {
                    throw new IllegalArgumentException("rank_pattern['" + e.getKey() + "'] must be a list of init_r (" + initR + ") booleans, got " + keep);
                }
                ranks.put(e.getKey(), List.copyOf(keep));
            }
        }
        rankPattern = Collections.unmodifiableMap(ranks);
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
    }

    private static void checkBeta(String field, double beta) {
        if (!(beta >= 0 && beta < 1)) {
            throw new IllegalArgumentException(field + " must be in [0, 1), got " + beta);
        }
    }

    /** A builder with HF PEFT's defaults: init_r 12, target_r 8, tinit 0, tfinal 0, deltaT 1, beta1 = beta2 = 0.85, orth_reg_weight 0.5. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this config's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.initR = initR;
        b.targetR = targetR;
        b.tinit = tinit;
        b.tfinal = tfinal;
        b.deltaT = deltaT;
        b.beta1 = beta1;
        b.beta2 = beta2;
        b.orthRegWeight = orthRegWeight;
        b.totalStep = totalStep;
        b.rankPattern = rankPattern;
        b.initLoraWeights = initLoraWeights;
        return b.loraAlpha(loraAlpha).loraDropout(loraDropout).targets(targets).modulesToSave(modulesToSave).fanInFanOut(fanInFanOut)
                .taskType(taskType).baseModelNameOrPath(baseModelNameOrPath);
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    @Override
    public BiasTraining bias() {
        return BiasTraining.NONE;
    }

    /** Which of the init_r triplets the module at {@code path} keeps: its rank_pattern entry, or null (all of them). */
    public List<Boolean> keptFor(String path) {
        return rankPattern.get(path + PATTERN_SUFFIX);
    }

    /** The number of triplets the module at {@code path} holds: the kept ones of its rank_pattern entry, or init_r. */
    public int rankFor(String path) {
        List<Boolean> keep = keptFor(path);
        return keep == null ? initR : (int) keep.stream().filter(k -> k).count();
    }

    /** The scaling HF applies: lora_alpha (or the rank when lora_alpha ≤ 0) / (ranknum + 1e-5), with ranknum = init_r. */
    public double scaling(int rank) {
        return (loraAlpha > 0 ? loraAlpha : rank) / (initR + 1e-5);
    }

    /** This config with total_step set. */
    public AdaLoraConfig withTotalStep(int steps) {
        return toBuilder().totalStep(steps).build();
    }

    /** This config with another rank_pattern. */
    public AdaLoraConfig withRankPattern(Map<String, List<Boolean>> pattern) {
        return toBuilder().rankPattern(pattern).build();
    }

    /** This config with fan_in_fan_out set. */
    public AdaLoraConfig withFanInFanOut(Boolean value) {
        return toBuilder().fanInFanOut(value).build();
    }

    @Override
    public AdaLoraConfig withTargets(TargetSpec newTargets) {
        return toBuilder().targets(newTargets).build();
    }

    @Override
    public AdaLoraConfig withModulesToSave(List<String> modules) {
        return toBuilder().modulesToSave(modules).build();
    }

    @Override
    public AdaLoraConfig withBaseModelNameOrPath(String name) {
        return toBuilder().baseModelNameOrPath(name).build();
    }

    /** The fields AdaLoRA shares with LoRA, as a LoRA config (HF's AdaLoraConfig extends LoraConfig). */
    private LoraConfig shared() {
        return LoraConfig.builder().loraAlpha(loraAlpha).loraDropout(loraDropout).targets(targets).modulesToSave(modulesToSave)
                .initLoraWeights(initLoraWeights ? LoraInit.DEFAULT : LoraInit.RANDOM).fanInFanOut(fanInFanOut).taskType(taskType)
                .baseModelNameOrPath(baseModelNameOrPath).build();
    }

    @Override
    public ObjectNode toHfJson() {
        ObjectNode n = shared().toHfJson();
        n.put("peft_type", PEFT_TYPE);
        n.put("init_r", initR);
        n.put("target_r", targetR);
        n.put("tinit", tinit);
        n.put("tfinal", tfinal);
        n.put("deltaT", deltaT);
        n.put("beta1", beta1);
        n.put("beta2", beta2);
        n.put("orth_reg_weight", orthRegWeight);
        if (totalStep == null) {
            n.putNull("total_step");
        } else {
            n.put("total_step", totalStep);
        }
        if (rankPattern.isEmpty()) {
            n.putNull("rank_pattern");
        } else {
            ObjectNode ranks = n.putObject("rank_pattern");
            rankPattern.forEach((k, keep) -> keep.forEach(ranks.putArray(k)::add));
        }
        return n;
    }

    /**
     * Reads an {@code adapter_config.json} of peft_type ADALORA written by HF PEFT or peft4j. LoRA's fields are
     * read as {@link LoraConfig#fromHfJson} reads them; those AdaLoRA cannot use (DoRA, rsLoRA, trained biases,
     * alpha_pattern, other inits) are rejected.
     */
    public static AdaLoraConfig fromHfJson(JsonNode json) {
        JsonNode type = json.get("peft_type");
        if (type == null || !type.isTextual() || !PEFT_TYPE.equals(type.textValue())) {
            throw new IllegalArgumentException("adapter config has peft_type " + type + ", not \"" + PEFT_TYPE + "\"");
        }
        ObjectNode lora = json.deepCopy();
        lora.remove(OWN);
        lora.remove("r");                                   // HF keeps LoRA's r in the file; AdaLoRA ignores it
        lora.put("peft_type", LoraConfig.PEFT_TYPE);
        LoraConfig shared = LoraConfig.fromHfJson(lora);
        if (shared.useDora()) {
            throw new IllegalArgumentException("ADALORA does not support DoRA (use_dora must be false)");
        }
        if (shared.useRslora()) {
            throw new IllegalArgumentException("AdaLoRA scales by lora_alpha/init_r; use_rslora must be false");
        }
        if (shared.bias() != BiasTraining.NONE) {
            throw new IllegalArgumentException("peft4j's AdaLoRA trains no biases; bias must be \"none\", got " + json.get("bias"));
        }
        if (!shared.alphaPattern().isEmpty()) {
            throw new IllegalArgumentException("AdaLoRA does not use alpha_pattern; it must be empty, got " + shared.alphaPattern());
        }
        LoraInit init = shared.initLoraWeights();
        if (init != LoraInit.DEFAULT && init != LoraInit.RANDOM) {
            throw new IllegalArgumentException("AdaLoRA's init_lora_weights must be true or false, got " + init.toJson());
        }
        Builder b = builder().loraAlpha(shared.loraAlpha()).loraDropout(shared.loraDropout()).targets(shared.targets())
                .modulesToSave(shared.modulesToSave()).initLoraWeights(init == LoraInit.DEFAULT).fanInFanOut(shared.fanInFanOut())
                .taskType(shared.taskType()).baseModelNameOrPath(shared.baseModelNameOrPath());
        b.initR = intField(json, "init_r", b.initR);
        b.targetR = intField(json, "target_r", b.targetR);
        b.tinit = intField(json, "tinit", b.tinit);
        b.tfinal = intField(json, "tfinal", b.tfinal);
        b.deltaT = intField(json, "deltaT", b.deltaT);
        b.beta1 = numberField(json, "beta1", b.beta1);
        b.beta2 = numberField(json, "beta2", b.beta2);
        b.orthRegWeight = numberField(json, "orth_reg_weight", b.orthRegWeight);
        b.totalStep = json.hasNonNull("total_step") ? intField(json, "total_step", 0) : null;
        if (json.hasNonNull("rank_pattern")) {
            JsonNode ranks = json.get("rank_pattern");
            if (!ranks.isObject()) {
                throw new IllegalArgumentException("rank_pattern must be an object of '<path>.lora_E': [booleans], got " + ranks);
            }
            Map<String, List<Boolean>> pattern = new LinkedHashMap<>();
            ranks.fields().forEachRemaining(e -> pattern.put(e.getKey(), booleans(e.getKey(), e.getValue())));
            b.rankPattern = pattern;
        }
        return b.build();
    }

    private static List<Boolean> booleans(String key, JsonNode node) {
        if (!node.isArray()) {
            throw new IllegalArgumentException("rank_pattern['" + key + "'] must be a list of booleans, got " + node);
        }
        List<Boolean> out = new ArrayList<>();
        for (JsonNode v : (ArrayNode) node) {
            if (!v.isBoolean()) {
                throw new IllegalArgumentException("rank_pattern['" + key + "'] must be a list of booleans, got " + node);
            }
            out.add(v.booleanValue());
        }
        return out;
    }

    private static int intField(JsonNode json, String field, int fallback) {
        JsonNode v = json.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isIntegralNumber()) {
            throw new IllegalArgumentException(field + " must be an integer, got " + v);
        }
        return v.intValue();
    }

    private static double numberField(JsonNode json, String field, double fallback) {
        JsonNode v = json.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isNumber()) {
            throw new IllegalArgumentException(field + " must be a number, got " + v);
        }
        return v.doubleValue();
    }

    /** Builds an {@link AdaLoraConfig}; setters are named after HF's fields and start from HF's defaults. */
    public static final class Builder extends LoraFamilyBuilder<Builder> {
        private int initR = 12;
        private int targetR = 8;
        private int tinit;
        private int tfinal;
        private int deltaT = 1;
        private double beta1 = 0.85;
        private double beta2 = 0.85;
        private double orthRegWeight = 0.5;
        private Integer totalStep;
        private Map<String, List<Boolean>> rankPattern = Map.of();
        private boolean initLoraWeights = true;

        private Builder() {
        }

        @Override
        protected Builder self() {
            return this;
        }

        /** Triplets per module at the start. */
        public Builder initR(int r) {
            this.initR = r;
            return this;
        }

        /** Average triplets per module at the end. */
        public Builder targetR(int r) {
            this.targetR = r;
            return this;
        }

        /** Steps before the budget starts to fall. */
        public Builder tinit(int steps) {
            this.tinit = steps;
            return this;
        }

        /** Steps at the end with the final budget. */
        public Builder tfinal(int steps) {
            this.tfinal = steps;
            return this;
        }

        /** Steps between two allocations. */
        public Builder deltaT(int steps) {
            this.deltaT = steps;
            return this;
        }

        /** Smoothing of the importance. */
        public Builder beta1(double beta) {
            this.beta1 = beta;
            return this;
        }

        /** Smoothing of the uncertainty. */
        public Builder beta2(double beta) {
            this.beta2 = beta;
            return this;
        }

        /** Weight of the orthogonal regularizer. */
        public Builder orthRegWeight(double weight) {
            this.orthRegWeight = weight;
            return this;
        }

        /** Optimizer steps of the training; null lets the trainer fill in its own. */
        public Builder totalStep(Integer steps) {
            this.totalStep = steps;
            return this;
        }

        /** Kept triplets per module: {@code <path>.lora_E} → init_r booleans. */
        public Builder rankPattern(Map<String, List<Boolean>> pattern) {
            this.rankPattern = pattern;
            return this;
        }

        /** True (HF's default): E = 0 and A, B ~ N(0, 0.02); false: all N(0, 1). */
        public Builder initLoraWeights(boolean identity) {
            this.initLoraWeights = identity;
            return this;
        }

        /** The config; fails naming the first invalid field. */
        public AdaLoraConfig build() {
            return new AdaLoraConfig(initR, targetR, tinit, tfinal, deltaT, beta1, beta2, orthRegWeight, totalStep, rankPattern, loraAlpha,
                    loraDropout, targets, modulesToSave, initLoraWeights, fanInFanOut, taskType, baseModelNameOrPath);
        }
    }
}
