package org.peft4j.adapter;

import java.util.List;
import java.util.Set;
import org.peft4j.core.tuner.AdapterSet;
import org.peft4j.core.tuner.TunerLayer;

/**
 * The {@link TunerLayer} switches of a wrapper whose adapters live in an {@link AdapterSet}: names, active
 * adapters, enabling. These wrappers run the same adapters for every sequence, so mixed batches (one
 * adapter per sequence) are refused with {@link #mixedBatchLimitation()}.
 *
 * @param <A> what the wrapper keeps per adapter
 */
public interface AdapterSetLayer<A> extends TunerLayer {
    /** The adapters this wrapper holds. */
    AdapterSet<A> set();

    @Override
    default Set<String> adapterNames() {
        return set().names();
    }

    @Override
    default void setActiveAdapters(List<String> names) {
        set().setActive(names);
    }

    @Override
    default List<String> activeAdapters() {
        return set().active();
    }

    @Override
    default void setEnabled(boolean enabled) {
        set().setEnabled(enabled);
    }

    @Override
    default boolean isEnabled() {
        return set().enabled();
    }

    @Override
    default List<String> mergedAdapters() {
        return set().merged();
    }

    @Override
    default void setSequenceAdapters(List<String> perSequence) {
        if (perSequence != null) {
            throw new UnsupportedOperationException(mixedBatchLimitation());
        }
    }

    @Override
    default boolean excludedFromMixedBatches(String name) {
        return adapterNames().contains(name);
    }

    @Override
    default String mixedBatchLimitation() {
        return methodId() + " adapters do not run one adapter per sequence; run one batch per adapter";
    }
}
