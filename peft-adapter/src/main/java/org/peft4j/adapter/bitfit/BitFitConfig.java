package org.peft4j.adapter.bitfit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Set;
import org.peft4j.adapter.HfJson;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.PeftConfigBuilder;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TaskType;

/**
 * A BitFit adapter's configuration ({@code peft_type} {@value #PEFT_TYPE}; see docs/bitfit.md): which
 * modules' biases train. target_modules unset means every Linear with a bias and every LayerNorm; a list
 * such as {@code ["query", "intermediate.dense"]} picks a subset (the paper's ablation).
 *
 * @param targets             the modules whose biases train (target_modules, exclude_modules, layers_to_transform)
 * @param modulesToSave       modules trained in full next to the biases (the classifier head for SEQ_CLS)
 * @param taskType            HF's task_type, or null
 * @param baseModelNameOrPath HF's base_model_name_or_path, or null
 */
public record BitFitConfig(TargetSpec targets, List<String> modulesToSave, TaskType taskType, String baseModelNameOrPath) implements PeftConfig {
    /** This module's {@code peft_type} for BitFit (HF PEFT has none). */
    public static final String PEFT_TYPE = "BITFIT";

    public BitFitConfig {
        if (targets == null) {
            throw new IllegalArgumentException("targets must not be null; use TargetSpec.architectureDefault() for every bias of the model");
        }
        if (targets.isAllLinear()) {
            throw new IllegalArgumentException("BitFit takes no \"all-linear\": leave target_modules unset to train every bias, "
                    + "or list the modules whose biases train");
        }
        modulesToSave = modulesToSave == null ? List.of() : List.copyOf(modulesToSave);
    }

    /** A builder: every bias, no modules to save. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this config. */
    public Builder toBuilder() {
        return new Builder().from(this);
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    @Override
    public BitFitConfig withTargets(TargetSpec newTargets) {
        return toBuilder().targets(newTargets).build();
    }

    @Override
    public BitFitConfig withModulesToSave(List<String> modules) {
        return toBuilder().modulesToSave(modules).build();
    }

    @Override
    public BitFitConfig withBaseModelNameOrPath(String name) {
        return toBuilder().baseModelNameOrPath(name).build();
    }

    @Override
    public ObjectNode toHfJson() {
        return HfJson.write(PEFT_TYPE, new HfJson.Common(targets, modulesToSave, taskType, baseModelNameOrPath));
    }

    /** Reads an {@code adapter_config.json} written by {@link #toHfJson()}; unknown fields are ignored with a warning. */
    public static BitFitConfig fromHfJson(JsonNode json) {
        HfJson.Common c = HfJson.read(json, PEFT_TYPE, Set.of());
        return new BitFitConfig(c.targets(), c.modulesToSave(), c.taskType(), c.baseModelNameOrPath());
    }

    /** Builds a {@link BitFitConfig}; target_modules unset means every bias. */
    public static final class Builder extends PeftConfigBuilder<Builder> {
        private Builder() {
        }

        @Override
        protected Builder self() {
            return this;
        }

        /** The modules whose biases train, by name (a path suffix after a '.'), e.g. "query", "intermediate.dense". */
        public Builder biases(String... modules) {
            return targetModules(modules);
        }

        /** The config; fails naming what is wrong. */
        public BitFitConfig build() {
            return new BitFitConfig(targets, modulesToSave, taskType, baseModelNameOrPath);
        }
    }
}
