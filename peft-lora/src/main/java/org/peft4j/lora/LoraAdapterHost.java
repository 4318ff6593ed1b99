package org.peft4j.lora;

import java.util.List;
import java.util.Set;
import org.peft4j.core.tuner.TunerLayer;

/**
 * A tuner layer whose adapters are kept in a {@link LoraAdapters} (LoRA's and AdaLoRA's wrappers): which
 * adapters are active, enabled, merged or chosen per sequence is the holder's state, so those parts of
 * {@link TunerLayer} are written once here and delegate to it.
 */
public interface LoraAdapterHost extends TunerLayer {
    /** The adapters this layer holds. */
    LoraAdapters adapters();

    /** The base weight merges write into. */
    LoraAdapters.Weight mergeTarget();

    @Override
    default Set<String> adapterNames() {
        return adapters().names();
    }

    @Override
    default void setActiveAdapters(List<String> names) {
        adapters().setActive(names);
    }

    @Override
    default List<String> activeAdapters() {
        return adapters().active();
    }

    @Override
    default void setEnabled(boolean enabled) {
        adapters().setEnabled(enabled);
    }

    @Override
    default boolean isEnabled() {
        return adapters().enabled();
    }

    @Override
    default void merge(List<String> names, boolean safe) {
        adapters().merge(mergeTarget(), names, safe);
    }

    @Override
    default void checkMerge(List<String> names) {
        adapters().checkMerge(mergeTarget(), names);
    }

    @Override
    default void unmerge() {
        adapters().unmerge(mergeTarget());
    }

    @Override
    default List<String> mergedAdapters() {
        return List.copyOf(adapters().merged());
    }

    @Override
    default void setSequenceAdapters(List<String> perSequence) {
        adapters().setPerSequence(perSequence);
    }
}
