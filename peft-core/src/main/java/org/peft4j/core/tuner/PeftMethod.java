package org.peft4j.core.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.nn.Module;
import org.peft4j.core.train.TrainingHook;

/**
 * One PEFT method: which modules it can adapt and how it wraps them (HF PEFT's {@code BaseTuner}
 * subclass plus its registration). A method is registered by one line in
 * {@code META-INF/services/org.peft4j.core.tuner.PeftMethod}; {@link PeftMethods} finds it there.
 *
 * @param <C> the method's config type
 */
public interface PeftMethod<C extends PeftConfig> {
    /** A stable lower-case id, e.g. {@code "lora"}: the owner of the params the method creates. */
    String id();

    /** HF PEFT's {@code peft_type} of this method, e.g. {@code "LORA"}. */
    String peftType();

    /** The config class this method takes. */
    Class<C> configType();

    /** Parses an {@code adapter_config.json}; unknown keys are ignored with one warning that lists them. */
    C configFromHfJson(JsonNode json);

    /** The modules this method adapts by default in an architecture of {@code modelType}, if it has a default. */
    default Optional<List<String>> defaultTargets(String modelType) {
        return ArchitectureDefaults.attentionTargets(modelType);
    }

    /**
     * The modules this method adapts by default in {@code root}, a model of {@code modelType}, when a config
     * leaves target_modules unset; by default {@link #defaultTargets(String)}. A method whose default depends
     * on what the model holds (every module with a bias, say) looks at the tree here.
     */
    default Optional<List<String>> defaultTargets(String modelType, Module root) {
        return defaultTargets(modelType);
    }

    /**
     * Params of the base model that an adapter of {@code config} trains besides its own (LayerNorms, say), as
     * paths in {@code root} before the adapter wraps anything; none by default. They train while the adapter is
     * active and trainable, and are saved with it under their own paths, as trained biases are; disabling or
     * removing the adapter does not revert their values.
     */
    default List<String> trainedBaseParams(C config, Module root) {
        return List.of();
    }

    /** True if this method can wrap {@code module} (or add an adapter to it, if it is one of its own wrappers). */
    boolean supports(Module module);

    /** The module types {@link #supports} accepts, for error messages ("Linear, Embedding"). */
    String supportedTypes();

    /**
     * Fails if adapter {@code config} cannot be added to {@code target} at {@code path}; runs for every
     * target before any module changes, so {@link #inject} should not fail afterwards. By default accepts all.
     */
    default void check(String path, Module target, C config) {
    }

    /**
     * Adds adapter {@code adapterName} to the module at {@code path}: returns a new wrapper holding it, or
     * {@code target} itself if it already is this method's wrapper and took the adapter. The new adapter is
     * not active. Only called for modules {@link #supports} accepts.
     */
    TunerLayer inject(String path, Module target, String adapterName, C config, SplittableRandom rng);

    /**
     * The config as it should be saved once it has been applied to {@code targeted} (path → wrapper),
     * e.g. with values derived from the wrapped layers filled in; by default the config itself.
     */
    default C appliedConfig(C config, Map<String, TunerLayer> targeted) {
        return config;
    }

    /**
     * What the trainer should run besides the task's loss while adapter {@code adapterName} trains (a loss term
     * of the method's own, work around each optimizer update); asked at the start of every training run for
     * each adapter that trains. {@code layers} are the wrappers holding the adapter, by path;
     * {@code configUpdate} replaces the config the adapter reports and saves from then on (e.g. with values
     * the training fixed). By default nothing.
     */
    default TrainingHook trainingHook(String adapterName, C config, Map<String, TunerLayer> layers, Consumer<C> configUpdate) {
        return TrainingHook.NONE;
    }

    /**
     * True for a method that adapts the model as a whole at its input (virtual tokens, past keys/values)
     * instead of wrapping target modules: {@link PeftModel} then matches no targets, asks {@link #createHook}
     * for each adapter and never calls {@link #inject}.
     */
    default boolean adaptsInput() {
        return false;
    }

    /**
     * Builds adapter {@code adapterName}'s hook for {@code base}; only called when {@link #adaptsInput()} is
     * true. The hook is not active yet.
     */
    default ModelHook createHook(PretrainedModel base, String adapterName, C config, SplittableRandom rng) {
        throw new UnsupportedOperationException("method " + id() + " wraps target modules; it has no input hook");
    }

    /** Casts a config to this method's type, failing with both types named. */
    default C cast(PeftConfig config) {
        if (!configType().isInstance(config)) {
            throw new IllegalArgumentException("method " + id() + " takes a " + configType().getSimpleName() + ", got a "
                    + config.getClass().getSimpleName());
        }
        return configType().cast(config);
    }
}
