package org.peft4j.adapter.bottleneck;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.peft4j.adapter.HfJson;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.PeftConfigBuilder;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TaskType;

/**
 * A bottleneck adapter's configuration ({@code peft_type} {@value #PEFT_TYPE}; see docs/adapter.md). Each
 * wrapped module gets a = s·up(f(down(z))) with down {@code [b, d_in]}, up {@code [d_out, b]} and biases,
 * where b = bottleneck_size, or d_out / reduction_factor when that is unset; z is the module's output
 * (Houlsby, Pfeiffer: y = z + a) or its input (parallel: y = module(z) + a).
 *
 * @param placement           Houlsby, Pfeiffer or parallel; decides the default targets and how a wrapper computes
 * @param reductionFactor     d_out / b when bottleneckSize is 0 (> 0)
 * @param bottleneckSize      b, or 0 to derive it from reductionFactor
 * @param nonLinearity        f: relu, gelu, swish (silu) or tanh
 * @param scaling             s (finite, ≠ 0)
 * @param initWeights         how the projections start
 * @param leaveOut            layer indices that get no adapter (AdapterHub's leave_out); written into exclude_modules
 * @param trainLayerNorms     whether the model's LayerNorms (and RMSNorms) train with the adapter, as in Houlsby et al.
 * @param targets             target_modules (default: the placement's), exclude_modules, layers_to_transform, layers_pattern
 * @param modulesToSave       modules trained in full next to the adapter (the classifier head for SEQ_CLS)
 * @param taskType            HF's task_type, or null
 * @param baseModelNameOrPath HF's base_model_name_or_path, or null
 */
