package org.peft4j.prompt;

import java.util.List;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TaskType;

/**
 * A config of a prompt learning method: the shared fields are its {@link #base()}; there are no target
 * modules (the method adapts the model's input).
 */
public interface PromptLearningConfig extends PeftConfig {
    /** The fields every prompt learning config shares. */
    PromptLearning base();

    /** This config with other shared fields. */
    PromptLearningConfig withBase(PromptLearning base);

    /** Prompt methods wrap no modules: always the architecture default, which they ignore. */
    @Override
    default TargetSpec targets() {
        return TargetSpec.architectureDefault();
    }

    @Override
    default List<String> modulesToSave() {
        return base().modulesToSave();
    }

    @Override
    default TaskType taskType() {
        return base().taskType();
    }

    @Override
    default String baseModelNameOrPath() {
        return base().baseModelNameOrPath();
    }

    @Override
    default PeftConfig withTargets(TargetSpec targets) {
        if (targets.targets() != null) {
            throw new IllegalArgumentException(peftType() + " wraps no modules; target_modules must not be set");
        }
        return this;
    }

    @Override
    default PeftConfig withModulesToSave(List<String> modules) {
        return withBase(base().withModulesToSave(modules));
    }

    @Override
    default PeftConfig withBaseModelNameOrPath(String name) {
        return withBase(base().withBaseModelNameOrPath(name));
    }
}
