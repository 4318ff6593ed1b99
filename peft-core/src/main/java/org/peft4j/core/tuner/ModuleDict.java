package org.peft4j.core.tuner;

import org.peft4j.core.nn.Module;

/**
 * A container of child modules keyed by adapter name (HF's {@code nn.ModuleDict}), e.g. the
 * {@code lora_A} of a LoRA layer whose child {@code default} is that adapter's down-projection. Its own
 * forward is never called; the owning wrapper reads the children.
 */
public final class ModuleDict extends Module {
    /** True if a child called {@code name} exists. */
    public boolean contains(String name) {
        return children().containsKey(name);
    }

    /** Adds {@code module} under {@code name}. */
    public void put(String name, Module module) {
        attach(name, module);
    }

    /** Removes and returns the child called {@code name}. */
    public Module remove(String name) {
        return detach(name);
    }

    @Override
    public String describe() {
        return "ModuleDict(" + String.join(", ", children().keySet()) + ")";
    }
}
