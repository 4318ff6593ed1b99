package org.peft4j.core.tuner;

import java.util.List;

/**
 * The setters every method's config builder shares: target_modules and its companions, modules_to_save,
 * task_type and base_model_name_or_path, under HF PEFT's names. A method's builder extends it and adds
 * its own fields; {@link #self()} keeps the chained calls typed.
 *
 * @param <B> the concrete builder
 */
public abstract class PeftConfigBuilder<B extends PeftConfigBuilder<B>> {
    /** target_modules (null: the method's default), exclude_modules, layers_to_transform, layers_pattern. */
    protected TargetSpec targets = TargetSpec.architectureDefault();
    /** Modules trained in full next to the adapter. */
    protected List<String> modulesToSave = List.of();
    /** HF's task_type, or null. */
    protected TaskType taskType;
    /** HF's base_model_name_or_path, or null. */
    protected String baseModelNameOrPath;

    /** This builder as its concrete type. */
    protected abstract B self();

    /** The whole target spec. */
    public B targets(TargetSpec spec) {
        this.targets = spec;
        return self();
    }

    /** target_modules as a list: each name matches a module path exactly or as a suffix after a '.'. */
    public B targetModules(String... names) {
        return targets(targets.withTargets(new TargetSpec.Listed(List.of(names))));
    }

    /** target_modules as a regular expression that must match the whole module path. */
    public B targetModulesRegex(String regex) {
        return targets(targets.withTargets(new TargetSpec.Regex(regex)));
    }

    /** exclude_modules as a list of names. */
    public B excludeModules(String... names) {
        return targets(targets.withExclude(new TargetSpec.Listed(List.of(names))));
    }

    /** exclude_modules as a regular expression. */
    public B excludeModulesRegex(String regex) {
        return targets(targets.withExclude(new TargetSpec.Regex(regex)));
    }

    /** layers_to_transform (and optionally layers_pattern). */
    public B layersToTransform(List<Integer> layers, String... layersPattern) {
        return targets(targets.withLayers(layers, layersPattern.length == 0 ? null : List.of(layersPattern)));
    }

    /** Modules trained in full next to the adapter. */
    public B modulesToSave(String... names) {
        return modulesToSave(List.of(names));
    }

    /** Modules trained in full next to the adapter. */
    public B modulesToSave(List<String> names) {
        this.modulesToSave = names;
        return self();
    }

    /** HF's task_type. */
    public B taskType(TaskType type) {
        this.taskType = type;
        return self();
    }

    /** HF's base_model_name_or_path. */
    public B baseModelNameOrPath(String name) {
        this.baseModelNameOrPath = name;
        return self();
    }

    /** Copies the shared fields of {@code config} into this builder. */
    public B from(PeftConfig config) {
        this.targets = config.targets();
        this.modulesToSave = config.modulesToSave();
        this.taskType = config.taskType();
        this.baseModelNameOrPath = config.baseModelNameOrPath();
        return self();
    }
}