public record BottleneckConfig(Placement placement, double reductionFactor, int bottleneckSize, Activation nonLinearity, double scaling,
        BottleneckInit initWeights, List<Integer> leaveOut, boolean trainLayerNorms, TargetSpec targets, List<String> modulesToSave, TaskType taskType,
        String baseModelNameOrPath) implements PeftConfig {
    /** This module's {@code peft_type} for bottleneck adapters (HF PEFT has none). */
    public static final String PEFT_TYPE = "BOTTLENECK_ADAPTER";

    /** The non-linearities an adapter may use. */
    public static final Set<Activation> NON_LINEARITIES = Set.of(Activation.RELU, Activation.GELU, Activation.SILU, Activation.TANH);

    private static final Set<String> READ = Set.of("placement", "reduction_factor", "bottleneck_size", "non_linearity", "scaling",
            "init_weights", "leave_out", "train_layer_norms");

    public BottleneckConfig {
        if (placement == null) {
            throw new IllegalArgumentException("placement must be houlsby, pfeiffer or parallel, got null");
        }
        if (!(reductionFactor > 0) || !Double.isFinite(reductionFactor)) {
            throw new IllegalArgumentException("reduction_factor must be a finite number > 0, got " + reductionFactor);
        }
        if (bottleneckSize < 0) {
            throw new IllegalArgumentException("bottleneck_size must be > 0, or 0 to derive it from reduction_factor, got " + bottleneckSize);
        }
        if (nonLinearity == null || !NON_LINEARITIES.contains(nonLinearity)) {
            throw new IllegalArgumentException("non_linearity must be one of relu, gelu, swish, tanh, got "
                    + (nonLinearity == null ? "null" : nonLinearity.hfName()));
        }
        if (!Double.isFinite(scaling) || scaling == 0) {
            throw new IllegalArgumentException("scaling must be a finite non-zero number, got " + scaling);
        }
        if (initWeights == null) {
            throw new IllegalArgumentException("init_weights must be identity or bert, got null");
        }
        leaveOut = leaveOut == null ? List.of() : List.copyOf(leaveOut);
        for (Integer i : leaveOut) {
            if (i == null || i < 0) {
                throw new IllegalArgumentException("leave_out must list layer indices >= 0, got " + leaveOut);
            }
        }
        if (targets == null) {
            throw new IllegalArgumentException("targets must not be null; use TargetSpec.architectureDefault() for the placement's modules");
        }
        if (targets.targets() == null) {
            targets = targets.withTargets(new TargetSpec.Regex(placement.defaultTargets()));
        }
        if (!leaveOut.isEmpty()) {
            TargetSpec.Regex skip = new TargetSpec.Regex(leaveOutRegex(leaveOut));
            if (targets.exclude() != null && !targets.exclude().equals(skip)) {
                throw new IllegalArgumentException("set leave_out or exclude_modules, not both: leave_out " + leaveOut
                        + " becomes exclude_modules '" + skip.pattern() + "', but exclude_modules is " + targets.exclude());
            }
            targets = targets.withExclude(skip);
        }
        modulesToSave = modulesToSave == null ? List.of() : List.copyOf(modulesToSave);
    }

    /** The exclude_modules regex of leave_out: every module in those layers of BERT, GPT-2 or a LLaMA-style decoder. */
    static String leaveOutRegex(List<Integer> layers) {
        return "(.*\\.)?(layer|layers|h)\\.(" + layers.stream().map(String::valueOf).collect(Collectors.joining("|")) + ")(\\..*)?";
    }

    /** A builder with the Houlsby placement's defaults; {@link Builder#placement} switches to another placement's. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this config's values. */
    public Builder toBuilder() {
        Builder b = new Builder().from(this);
        b.placement = placement;
        b.reductionFactor = reductionFactor;
        b.bottleneckSize = bottleneckSize;
        b.nonLinearity = nonLinearity;
        b.scalingSet = scaling;
        b.initWeights = initWeights;
        b.leaveOut = leaveOut;
        b.trainLayerNorms = trainLayerNorms;
        return b;
    }

    /** The bottleneck size b of an adapter on a module whose adapter output has {@code outFeatures} features (at least 1). */
    public int bottleneckFor(int outFeatures) {
        return bottleneckSize > 0 ? bottleneckSize : Math.max(1, (int) Math.floor(outFeatures / reductionFactor));
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    @Override
    public BottleneckConfig withTargets(TargetSpec newTargets) {
        return toBuilder().targets(newTargets).build();
    }

    @Override
    public BottleneckConfig withModulesToSave(List<String> modules) {
        return toBuilder().modulesToSave(modules).build();
    }

    @Override
    public BottleneckConfig withBaseModelNameOrPath(String name) {
        return toBuilder().baseModelNameOrPath(name).build();
    }

    @Override
    public ObjectNode toHfJson() {
        ObjectNode n = HfJson.write(PEFT_TYPE, new HfJson.Common(targets, modulesToSave, taskType, baseModelNameOrPath));
        n.put("placement", placement.hfName());
        n.put("reduction_factor", reductionFactor);
        if (bottleneckSize == 0) {
            n.putNull("bottleneck_size");
        } else {
            n.put("bottleneck_size", bottleneckSize);
        }
        n.put("non_linearity", nonLinearity == Activation.SILU ? "swish" : nonLinearity.hfName());
        n.put("scaling", scaling);
        n.put("init_weights", initWeights.hfName());
        leaveOut.forEach(n.putArray("leave_out")::add);
        n.put("train_layer_norms", trainLayerNorms);
        return n;
    }

    /** Reads an {@code adapter_config.json} written by {@link #toHfJson()}; unknown fields are ignored with a warning. */
    public static BottleneckConfig fromHfJson(JsonNode json) {
        HfJson.Common c = HfJson.read(json, PEFT_TYPE, READ);
        Builder b = builder();
        if (json.hasNonNull("placement")) {
            b.placement(Placement.parse(json.get("placement").asText()));
        }
        if (json.hasNonNull("reduction_factor")) {
            b.reductionFactor(HfJson.number(json, "reduction_factor"));
        }
        if (json.hasNonNull("bottleneck_size")) {
            b.bottleneckSize(HfJson.integer(json, "bottleneck_size"));
        }
        if (json.hasNonNull("non_linearity")) {
            b.nonLinearity(parseNonLinearity(json.get("non_linearity").asText()));
        }
        if (json.hasNonNull("scaling")) {
            b.scaling(HfJson.number(json, "scaling"));
        }
        if (json.hasNonNull("init_weights")) {
            b.initWeights(BottleneckInit.parse(json.get("init_weights").asText()));
        }
        if (json.hasNonNull("leave_out")) {
            List<Integer> layers = new ArrayList<>();
            for (JsonNode i : json.get("leave_out")) {
                if (!i.isIntegralNumber()) {
                    throw new IllegalArgumentException("leave_out must be a list of layer indices, got " + json.get("leave_out"));
                }
                layers.add(i.intValue());
            }
            b.leaveOut(layers);
        }
        if (json.hasNonNull("train_layer_norms")) {
            JsonNode v = json.get("train_layer_norms");
            if (!v.isBoolean()) {
                throw new IllegalArgumentException("train_layer_norms must be true or false, got " + v);
            }
            b.trainLayerNorms(v.booleanValue());
        }
        return b.targets(c.targets()).modulesToSave(c.modulesToSave()).taskType(c.taskType()).baseModelNameOrPath(c.baseModelNameOrPath()).build();
    }

    /** Parses relu, gelu, swish (or silu) and tanh. */
    public static Activation parseNonLinearity(String name) {
        Activation a;
        try {
            a = Activation.fromHfName(name.toLowerCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            a = null;
        }
        if (a == null || !NON_LINEARITIES.contains(a)) {
            throw new IllegalArgumentException("non_linearity must be one of relu, gelu, swish, tanh, got '" + name + "'");
        }
        return a;
    }

    /**
     * Builds a {@link BottleneckConfig}. Defaults: Houlsby, reduction_factor 16, the placement's non-linearity
     * and scaling (see {@link Placement}), identity init, the placement's targets.
     */
    public static final class Builder extends PeftConfigBuilder<Builder> {
        private Placement placement = Placement.HOULSBY;
        private double reductionFactor = 16;
        private int bottleneckSize;
        private Activation nonLinearity;
        private Double scalingSet;
        private BottleneckInit initWeights = BottleneckInit.IDENTITY;
        private List<Integer> leaveOut = List.of();
        private boolean trainLayerNorms;

        private Builder() {
        }

        @Override
        protected Builder self() {
            return this;
        }

        /** The placement; the non-linearity and scaling follow it unless set. */
        public Builder placement(Placement p) {
            this.placement = p;
            return this;
        }

        /** d_out / b. */
        public Builder reductionFactor(double factor) {
            this.reductionFactor = factor;
            return this;
        }

        /** b itself (overrides reduction_factor); 0 derives it. */
        public Builder bottleneckSize(int size) {
            this.bottleneckSize = size;
            return this;
        }

        /** f. */
        public Builder nonLinearity(Activation f) {
            this.nonLinearity = f;
            return this;
        }

        /** s. */
        public Builder scaling(double s) {
            this.scalingSet = s;
            return this;
        }

        /** How the projections start. */
        public Builder initWeights(BottleneckInit init) {
            this.initWeights = init;
            return this;
        }

        /** Layer indices without adapters. */
        public Builder leaveOut(List<Integer> layers) {
            this.leaveOut = layers;
            return this;
        }

        /** Whether the model's LayerNorms (and RMSNorms) train with the adapter. */
        public Builder trainLayerNorms(boolean on) {
            this.trainLayerNorms = on;
            return this;
        }

        /** The config; fails naming the first invalid field. */
        public BottleneckConfig build() {
            if (placement == null) {
                throw new IllegalArgumentException("placement must be houlsby, pfeiffer or parallel, got null");
            }
            double s = scalingSet != null ? scalingSet : placement.defaultScaling();
            Activation f = nonLinearity != null ? nonLinearity : placement.defaultNonLinearity();
            return new BottleneckConfig(placement, reductionFactor, bottleneckSize, f, s, initWeights, leaveOut, trainLayerNorms, targets, modulesToSave, taskType,
                    baseModelNameOrPath);
        }
    }
}
