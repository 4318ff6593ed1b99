package org.peft4j.core.nn;

import java.util.ArrayList;
import java.util.List;

/** An indexed list of children named "0", "1", ... (HF's {@code nn.ModuleList}, e.g. GPT-2's {@code h}). */
public final class ModuleList<M extends Module> extends Module {
    private final List<Slot<M>> items = new ArrayList<>();

    public ModuleList(Class<M> type, List<? extends M> modules) {
        for (int i = 0; i < modules.size(); i++) {
            items.add(child(Integer.toString(i), type, modules.get(i)));
        }
    }

    /** The module at index {@code i} now (after any replacement). */
    public M get(int i) {
        if (i < 0 || i >= items.size()) {
            throw new IndexOutOfBoundsException("index " + i + " out of range for a list of " + items.size());
        }
        return items.get(i).get();
    }

    public int size() {
        return items.size();
    }

    @Override
    public String describe() {
        return "ModuleList(" + items.size() + ")";
    }
}
