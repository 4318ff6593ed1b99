package org.peft4j.core.tuner;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * The configuration of one adapter of a PEFT method. Implementations are immutable records checked in
 * their constructors; the fields every method shares are exposed here so that {@link PeftModel} can
 * match modules, wrap heads and write {@code adapter_config.json} without knowing the method.
 */
public interface PeftConfig {
    /** HF PEFT's {@code peft_type}, e.g. {@code "LORA"}. */
    String peftType();

    /** Which modules the adapter wraps: target_modules, exclude_modules, layers_to_transform, layers_pattern. */
    TargetSpec targets();

    /** Names of modules trained as full copies next to the adapter (e.g. a classifier head); empty for none. */
    List<String> modulesToSave();

    /** HF's {@code task_type}, or null. */
    TaskType taskType();

    /** HF's {@code base_model_name_or_path}, or null. */
    String baseModelNameOrPath();

    /** Which base-model biases train with this adapter. */
    default BiasTraining bias() {
        return BiasTraining.NONE;
    }

    /** This config with other targets (all other fields unchanged). */
    PeftConfig withTargets(TargetSpec targets);

    /** This config with other modules_to_save (all other fields unchanged). */
    PeftConfig withModulesToSave(List<String> modulesToSave);

    /** This config with another base_model_name_or_path (all other fields unchanged). */
    PeftConfig withBaseModelNameOrPath(String baseModelNameOrPath);

    /** The fields of {@code adapter_config.json} under HF PEFT's names, {@code peft_type} included. */
    ObjectNode toHfJson();
}
