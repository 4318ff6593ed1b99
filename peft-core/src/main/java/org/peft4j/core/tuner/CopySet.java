package org.peft4j.core.tuner;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;

/** The state the two {@link ModulesToSave} wrappers share: the copies, which is active, and per-sequence names. */
final class CopySet {
    private final Module original;
    private final ModuleDict copies = new ModuleDict();
    private String active;
    private boolean enabled = true;
    private final SequenceAdapters perSequence = new SequenceAdapters();

    CopySet(Module original) {
        this.original = original;
    }

    Module original() {
        return original;
    }

    ModuleDict copies() {
        return copies;
    }

    Set<String> adapterNames() {
        return new LinkedHashSet<>(copies.children().keySet());
    }

    Module copyOf(String adapter) {
        if (!copies.contains(adapter)) {
            throw new IllegalArgumentException("no modules_to_save copy for adapter '" + adapter + "'; copies: " + copies.children().keySet());
        }
        return copies.child(adapter);
    }

    void add(String adapter, String owner) {
        if (copies.contains(adapter)) {
            throw new IllegalArgumentException("adapter '" + adapter + "' already has a modules_to_save copy");
        }
        copies.put(adapter, ModulesToSave.copyModule(original, owner));
    }

    void delete(String adapter) {
        Module removed = copies.remove(adapter);
        if (adapter.equals(active)) {
            active = null;
        }
        new ParamRegistry(removed).all().forEach(np -> np.param().close());
    }

    void setActive(String adapter) {
        this.active = adapter != null && copies.contains(adapter) ? adapter : null;
    }

    String active() {
        return active;
    }

    void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    void setPerSequence(List<String> names) {
        perSequence.set(names);
    }

    /** The per-sequence names to use for this pass, or null; checks the pass can use them. */
    List<String> perSequence(Tape tape, long rows) {
        List<String> names = perSequence.get();
        if (names == null || !enabled) {
            return null;
        }
        MixedBatches.check(names, tape, rows);
        return names;
    }

    Module current() {
        return enabled && active != null ? copies.child(active) : original;
    }

    /** The module sequence b runs in a mixed batch. */
    Module forSequence(String name) {
        return copies.contains(name) ? copies.child(name) : original;
    }

    /** The distinct adapters with copies among {@code names}. */
    List<String> copiedAmong(List<String> names) {
        List<String> out = new ArrayList<>();
        for (String n : names) {
            if (copies.contains(n) && !out.contains(n)) {
                out.add(n);
            }
        }
        return out;
    }

    /**
     * The wrappers' forward pass over {@code rows} rows: through the current module, which {@code wrapper}
     * pushes on the tape for its backward pass; or, with per-sequence adapters, through the original and
     * through each copy the batch names, keeping each sequence's rows from its own module (inference only).
     */
    INDArray forward(Object wrapper, Tape tape, int rows, Function<Module, INDArray> run) {
        List<String> names = perSequence(tape, rows);
        if (names != null) {
            INDArray y = run.apply(original);
            for (String adapter : copiedAmong(names)) {
                MixedBatches.copyRows(run.apply(copyOf(adapter)), y, names, adapter);
            }
            return y;
        }
        Module module = current();
        INDArray y = run.apply(module);
        tape.push(wrapper, module);
        return y;
    }
}
