package org.peft4j.lora;

import java.util.List;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TaskType;

/**
 * The builder settings LoRA and AdaLoRA configs share: scaling numerator, dropout, which modules to
 * adapt or save, the weight layout and HF's bookkeeping fields. Setters are named after HF's fields and
 * return the concrete builder, so calls chain with the method's own settings. Defaults as HF PEFT:
 * lora_alpha 8, lora_dropout 0, the architecture's default targets.
 *
 * @param <B> the concrete builder
 */
public abstract class LoraFamilyBuilder<B extends LoraFamilyBuilder<B>> {
    protected double loraAlpha = 8;
    protected double loraDropout = 0.0;
    protected TargetSpec targets = TargetSpec.architectureDefault();
    protected List<String> modulesToSave = List.of();
    protected Boolean fanInFanOut;
    protected TaskType taskType;
    protected String baseModelNameOrPath;

    protected LoraFamilyBuilder() {
    }

    /** This builder, typed as the concrete one. */
    protected abstract B self();

    /** The scaling numerator. */
    public B loraAlpha(double alpha) {
        this.loraAlpha = alpha;
        return self();
    }

    /** Dropout on the adapter's input during training. */
    public B loraDropout(double p) {
        this.loraDropout = p;
        return self();
    }

    /** The whole target spec. */
    public B targets(TargetSpec spec) {
        this.targets = spec;
        return self();
    }

    /** target_modules as a list: each name matches a module path exactly or as a suffix after a '.'. */
    public B targetModules(String... names) {
        this.targets = targets.withTargets(new TargetSpec.Listed(List.of(names)));
        return self();
    }

    /** target_modules as a regular expression that must match the whole module path. */
    public B targetModulesRegex(String regex) {
        this.targets = targets.withTargets(new TargetSpec.Regex(regex));
        return self();
    }

    /** target_modules "all-linear": every Linear except the output head. */
    public B allLinear() {
        return targetModulesRegex(TargetSpec.ALL_LINEAR);
    }

    /** exclude_modules as a list of names. */
    public B excludeModules(String... names) {
        this.targets = targets.withExclude(new TargetSpec.Listed(List.of(names)));
        return self();
    }

    /** exclude_modules as a regular expression. */
    public B excludeModulesRegex(String regex) {
        this.targets = targets.withExclude(new TargetSpec.Regex(regex));
        return self();
    }

    /** layers_to_transform (and optionally layers_pattern). */
    public B layersToTransform(List<Integer> layers, String... layersPattern) {
        this.targets = targets.withLayers(layers, layersPattern.length == 0 ? null : List.of(layersPattern));
        return self();
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

    /** Whether wrapped weights are stored [in, out]; null derives it from each layer. */
    public B fanInFanOut(Boolean value) {
        this.fanInFanOut = value;
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
}
