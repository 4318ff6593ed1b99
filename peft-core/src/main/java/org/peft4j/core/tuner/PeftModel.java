package org.peft4j.core.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.nn.EmbeddingLayer;
import org.peft4j.core.nn.InputHooks;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.LinearLike;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.param.ParamRegistry.NamedParam;
import org.peft4j.core.train.TrainableTask;
import org.peft4j.core.train.TrainingHook;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A pretrained model with PEFT adapters in it (HF PEFT's {@code PeftModel} and {@code BaseTuner}): the
 * base model's own module tree, in which the targeted modules have been replaced by the method's
 * wrappers ({@link TunerLayer}) and modules_to_save by {@link ModulesToSave} wrappers. Every base param
 * is frozen; the params of the active adapters are trainable. The base model is used as before: its
 * forward runs through the wrappers, and the existing {@code Trainer} trains it (see {@link #trainableTask}).
 *
 * <pre>{@code
 * try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2)
 *         .adapter("default", LoraConfig.builder().r(8).loraAlpha(16).targetModules("c_attn").build())
 *         .seed(42).build()) {
 *     peft.printTrainableParameters();
 *     new Trainer(config).fit(peft.trainableTask(new CausalLmTask(gpt2)), batches, null);
 *     peft.save(dir);
 * }
 * }</pre>
 *
 * <p>Lifecycle: {@link #close()} takes the wrappers out again and frees the adapter params;
 * {@link #mergeAndUnload()} instead leaves the base model with the active adapters merged into its
 * weights. After either, this object only answers {@link #close()}.
 *
 * @param <M> the base model's type
 */
public final class PeftModel<M extends PretrainedModel> implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PeftModel.class);

    private final M base;
    private final PeftMethods methods;
    private final SplittableRandom rng;
    private final String baseModelName;
    private final Map<String, Adapter> adapters = new LinkedHashMap<>();
    /** Every base param an adapter has trained besides biases (PeftMethod.trainedBaseParams); refresh() freezes those no adapter trains. */
    private final Set<Param> claimedBaseParams = Collections.newSetFromMap(new IdentityHashMap<>());
    private List<String> active = List.of();
    private boolean enabled = true;
    private State state = State.ATTACHED;

    private enum State { ATTACHED, UNLOADED, CLOSED }

    /**
     * One adapter: its method, its config as applied, the modules it wraps and copies, whether it trains, its
     * input hook (null for methods that wrap modules) and the base params it trains besides its own.
     */
    private record Adapter(PeftMethod<?> method, PeftConfig config, List<String> targeted, List<String> copied, boolean trainable,
            ModelHook hook, List<Param> baseParams) {
    }

    /** A scope that undoes a temporary change on close. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** What loading an adapter file found: expected tensors it lacked, and tensors that matched nothing. */
    public record LoadReport(List<String> missing, List<String> unexpected) {
        public LoadReport {
            missing = List.copyOf(missing);
            unexpected = List.copyOf(unexpected);
        }

        /** True if the file matched the model exactly. */
        public boolean isExact() {
            return missing.isEmpty() && unexpected.isEmpty();
        }
    }

    private PeftModel(M base, PeftMethods methods, long seed, String baseModelName) {
        this.base = Objects.requireNonNull(base, "base model");
        this.methods = methods;
        this.rng = new SplittableRandom(seed);
        this.baseModelName = baseModelName;
        registry().all().forEach(np -> {
            if (Param.BASE_OWNER.equals(np.param().owner())) {
                np.param().setTrainable(false);
            }
        });
    }

    /** A builder over {@code base}, whose params are frozen when the model is built. */
    public static <M extends PretrainedModel> Builder<M> builder(M base) {
        return new Builder<>(base);
    }

    /**
     * Builds a {@link PeftModel}. Defaults: seed 42, the methods registered on the class path, no base
     * model name. The first adapter added is the active one.
     *
     * @param <M> the base model's type
     */
    public static final class Builder<M extends PretrainedModel> {
        private final M base;
        private final Map<String, PeftConfig> adapters = new LinkedHashMap<>();
        private long seed = 42;
        private PeftMethods methods;
        private String baseModelName;
        private final List<java.util.function.Consumer<? super M>> baseTransforms = new ArrayList<>();

        private Builder(M base) {
            this.base = Objects.requireNonNull(base, "base model");
        }

        /** Adds adapter {@code name} with {@code config}; adapters are added in this order. */
        public Builder<M> adapter(String name, PeftConfig config) {
            if (adapters.putIfAbsent(name, Objects.requireNonNull(config, "config")) != null) {
                throw new IllegalArgumentException("adapter '" + name + "' is given twice");
            }
            return this;
        }

        /** The seed of the adapters' initial values. */
        public Builder<M> seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** The registry of methods to use instead of the class path's. */
        public Builder<M> methods(PeftMethods methods) {
            this.methods = Objects.requireNonNull(methods, "methods");
            return this;
        }

        /** HF's {@code base_model_name_or_path}, written to adapter_config.json when a config has none. */
        public Builder<M> baseModelName(String name) {
            this.baseModelName = name;
            return this;
        }

        /**
         * Changes the base model in place before any adapter is added, in the order given: e.g. QLoRA's quantization
         * of the frozen weights ({@code transformBase(Quantization.qlora()::apply)} with peft-quant).
         */
        public Builder<M> transformBase(java.util.function.Consumer<? super M> transform) {
            baseTransforms.add(Objects.requireNonNull(transform, "transform"));
            return this;
        }

        /**
         * Applies the base transforms, then wraps the base model's modules; fails, leaving the base model as the
         * transforms made it, if an adapter cannot be applied.
         */
        public PeftModel<M> build() {
            if (adapters.isEmpty()) {
                throw new IllegalStateException("a PeftModel needs at least one adapter: call adapter(\"default\", config)");
            }
            baseTransforms.forEach(t -> t.accept(base));
            PeftModel<M> model = new PeftModel<>(base, methods == null ? PeftMethods.load() : methods, seed, baseModelName);
            try {
                adapters.forEach(model::addAdapter);
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
            model.setActiveAdapter(adapters.keySet().iterator().next());
            return model;
        }
    }

    /** Loads the adapter in {@code dir} (HF PEFT's layout) onto {@code base} as "default", frozen, and makes it active. */
    public static <M extends PretrainedModel> PeftModel<M> load(M base, Path dir) {
        return load(base, dir, AdapterFiles.DEFAULT_ADAPTER, false);
    }

    /**
     * Loads the adapter in {@code dir} onto {@code base} under {@code name} and makes it active; with
     * {@code trainable} its params train, otherwise they are frozen (HF's {@code is_trainable}). Fails if
     * the file lacks a tensor the adapter needs or holds one that matches nothing.
     */
    public static <M extends PretrainedModel> PeftModel<M> load(M base, Path dir, String name, boolean trainable) {
        PeftModel<M> model = new PeftModel<>(base, PeftMethods.load(), 42, null);
        try {
            model.loadAdapter(dir, name, trainable, true);
            model.setActiveAdapter(name);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return model;
    }

    // ------------------------------------------------------------------------------------------------
    // adapters

    /** Adds a trainable adapter; it is not active until {@link #setActiveAdapter} names it. */
    public void addAdapter(String name, PeftConfig config) {
        addAdapter(name, config, true);
    }

    /**
     * Adds adapter {@code name}: matches the config's targets in the model, wraps them (or adds the adapter to
     * existing wrappers) and copies its modules_to_save. Every check runs before the model is changed, so a
     * rejected adapter leaves no trace. The adapter is not active; with {@code trainable} false it stays frozen.
     */
    public void addAdapter(String name, PeftConfig config, boolean trainable) {
        checkAttached();
        checkNewName(name);
        PeftMethod<?> method = methods.forConfig(config);
        for (Map.Entry<String, Adapter> e : adapters.entrySet()) {
            if (e.getValue().method() != method) {
                throw new IllegalArgumentException("adapter '" + name + "' uses " + method.id() + " but adapter '" + e.getKey()
                        + "' uses " + e.getValue().method().id() + "; one PeftModel holds adapters of one method");
            }
            if (config.bias() != BiasTraining.NONE && e.getValue().config().bias() != BiasTraining.NONE) {
                throw new IllegalArgumentException("adapter '" + name + "' trains biases (bias " + config.bias() + ") but adapter '" + e.getKey()
                        + "' already does; only one adapter per model may set bias, the others need bias \"none\"");
            }
        }
        add(method, name, config, trainable);
    }

    private <C extends PeftConfig> void add(PeftMethod<C> method, String name, PeftConfig given, boolean trainable) {
        C config = method.cast(resolveConfig(method, method.cast(given)));
        Module root = base.module();
        if (method.adaptsInput()) {
            addHook(method, name, config, trainable);
            return;
        }
        List<String> targeted = matchTargets(name, config, root);
        List<String> copied = matchModulesToSave(name, config, root);
        for (String path : targeted) {
            checkWrappable(method, path, ModuleTree.get(root, path), root, config);
        }
        for (String path : copied) {
            checkCopyable(path, ModuleTree.get(root, path), root);
        }
        List<Param> baseParams = trainedBaseParams(method, name, config, root);
        // every check passed: change the model, undoing the changes if a wrapper still fails
        SplittableRandom adapterRng = rng.split();
        Map<String, TunerLayer> layers = new LinkedHashMap<>();
        Map<String, Module> replaced = new LinkedHashMap<>();
        try {
            for (String path : targeted) {
                Module target = ModuleTree.get(root, path);
                TunerLayer layer = method.inject(path, target, name, config, adapterRng);
                if (layer.asModule() != target) {
                    ModuleTree.replace(root, path, old -> layer.asModule());
                    replaced.put(path, target);
                }
                layers.put(path, layer);
            }
            copyModules(method, name, copied, replaced);
        } catch (RuntimeException e) {
            rollBack(name, replaced);
            throw e;
        }
        C applied = method.appliedConfig(config, layers);
        adapters.put(name, new Adapter(method, applied, List.copyOf(targeted), List.copyOf(copied), trainable, null, baseParams));
        claimedBaseParams.addAll(baseParams);
        refresh();
    }

    /** Wraps each module of {@code copied} in (or adds adapter {@code name} to) its modules_to_save wrapper. */
    private void copyModules(PeftMethod<?> method, String name, List<String> copied, Map<String, Module> replaced) {
        Module root = base.module();
        for (String path : copied) {
            Module target = ModuleTree.get(root, path);
            Module wrapper = target instanceof ModulesToSave ? target : ModulesToSave.wrap(path, target);
            if (wrapper != target) {
                ModuleTree.replace(root, path, old -> wrapper);
                replaced.put(path, target);
            }
            ((ModulesToSave) wrapper).addAdapter(name, method.id());
        }
    }

    /** Adds an adapter of a method that adapts the model's input: its hook goes into the model's input hooks. */
    private <C extends PeftConfig> void addHook(PeftMethod<C> method, String name, C config, boolean trainable) {
        Module root = base.module();
        InputHooks hooks = inputHooks(method);
        List<String> copied = matchModulesToSave(name, config, root);
        for (String path : copied) {
            checkCopyable(path, ModuleTree.get(root, path), root);
        }
        ModelHook hook = method.createHook(base, name, config, rng.split());
        Map<String, Module> replaced = new LinkedHashMap<>();
        boolean attached = false;
        try {
            hooks.add(hookName(name), hook);
            attached = true;
            copyModules(method, name, copied, replaced);
        } catch (RuntimeException e) {
            if (attached) {
                hooks.remove(hookName(name));
            }
            rollBack(name, replaced);
            new ParamRegistry(hook).all().forEach(np -> np.param().close());
            throw e;
        }
        adapters.put(name, new Adapter(method, method.cast(hook.config()), List.of(), List.copyOf(copied), trainable, hook, List.of()));
        refresh();
    }

    private InputHooks inputHooks(PeftMethod<?> method) {
        return base.inputHooks().orElseThrow(() -> new IllegalArgumentException("method " + method.id()
                + " adapts the model's input (virtual tokens or past keys/values), but " + base.module().describe()
                + " takes no input hooks; use a GPT-2, LLaMA-style or BERT model"));
    }

    /** The name under which adapter {@code name}'s hook joins the model's tree. */
    static String hookName(String adapter) {
        return "input_hook_" + adapter;
    }

    /** Detaches adapter {@code a}'s hook from the model and frees its params. */
    private void dropHook(String name, Adapter a) {
        inputHooks(a.method()).remove(hookName(name));
        new ParamRegistry(a.hook()).all().forEach(np -> np.param().close());
    }

    /** The base params {@code config} trains besides its own (by the method); fails if another adapter trains one of them already. */
    private <C extends PeftConfig> List<Param> trainedBaseParams(PeftMethod<C> method, String name, PeftConfig config, Module root) {
        ParamRegistry registry = new ParamRegistry(root);
        List<Param> out = new ArrayList<>();
        for (String path : method.trainedBaseParams(method.cast(config), root)) {
            Param p = registry.get(path);
            for (Map.Entry<String, Adapter> e : adapters.entrySet()) {
                if (e.getValue().baseParams().contains(p)) {
                    throw new IllegalArgumentException("adapter '" + name + "' trains base param '" + path + "', which adapter '" + e.getKey()
                            + "' trains already; only one adapter per model may train a base param");
                }
            }
            out.add(p);
        }
        return List.copyOf(out);
    }

    /** Takes adapter {@code name} out of every wrapper again and puts back the modules it replaced. */
    private void rollBack(String name, Map<String, Module> replaced) {
        Module root = base.module();
        tunerLayers().values().stream().filter(l -> l.adapterNames().contains(name)).forEach(l -> l.deleteAdapter(name));
        modulesToSave().values().stream().filter(w -> w.adapterNames().contains(name)).forEach(w -> w.deleteAdapter(name));
        replaced.forEach((path, original) -> ModuleTree.replace(root, path, old -> original));
    }

    /** Fills in what the config leaves to the model: default targets, classifier heads, the expansion of all-linear. */
    private PeftConfig resolveConfig(PeftMethod<?> method, PeftConfig config) {
        TargetSpec spec = config.targets();
        if (spec.targets() == null && !method.adaptsInput()) {
            List<String> linear = allLinear(base.module(), config);
            List<String> defaults = method.defaultTargets(base.modelType(), base.module()).orElseThrow(() -> new IllegalArgumentException(
                    "target_modules is not set and " + method.id() + " has no default for model_type '" + base.modelType()
                            + "'; set target_modules (defaults exist for " + new TreeSet<>(ArchitectureDefaults.ATTENTION_TARGETS.keySet())
                            + "); Linear modules of this model: " + modulePatterns(linear)));
            config = config.withTargets(spec.withTargets(new TargetSpec.Listed(defaults)));
        }
        if (config.taskType() != null && config.taskType().trainsClassifierHead()) {
            List<String> modules = new ArrayList<>(config.modulesToSave());
            ArchitectureDefaults.CLASSIFIER_HEADS.stream().filter(h -> !modules.contains(h)).forEach(modules::add);
            config = config.withModulesToSave(modules);
        }
        if (!method.adaptsInput() && config.targets().isAllLinear()) {
            List<String> linear = allLinear(base.module(), config);
            if (linear.isEmpty()) {
                throw new IllegalArgumentException("target_modules \"all-linear\" found no Linear module outside the output head "
                        + ArchitectureDefaults.OUTPUT_HEADS + " and modules_to_save " + config.modulesToSave());
            }
            config = config.withTargets(config.targets().withTargets(new TargetSpec.Listed(linear)));
        }
        if (config.baseModelNameOrPath() == null && baseModelName != null) {
            config = config.withBaseModelNameOrPath(baseModelName);
        }
        return config;
    }

    /** Paths of every Linear (wrapped or not) outside the output head and the modules to save, in tree order (HF's all-linear). */
    private static List<String> allLinear(Module root, PeftConfig config) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, Module> e : visibleModules(root).entrySet()) {
            Module m = e.getValue();
            boolean linear = m instanceof LinearLike || (m instanceof TunerLayer t && t.baseLayer() instanceof LinearLike);
            String path = e.getKey();
            if (linear && !ArchitectureDefaults.OUTPUT_HEADS.contains(path)
                    && !config.targets().withExclude(null).excludes(path, config.modulesToSave())) {   // exclude_modules applies when matching
                out.add(path);
            }
        }
        return out;
    }

    /** Every module by path except the root and the insides of wrappers (which no adapter may target). */
    private static Map<String, Module> visibleModules(Module root) {
        Map<String, Module> out = new LinkedHashMap<>();
        List<String> wrappers = new ArrayList<>();
        for (Map.Entry<String, Module> e : ModuleTree.modules(root).entrySet()) {
            String path = e.getKey();
            if (path.isEmpty() || wrappers.stream().anyMatch(w -> path.startsWith(w + "."))) {
                continue;
            }
            if (e.getValue() instanceof TunerLayer || e.getValue() instanceof ModulesToSave) {
                wrappers.add(path);
            }
            out.put(path, e.getValue());
        }
        return out;
    }

    private List<String> matchTargets(String name, PeftConfig config, Module root) {
        TargetSpec spec = config.targets();
        List<String> targeted = new ArrayList<>();
        List<String> excluded = new ArrayList<>();
        List<String> unmatched = new ArrayList<>();
        for (Map.Entry<String, Module> e : visibleModules(root).entrySet()) {
            String path = e.getKey();
            if (e.getValue() instanceof ModulesToSave) {
                unmatched.add(path);
                continue;
            }
            switch (spec.match(path, config.modulesToSave())) {
                case TARGETED -> targeted.add(path);
                case EXCLUDED -> excluded.add(path);
                default -> unmatched.add(path);
            }
        }
        if (targeted.isEmpty()) {
            String layers = spec.layersToTransform() == null ? ""
                    : " with layers_to_transform " + spec.layersToTransform() + (spec.layersPattern() == null ? "" : " and layers_pattern " + spec.layersPattern());
            if (!excluded.isEmpty() && unmatched.isEmpty()) {
                throw new IllegalArgumentException("adapter '" + name + "': all modules were excluded by exclude_modules or modules_to_save: "
                        + modulePatterns(excluded) + "; check target_modules, exclude_modules and modules_to_save");
            }
            String modules = "; modules of this " + base.modelType() + " model: " + modulePatterns(new ArrayList<>(visibleModules(root).keySet()));
            String besides = excluded.isEmpty() ? "" : " besides those that exclude_modules or modules_to_save exclude (" + modulePatterns(excluded) + ")";
            throw new IllegalArgumentException("adapter '" + name + "': target_modules " + describe(spec.targets()) + layers
                    + " matched no module" + besides + modules);
        }
        if (spec.exclude() != null && excluded.isEmpty()) {
            LOG.warn("adapter '{}': exclude_modules {} excluded no module", name, describe(spec.exclude()));
        }
        return targeted;
    }

    private List<String> matchModulesToSave(String name, PeftConfig config, Module root) {
        List<String> out = new ArrayList<>();
        for (String m : config.modulesToSave()) {
            if (m.equals(name)) {
                throw new IllegalArgumentException("modules_to_save names '" + m + "', which is also the adapter's name; rename the adapter");
            }
        }
        for (Map.Entry<String, Module> e : visibleModules(root).entrySet()) {
            String path = e.getKey();
            if (config.modulesToSave().stream().anyMatch(m -> path.equals(m) || path.endsWith("." + m))) {
                out.add(path);
            }
        }
        return out;
    }

    private static void checkWrappable(PeftMethod<?> method, String path, Module target, Module root, PeftConfig config) {
        if (target instanceof TunerLayer t && !t.methodId().equals(method.id())) {
            throw new IllegalArgumentException("'" + path + "' is already wrapped by " + t.methodId() + "; cannot add a " + method.id() + " adapter to it");
        }
        if (!method.supports(target)) {
            throw new IllegalArgumentException("cannot adapt '" + path + "' (" + target.getClass().getSimpleName() + ") with " + method.id()
                    + "; supported: " + method.supportedTypes() + ". Narrow target_modules to such modules");
        }
        if (!(target instanceof TunerLayer)) {
            checkSlot(path, target, root, method.id());
        }
        checkTarget(method, path, target, config);
    }

    private static <C extends PeftConfig> void checkTarget(PeftMethod<C> method, String path, Module target, PeftConfig config) {
        method.check(path, target, method.cast(config));
    }

    private static void checkCopyable(String path, Module target, Module root) {
        if (!(target instanceof ModulesToSave)) {
            ModulesToSave.checkCopyable(path, target);
            checkSlot(path, target, root, "modules_to_save");
        }
    }

    /** Fails unless the parent's slot at {@code path} takes a wrapper of the same kind (a Layer for a Layer, ...). */
    private static void checkSlot(String path, Module target, Module root, String what) {
        int dot = path.lastIndexOf('.');
        Module parent = ModuleTree.get(root, dot < 0 ? "" : path.substring(0, dot));
        Class<? extends Module> slot = parent.childType(path.substring(dot + 1));
        Class<?> kind = target instanceof Layer ? Layer.class
                : target instanceof EmbeddingLayer ? EmbeddingLayer.class : target.getClass();
        if (!slot.isAssignableFrom(kind)) {
            throw new IllegalArgumentException("cannot wrap '" + path + "' for " + what + ": " + parent.getClass().getSimpleName()
                    + " holds it in a slot of type " + slot.getSimpleName() + ", which takes no wrapper; the slot must be typed "
                    + kind.getSimpleName());
        }
    }

    private void checkNewName(String name) {
        if (name == null || name.isEmpty() || name.contains(".") || TunerLayer.BASE.equals(name)) {
            throw new IllegalArgumentException("adapter names must be non-empty, without '.', and not \"" + TunerLayer.BASE + "\"; got '" + name + "'");
        }
        if (adapters.containsKey(name)) {
            throw new IllegalArgumentException("adapter '" + name + "' already exists; adapters: " + adapters.keySet());
        }
    }

    /** Makes adapter {@code name} the only active one. */
    public void setActiveAdapter(String name) {
        setActiveAdapters(List.of(name));
    }

    /**
     * Makes the named adapters active: their outputs add up in every layer that holds them. Merged adapters
     * are unmerged first. At most one of them may have a copy of any one module to save.
     */
    public void setActiveAdapters(List<String> names) {
        checkAttached();
        for (String n : names) {
            if (requireAdapter(n).hook() != null && names.size() > 1) {
                throw new IllegalArgumentException("adapter '" + n + "' adapts the model's input (" + requireAdapter(n).method().id()
                        + "); only one such adapter can be active at a time, got " + names);
            }
        }
        for (Map.Entry<String, ModulesToSave> e : modulesToSave().entrySet()) {
            List<String> withCopy = names.stream().filter(e.getValue().adapterNames()::contains).toList();
            if (withCopy.size() > 1) {
                throw new IllegalArgumentException("adapters " + withCopy + " each have a copy of '" + e.getKey()
                        + "' (modules_to_save); only one adapter with a copy of a module can be active at a time");
            }
        }
        if (isMerged()) {
            LOG.warn("setting active adapters on a merged model: unmerging first");
            unmerge();
        }
        this.active = List.copyOf(new LinkedHashSet<>(names));
        refresh();
    }

    /** The active adapters. */
    public List<String> activeAdapters() {
        return active;
    }

    /** The names of all adapters, in the order they were added. */
    public List<String> adapterNames() {
        return List.copyOf(adapters.keySet());
    }

    /** The config of adapter {@code name} as applied (defaults and all-linear resolved), as it is saved. */
    public PeftConfig config(String name) {
        return requireAdapter(name).config();
    }

    /** The paths of the modules adapter {@code name} wraps, in model order. */
    public List<String> targetedModules(String name) {
        return requireAdapter(name).targeted();
    }

    /**
     * Deletes adapter {@code name} from every layer and frees its params. If it was active, the other active
     * adapters stay active, or else the first remaining adapter by name becomes active. Fails for a merged adapter.
     */
    public void deleteAdapter(String name) {
        checkAttached();
        requireAdapter(name);
        List<String> merged = new ArrayList<>();
        tunerLayers().values().forEach(l -> merged.addAll(l.mergedAdapters()));
        if (merged.contains(name)) {
            throw new IllegalStateException("cannot delete adapter '" + name + "' while it is merged; call unmerge() first");
        }
        for (TunerLayer layer : tunerLayers().values()) {
            if (layer.adapterNames().contains(name)) {
                layer.deleteAdapter(name);
            }
        }
        for (ModulesToSave wrapper : modulesToSave().values()) {
            if (wrapper.adapterNames().contains(name)) {
                wrapper.deleteAdapter(name);
            }
        }
        Adapter removed = adapters.remove(name);
        if (removed.hook() != null) {
            dropHook(name, removed);
        }
        if (active.contains(name)) {
            List<String> rest = new ArrayList<>(active);
            rest.remove(name);
            if (rest.isEmpty() && !adapters.isEmpty()) {
                rest.add(new TreeSet<>(adapters.keySet()).first());
                LOG.warn("adapter '{}' was active and is deleted; '{}' is active now", name, rest.get(0));
            }
            active = List.copyOf(rest);
        }
        refresh();
    }

    /** Turns all adapters off (the model computes the base model) or on again. */
    public void setAdaptersEnabled(boolean on) {
        checkAttached();
        if (!on && isMerged()) {
            unmerge();
        }
        this.enabled = on;
        refresh();
    }

    /** True unless adapters are turned off. */
    public boolean adaptersEnabled() {
        return enabled;
    }

    /**
     * Turns all adapters off until the scope is closed, then restores the previous state: inside, the
     * model computes the base model and nothing trains. Merged adapters are unmerged first.
     */
    public Scope disableAdapters() {
        boolean before = enabled;
        BiasTraining bias = adapters.values().stream().map(a -> a.config().bias()).filter(b -> b != BiasTraining.NONE).findFirst().orElse(BiasTraining.NONE);
        if (bias != BiasTraining.NONE) {
            LOG.warn("disabling adapters with bias {}: the trained biases stay in the base model", bias);
        }
        if (adapters.values().stream().anyMatch(a -> !a.baseParams().isEmpty())) {
            LOG.warn("disabling adapters that train base params (such as LayerNorms): their trained values stay in the base model");
        }
        setAdaptersEnabled(false);
        return () -> {
            if (state == State.ATTACHED) {
                setAdaptersEnabled(before);
            }
        };
    }

    /**
     * Runs one adapter per sequence in the next inference passes until the scope is closed (HF's
     * {@code adapter_names}): {@code perSequence.get(b)} names the adapter of sequence b, or
     * {@link TunerLayer#BASE} for the base model. Passes must not record for backward, and the batch size
     * must equal the number of names. The choice holds for the calling thread only, so several threads may
     * run inference on one model at the same time, each with its own adapters (see docs/reliability.md).
     */
    public Scope adapterPerSequence(List<String> perSequence) {
        checkAttached();
        List<String> unknown = perSequence.stream().filter(n -> !TunerLayer.BASE.equals(n) && !adapters.containsKey(n)).distinct().toList();
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("unknown adapters in the per-sequence names: " + unknown + "; adapters: " + adapters.keySet()
                    + " and \"" + TunerLayer.BASE + "\"");
        }
        if (isMerged()) {
            throw new IllegalStateException("cannot run one adapter per sequence while adapters are merged; call unmerge() first");
        }
        for (String n : perSequence) {
            if (adapters.containsKey(n) && adapters.get(n).hook() != null) {
                throw new IllegalArgumentException("adapter '" + n + "' adapts the model's input (" + adapters.get(n).method().id()
                        + ") and cannot be used per sequence");
            }
        }
        for (TunerLayer layer : tunerLayers().values()) {
            for (String n : perSequence) {
                if (layer.excludedFromMixedBatches(n)) {
                    throw new IllegalArgumentException("adapter '" + n + "' cannot be used per sequence: " + layer.mixedBatchLimitation());
                }
            }
        }
        setSequenceAdapters(List.copyOf(perSequence));
        return () -> {
            if (state == State.ATTACHED) {
                setSequenceAdapters(null);
            }
        };
    }

    private void setSequenceAdapters(List<String> names) {
        tunerLayers().values().forEach(l -> l.setSequenceAdapters(names));
        modulesToSave().values().forEach(m -> m.setSequenceAdapters(names));
    }

    // ------------------------------------------------------------------------------------------------
    // merging

    /** Merges the active adapters into the base weights (unsafe). */
    public void merge() {
        merge(active, false);
    }

    /**
     * Merges the named adapters into the base weights; forward then computes the base layers only. With
     * {@code safe}, every merged weight is first computed on a copy and checked for NaN and infinity, and a
     * failure leaves every weight unchanged.
     */
    public void merge(List<String> names, boolean safe) {
        checkAttached();
        for (String n : names) {
            if (requireAdapter(n).hook() != null) {
                throw new IllegalStateException("adapter '" + n + "' adapts the model's input (" + requireAdapter(n).method().id()
                        + ") and has no weight update to merge; keep the PeftModel, or unload() to get the base model back");
            }
        }
        Map<String, TunerLayer> layers = tunerLayers();
        boolean all = layers.values().stream().allMatch(l -> l.mergedAdapters().containsAll(
                names.stream().filter(l.adapterNames()::contains).toList()));
        if (all && isMerged()) {
            LOG.warn("all adapters {} are already merged, nothing to do", names);
            return;
        }
        if (safe) {
            layers.values().forEach(l -> l.checkMerge(names));
        }
        layers.values().forEach(l -> l.merge(names, false));
    }

    /** Subtracts every merged adapter from the base weights again. */
    public void unmerge() {
        checkAttached();
        tunerLayers().values().forEach(TunerLayer::unmerge);
    }

    /** True if any layer has a merged adapter. */
    public boolean isMerged() {
        return tunerLayers().values().stream().anyMatch(l -> !l.mergedAdapters().isEmpty());
    }

    /** {@link #mergeAndUnload(List, boolean)} of the active adapters, unsafe. */
    public M mergeAndUnload() {
        return mergeAndUnload(active, false);
    }

    /**
     * Merges the named adapters and returns the base model without any wrapper: each adapted module is
     * its base layer again (with the merged weights) and each module to save is the active adapter's copy
     * (or the original if the active adapter has none). This object is unusable afterwards.
     */
    public M mergeAndUnload(List<String> names, boolean safe) {
        merge(names, safe);
        return detach(true);
    }

    /** Returns the base model without adapters: wrappers removed, merged updates subtracted, original modules back. */
    public M unload() {
        checkAttached();
        unmerge();
        return detach(false);
    }

    private M detach(boolean keepCopies) {
        Module root = base.module();
        List<Module> dropped = new ArrayList<>();
        for (Map.Entry<String, TunerLayer> e : tunerLayers().entrySet()) {
            Module baseLayer = e.getValue().baseLayer();
            ModuleTree.replace(root, e.getKey(), old -> baseLayer);
            dropped.add(e.getValue().asModule());
        }
        for (Map.Entry<String, ModulesToSave> e : modulesToSave().entrySet()) {
            Module keep = keepCopies ? e.getValue().current() : e.getValue().originalModule();
            ModuleTree.replace(root, e.getKey(), old -> keep);
            for (String a : e.getValue().adapterNames()) {
                if (e.getValue().copyOf(a) != keep) {
                    new ParamRegistry(e.getValue().copyOf(a)).all().forEach(np -> np.param().close());
                }
            }
        }
        for (Module wrapper : dropped) {
            TunerLayer layer = (TunerLayer) wrapper;
            for (String a : List.copyOf(layer.adapterNames())) {
                layer.adapterParams(a).values().forEach(Param::close);
            }
        }
        adapters.forEach((name, a) -> {
            if (a.hook() != null) {
                dropHook(name, a);
            }
        });
        registry().all().forEach(np -> np.param().setTrainable(false));
        adapters.clear();
        active = List.of();
        state = State.UNLOADED;
        return base;
    }

    // ------------------------------------------------------------------------------------------------
    // trainability

    /** Makes exactly the params of active, enabled, trainable adapters trainable (and their biases, per config). */
    private void refresh() {
        Map<String, TunerLayer> layers = tunerLayers();
        for (TunerLayer layer : layers.values()) {
            layer.setActiveAdapters(active);
            layer.setEnabled(enabled);
            for (String a : layer.adapterNames()) {
                boolean train = trains(a);
                layer.adapterParams(a).values().forEach(p -> p.setTrainable(train));
            }
        }
        for (ModulesToSave wrapper : modulesToSave().values()) {
            String copy = active.stream().filter(wrapper.adapterNames()::contains).findFirst().orElse(null);
            wrapper.setActiveAdapter(copy);
            wrapper.setEnabled(enabled);
            for (String a : wrapper.adapterNames()) {
                boolean train = a.equals(copy) && trains(a);
                new ParamRegistry(wrapper.copyOf(a)).all().forEach(np -> np.param().setTrainable(train));
            }
        }
        adapters.forEach((name, a) -> {
            if (a.hook() != null) {
                a.hook().setActive(enabled && active.contains(name));
                new ParamRegistry(a.hook()).all().forEach(np -> np.param().setTrainable(trains(name)));
            }
        });
        Set<Param> trained = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Map.Entry<String, Adapter> e : adapters.entrySet()) {
            if (trains(e.getKey())) {
                trained.addAll(baseParams(e.getValue()).values());
            }
        }
        for (NamedParam np : registry().all()) {
            if (Param.BASE_OWNER.equals(np.param().owner()) && (isBias(np.path()) || claimedBaseParams.contains(np.param()))) {
                np.param().setTrainable(trained.contains(np.param()));
            }
        }
    }

    private boolean trains(String adapter) {
        return enabled && active.contains(adapter) && adapters.get(adapter).trainable();
    }

    private static boolean isBias(String path) {
        return path.equals("bias") || path.endsWith(".bias");
    }

    /** The base-model params adapter {@code a} trains, by path: biases per its config's bias, and its method's trained base params. */
    private Map<String, Param> baseParams(Adapter a) {
        Map<String, Param> out = new LinkedHashMap<>();
        for (NamedParam np : registry().all()) {
            if (!Param.BASE_OWNER.equals(np.param().owner())) {
                continue;
            }
            boolean bias = a.config().bias() != BiasTraining.NONE && isBias(np.path()) && (a.config().bias() == BiasTraining.ALL
                    || a.targeted().stream().anyMatch(t -> np.path().equals(t + ".base_layer.bias")));
            if (bias || a.baseParams().contains(np.param())) {
                out.put(np.path(), np.param());
            }
        }
        return out;
    }

    /** Wraps {@code task} (whose module must be this model's base) for the Trainer: it refuses to train a merged model. */
    public <B> TrainableTask<B> trainableTask(TrainableTask<B> task) {
        if (task.module() != base.module()) {
            throw new IllegalArgumentException("the task trains " + task.module().describe() + ", not this PeftModel's base model "
                    + base.module().describe());
        }
        return new PeftTask<>(this, task);
    }

    /**
     * What the trainer runs besides the loss for the adapters that train now: each one's
     * {@link PeftMethod#trainingHook}, in adapter order. The hooks may replace an adapter's config (values
     * fixed by the training, such as a schedule length); {@link #config} and {@link #save} report the new one.
     */
    public TrainingHook trainingHook() {
        checkAttached();
        List<TrainingHook> hooks = new ArrayList<>();
        for (String name : adapters.keySet()) {
            if (trains(name)) {
                hooks.add(hookOf(adapters.get(name).method(), name));
            }
        }
        return TrainingHook.all(hooks);
    }

    private <C extends PeftConfig> TrainingHook hookOf(PeftMethod<C> method, String name) {
        Map<String, TunerLayer> layers = new LinkedHashMap<>();
        tunerLayers().forEach((path, layer) -> {
            if (layer.adapterNames().contains(name)) {
                layers.put(path, layer);
            }
        });
        return method.trainingHook(name, method.cast(adapters.get(name).config()), layers, updated -> {
            Adapter a = requireAdapter(name);
            adapters.put(name, new Adapter(a.method(), updated, a.targeted(), a.copied(), a.trainable(), a.hook(), a.baseParams()));
        });
    }

    /** The params of the model (base and adapters) by path, live. */
    public ParamRegistry registry() {
        return new ParamRegistry(base.module());
    }

    /** HF PEFT's line: {@code trainable params: … || all params: … || trainable%: …}. */
    public String trainableParametersSummary() {
        return registry().summary();
    }

    /** Prints {@link #trainableParametersSummary()} to standard output, as HF's {@code print_trainable_parameters}. */
    public void printTrainableParameters() {
        System.out.println(trainableParametersSummary());
    }

    /** The base model, with the wrappers in its tree while this model is attached. */
    public M base() {
        return base;
    }

    /** The base model's module tree. */
    public Module module() {
        return base.module();
    }

    /** Every adapter wrapper by path, in model order. */
    public Map<String, TunerLayer> tunerLayers() {
        Map<String, TunerLayer> out = new LinkedHashMap<>();
        ModuleTree.modules(base.module()).forEach((p, m) -> {
            if (m instanceof TunerLayer t) {
                out.put(p, t);
            }
        });
        return out;
    }

    /** Every modules_to_save wrapper by path, in model order. */
    public Map<String, ModulesToSave> modulesToSave() {
        Map<String, ModulesToSave> out = new LinkedHashMap<>();
        ModuleTree.modules(base.module()).forEach((p, m) -> {
            if (m instanceof ModulesToSave w) {
                out.put(p, w);
            }
        });
        return out;
    }

    // ------------------------------------------------------------------------------------------------
    // files

    /** Saves every adapter in HF PEFT's layout: "default" in {@code dir}, any other in {@code dir/<name>}. */
    public void save(Path dir) {
        save(dir, adapterNames());
    }

    /** Saves the named adapters in HF PEFT's layout. */
    public void save(Path dir, List<String> names) {
        checkAttached();
        for (String name : names) {
            Adapter a = requireAdapter(name);
            Path out = AdapterFiles.adapterDir(dir, name);
            Map<String, INDArray> tensors = new LinkedHashMap<>();
            if (a.hook() != null) {
                tensors.putAll(a.hook().stateToSave());
                copiesState(name, AdapterFiles.INPUT_KEY_PREFIX).forEach((k, p) -> tensors.put(k, p.value()));
            } else {
                adapterState(name).forEach((k, p) -> tensors.put(k, p.value()));
                tunerLayers().forEach((path, layer) -> {
                    if (layer.adapterNames().contains(name)) {
                        layer.savedTensors(name).forEach((rel, t) -> tensors.put(AdapterFiles.KEY_PREFIX + path + "." + rel, t));
                    }
                });
            }
            ObjectNode json = a.config().toHfJson();
            json.put("inference_mode", true);
            if (json.path("base_model_name_or_path").isNull() || json.path("base_model_name_or_path").isMissingNode()) {
                if (baseModelName == null) {
                    json.putNull("base_model_name_or_path");
                } else {
                    json.put("base_model_name_or_path", baseModelName);
                }
            }
            try {
                AdapterFiles.writeWeights(out, tensors);
                AdapterFiles.writeConfig(out, json);
            } catch (IOException e) {
                throw new UncheckedIOException("could not save adapter '" + name + "' to " + out, e);
            }
        }
    }

    /** The tensors adapter {@code name} saves, by HF PEFT's checkpoint keys. */
    public Map<String, Param> adapterState(String name) {
        Adapter a = requireAdapter(name);
        Map<String, Param> out = new LinkedHashMap<>();
        if (a.hook() != null) {
            out.putAll(a.hook().loadableState());
            out.putAll(copiesState(name, AdapterFiles.INPUT_KEY_PREFIX));
            return out;
        }
        for (Map.Entry<String, TunerLayer> e : tunerLayers().entrySet()) {
            if (e.getValue().adapterNames().contains(name)) {
                e.getValue().adapterParams(name).forEach((rel, p) -> out.put(AdapterFiles.KEY_PREFIX + e.getKey() + "." + rel, p));
            }
        }
        out.putAll(copiesState(name, AdapterFiles.KEY_PREFIX));
        baseParams(a).forEach((path, p) -> out.put(AdapterFiles.KEY_PREFIX + path, p));
        return out;
    }

    /** The params of adapter {@code name}'s copies of modules to save, by checkpoint key under {@code prefix}. */
    private Map<String, Param> copiesState(String name, String prefix) {
        Map<String, Param> out = new LinkedHashMap<>();
        for (Map.Entry<String, ModulesToSave> e : modulesToSave().entrySet()) {
            if (e.getValue().adapterNames().contains(name)) {
                new ParamRegistry(e.getValue().copyOf(name)).all().forEach(np -> out.put(prefix + e.getKey() + "." + np.path(), np.param()));
            }
        }
        return out;
    }

    /**
     * Adds the adapter saved in {@code dir} (HF PEFT's layout) under {@code name}, not active, and loads its
     * tensors. Shapes must match. Tensors named like a base param (biases, a saved base embedding) are loaded
     * into it. With {@code strict}, a missing or unexpected tensor fails the load and removes the adapter again.
     */
    public LoadReport loadAdapter(Path dir, String name, boolean trainable, boolean strict) {
        checkAttached();
        Path configFile = dir.resolve(AdapterFiles.CONFIG);
        ObjectNode json;
        try {
            json = AdapterFiles.readConfig(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("could not read the adapter in " + dir, e);
        }
        JsonNode type = json.get("peft_type");
        if (type == null || !type.isTextual()) {
            throw new IllegalArgumentException(configFile + " has no peft_type; it must name the method, e.g. \"LORA\"");
        }
        PeftConfig config;
        try {
            config = methods.byPeftType(type.textValue()).configFromHfJson(json);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configFile + ": " + e.getMessage(), e);
        }
        Map<String, INDArray> tensors;
        try {
            tensors = AdapterFiles.readWeights(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("could not read the adapter in " + dir, e);
        }
        try {
            addAdapter(name, config, trainable);
        } catch (IllegalArgumentException e) {
            tensors.values().forEach(INDArray::close);
            throw new IllegalArgumentException("adapter in " + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            tensors.values().forEach(INDArray::close);
            throw e;
        }
        try {
            LoadReport report = loadTensors(name, tensors, dir);
            if (!report.isExact()) {
                String message = "adapter in " + dir + " does not match the model: missing " + report.missing() + ", unexpected " + report.unexpected();
                if (strict) {
                    throw new IllegalArgumentException(message);
                }
                LOG.warn(message);
            }
            return report;
        } catch (RuntimeException e) {
            deleteAdapter(name);
            throw e;
        } finally {
            tensors.values().forEach(INDArray::close);
        }
    }

    private LoadReport loadTensors(String name, Map<String, INDArray> tensors, Path dir) {
        Map<String, Param> expected = adapterState(name);
        Map<String, Param> baseParams = new LinkedHashMap<>();
        registry().all().forEach(np -> baseParams.put(AdapterFiles.KEY_PREFIX + np.path(), np.param()));
        List<String> missing = expected.keySet().stream().filter(k -> !tensors.containsKey(k)).collect(Collectors.toList());
        List<String> unexpected = new ArrayList<>();
        for (Map.Entry<String, INDArray> t : tensors.entrySet()) {
            Param target = expected.get(t.getKey());
            if (target == null) {
                target = baseParams.get(t.getKey());
            }
            if (target == null) {
                unexpected.add(t.getKey());
                continue;
            }
            if (!Arrays.equals(t.getValue().shape(), target.shape())) {
                throw new IllegalArgumentException(dir.resolve(AdapterFiles.WEIGHTS) + ": tensor '" + t.getKey() + "' has shape "
                        + Arrays.toString(t.getValue().shape()) + " but the model expects " + Arrays.toString(target.shape()));
            }
            target.load(t.getValue().castTo(target.value().dataType()), t.getKey());
        }
        return new LoadReport(missing, unexpected);
    }

    // ------------------------------------------------------------------------------------------------

    private Adapter requireAdapter(String name) {
        Adapter a = adapters.get(name);
        if (a == null) {
            throw new IllegalArgumentException("adapter '" + name + "' does not exist; adapters: " + adapters.keySet());
        }
        return a;
    }

    private void checkAttached() {
        if (state != State.ATTACHED) {
            throw new IllegalStateException("this PeftModel was " + (state == State.CLOSED ? "closed" : "unloaded") + "; its base model has no adapters now");
        }
    }

    /** Distinct module paths with layer indices folded into '*' ({@code transformer.h.*.attn.c_attn}), at most 40. */
    static String modulePatterns(List<String> paths) {
        Set<String> patterns = new LinkedHashSet<>();
        for (String p : paths) {
            patterns.add(p.replaceAll("(^|\\.)\\d+(?=\\.|$)", "$1*"));
        }
        List<String> list = new ArrayList<>(patterns);
        return list.size() <= 40 ? list.toString() : list.subList(0, 40) + " ... (" + list.size() + " in all)";
    }

    private static String describe(TargetSpec.ModuleNames names) {
        return names instanceof TargetSpec.Regex r ? "'" + r.pattern() + "'" : ((TargetSpec.Listed) names).names().toString();
    }

    /** Takes the adapters out of the base model (as {@link #unload()}) and frees their params; idempotent. */
    @Override
    public void close() {
        if (state == State.ATTACHED) {
            unmerge();
            detach(false);
        }
        state = State.CLOSED;
    }
}
