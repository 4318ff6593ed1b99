package org.peft4j.core.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.param.Param;

/**
 * A node in a model's tree: it owns named {@link Param}s and named child modules. Paths are the
 * dotted names HF uses for the same architecture ({@code transformer.h.0.attn.c_attn}).
 *
 * <p>Lifecycle: a module is built complete (its params allocated and initialised) by its constructor
 * or factory; methods then may {@link #replaceChild replace} children with wrappers; training only
 * changes param values and gradients. Forward and backward signatures live in subtypes
 * ({@link Layer}, {@link EmbeddingLayer}) because their inputs differ.
 */
public abstract class Module {
    private final Map<String, Param> params = new LinkedHashMap<>();
    private final Map<String, Slot<?>> slots = new LinkedHashMap<>();

    /** Registers a param of this module under its own name and returns it. */
    protected final Param register(Param param) {
        if (params.containsKey(param.name()) || slots.containsKey(param.name())) {
            throw new IllegalStateException(getClass().getSimpleName() + " already has a param or child named '" + param.name() + "'");
        }
        params.put(param.name(), param);
        return param;
    }

    /** Registers a child module in a replaceable slot and returns the slot. */
    protected final <M extends Module> Slot<M> child(String name, Class<M> type, M module) {
        checkChildName(name);
        Slot<M> slot = new Slot<>(name, type, module);
        slots.put(name, slot);
        return slot;
    }

    /**
     * Attaches an extra child that the module's own forward does not call, such as a prompt encoder
     * that a method plugs in through a hook. Its params join the tree at {@code name}.
     */
    public final void attach(String name, Module module) {
        child(name, Module.class, module);
    }

    /** Removes a child added with {@link #attach}. */
    public final Module detach(String name) {
        Slot<?> slot = slots.get(name);
        if (slot == null || slot.type() != Module.class) {
            throw new IllegalArgumentException("'" + name + "' is not an attached child of " + getClass().getSimpleName()
                    + "; attached children: " + attachedNames());
        }
        slots.remove(name);
        return slot.get();
    }

    /** Names of the children added with {@link #attach} (input hooks and the like, which belong to methods). */
    public final List<String> attachedNames() {
        List<String> names = new ArrayList<>();
        slots.forEach((n, s) -> {
            if (s.type() == Module.class) {
                names.add(n);
            }
        });
        return names;
    }

    private void checkChildName(String name) {
        if (name == null || name.isEmpty() || name.contains(".")) {
            throw new IllegalArgumentException("child name must be non-empty and contain no '.', got '" + name + "'");
        }
        if (params.containsKey(name) || slots.containsKey(name)) {
            throw new IllegalStateException(getClass().getSimpleName() + " already has a param or child named '" + name + "'");
        }
    }

    /** This module's own params in registration order (not those of its children). */
    public final Map<String, Param> params() {
        return Collections.unmodifiableMap(params);
    }

    /**
     * Tensors this module saves besides its params, by local name, which may contain dots (a quantized
     * layer's packed weight and block constants: {@code weight}, {@code weight.absmax}, ...). They are part of
     * the model's state ({@code ParamRegistry.modelState()}) but not params: nothing trains or counts them.
     * Empty unless a module overrides it.
     */
    public Map<String, INDArray> extraState() {
        return Map.of();
    }

    /** The current children in registration order. */
    public final Map<String, Module> children() {
        Map<String, Module> out = new LinkedHashMap<>();
        slots.forEach((name, slot) -> out.put(name, slot.get()));
        return out;
    }

    /** The child called {@code name}; fails with the list of children if there is none. */
    public final Module child(String name) {
        Slot<?> slot = slots.get(name);
        if (slot == null) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " has no child '" + name + "'; children: " + slots.keySet());
        }
        return slot.get();
    }

    /** The type that a replacement of child {@code name} must have. */
    public final Class<? extends Module> childType(String name) {
        child(name);
        return slots.get(name).type();
    }

    /**
     * Puts {@code replacement} in the slot of child {@code name}. The replacement must have the slot's
     * type (a {@link Layer} for a Linear, an {@link EmbeddingLayer} for an Embedding, ...).
     */
    public final void replaceChild(String name, Module replacement) {
        child(name);
        slots.get(name).set(replacement);
    }

    /**
     * True if a backward pass through this module must run: some param below it is trainable. Modules
     * whose gradient also flows into objects outside the tree override this.
     */
    public boolean requiresGrad() {
        for (Param p : params.values()) {
            if (p.isTrainable()) {
                return true;
            }
        }
        for (Slot<?> slot : slots.values()) {
            if (slot.get().requiresGrad()) {
                return true;
            }
        }
        return false;
    }

    /** A short description for printing the tree, e.g. {@code Linear(in=256, out=768, bias)}. */
    public String describe() {
        return getClass().getSimpleName();
    }
}
