package org.peft4j.core.nn;

import java.util.Objects;

/**
 * A named, replaceable reference from a module to one of its children. Modules read their children
 * through slots, so a method can wrap a child (LoRA around a Linear, an adapter around an MLP) by
 * replacing what the slot holds, without the parent knowing about the method.
 *
 * @param <M> the type every occupant of this slot must have
 */
public final class Slot<M extends Module> {
    private final String name;
    private final Class<M> type;
    private M module;

    Slot(String name, Class<M> type, M module) {
        this.name = name;
        this.type = type;
        this.module = Objects.requireNonNull(module, "child '" + name + "'");
    }

    /** The module in this slot now. */
    public M get() {
        return module;
    }

    public String name() {
        return name;
    }

    /** The type a replacement must have. */
    public Class<M> type() {
        return type;
    }

    void set(Module replacement) {
        if (!type.isInstance(replacement)) {
            throw new IllegalArgumentException("child '" + name + "' must be a " + type.getSimpleName() + ", got "
                    + replacement.getClass().getSimpleName());
        }
        this.module = type.cast(replacement);
    }
}
