package org.peft4j.core.nn;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The input hooks of one model: each is attached to the model's tree under its name (so its params have
 * paths), they run in the order added, and backward runs them in reverse.
 */
public final class InputHooks {
    private final Module owner;
    private final Map<String, InputHook> hooks = new LinkedHashMap<>();

    /** Hooks attached to {@code owner}'s tree. */
    public InputHooks(Module owner) {
        this.owner = owner;
    }

    /** Adds a hook under {@code name}; it runs after the hooks added before it. */
    public void add(String name, InputHook hook) {
        owner.attach(name, hook);
        hooks.put(name, hook);
    }

    /** Removes the hook called {@code name}. */
    public void remove(String name) {
        if (!hooks.containsKey(name)) {
            throw new IllegalArgumentException("no input hook '" + name + "'; hooks: " + hooks.keySet());
        }
        owner.detach(name);
        hooks.remove(name);
    }

    /** True if any hook has a trainable param. */
    public boolean requiresGrad() {
        return hooks.values().stream().anyMatch(Module::requiresGrad);
    }

    /** Runs every hook in order on the token embeddings. */
    public INDArray forward(INDArray tokenEmbeddings, Tape tape) {
        INDArray x = tokenEmbeddings;
        for (InputHook hook : hooks.values()) {
            x = hook.forward(x, tape);
        }
        return x;
    }

    /** Runs every hook's backward in reverse order; returns dL/d(token embeddings). */
    public INDArray backward(INDArray gradOutput, Tape tape) {
        List<InputHook> list = new ArrayList<>(hooks.values());
        INDArray g = gradOutput;
        for (int i = list.size() - 1; i >= 0; i--) {
            g = list.get(i).backward(g, tape);
        }
        return g;
    }
}
