package org.peft4j.core.tuner;

import java.util.List;
import java.util.Set;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.EmbeddingLayer;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Module;
import org.peft4j.core.param.Param;

/**
 * A module trained in full next to an adapter (HF PEFT's {@code ModulesToSaveWrapper}), typically a
 * classifier head: the wrapper keeps the original as child {@code original_module} and one trainable copy
 * per adapter under {@code modules_to_save.<adapter>}. Forward runs the active adapter's copy, or the
 * original when no adapter with a copy is active or adapters are disabled. At most one copy is active.
 * HF saves a copy's tensors under the module's own path ({@code classifier.weight}).
 */
public interface ModulesToSave {
    /** Child name of the original module. */
    String ORIGINAL = "original_module";
    /** Child name of the dict of copies. */
    String COPIES = "modules_to_save";

    /** The module as it was before wrapping. */
    Module originalModule();

    /** The adapters that have a copy, in the order they were added. */
    Set<String> adapterNames();

    /** The copy of {@code adapter}; fails listing the adapters with copies. */
    Module copyOf(String adapter);

    /** Makes a frozen copy of the original for {@code adapter}, its params owned by {@code owner}. */
    void addAdapter(String adapter, String owner);

    /** Removes the copy of {@code adapter} and frees its params. */
    void deleteAdapter(String adapter);

    /** Makes {@code adapter}'s copy the one forward runs; null (or an adapter without a copy) runs the original. */
    void setActiveAdapter(String adapter);

    /** The adapter whose copy is active, or null. */
    String activeAdapter();

    /** Turns the copies on or off; off, forward runs the original. */
    void setEnabled(boolean enabled);

    /** One adapter name (or {@link TunerLayer#BASE}) per sequence for mixed-batch inference, or null. */
    void setSequenceAdapters(List<String> perSequence);

    /** The module forward runs now. */
    Module current();

    /** This wrapper as a module. */
    default Module asModule() {
        return (Module) this;
    }

    /**
     * A wrapper around {@code original}: a {@link Layer} for a layer, an {@link EmbeddingLayer} for an
     * embedding. Copies can be made of {@link Linear} and {@link Embedding} modules.
     */
    static Module wrap(String path, Module original) {
        checkCopyable(path, original);
        if (original instanceof Layer layer) {
            return new ModulesToSaveLayer(layer);
        }
        return new ModulesToSaveEmbedding((EmbeddingLayer) original);
    }

    /** Fails unless {@code module} can be copied. */
    static void checkCopyable(String path, Module module) {
        if (!(module instanceof Linear) && !(module instanceof Embedding)) {
            throw new IllegalArgumentException("modules_to_save can copy Linear and Embedding modules; '" + path + "' is a "
                    + module.getClass().getSimpleName());
        }
    }

    /** A copy of a {@link Linear} or {@link Embedding} with fresh, frozen params owned by {@code owner}. */
    static Module copyModule(Module module, String owner) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (module instanceof Linear l) {
                return new Linear(copy(l.weight(), owner), l.bias() == null ? null : copy(l.bias(), owner), l.layout());
            }
            if (module instanceof Embedding e) {
                return new Embedding(copy(e.weight(), owner));
            }
        }
        throw new IllegalArgumentException("modules_to_save can copy Linear and Embedding modules, not " + module.getClass().getSimpleName());
    }

    private static Param copy(Param p, String owner) {
        return Param.owned(p.name(), owner, p.value().dup('c'), false);
    }
}
