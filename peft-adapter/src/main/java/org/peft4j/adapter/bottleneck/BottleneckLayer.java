package org.peft4j.adapter.bottleneck;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.TunerLayer;

/**
 * What the three bottleneck wrappers share: the {@link TunerLayer} bookkeeping over their
 * {@link BottleneckAdapters}. Bottleneck adapters are non-linear, so they cannot be merged into the base
 * weights, and they do not run per sequence in mixed batches.
 */
interface BottleneckLayer extends TunerLayer {
    /** The adapters this wrapper holds. */
    BottleneckAdapters adapters();

    /** The placements whose adapters this wrapper computes, for error messages. */
    String kind();

    /** Adds a frozen, inactive adapter. */
    default void addAdapter(String name, BottleneckConfig config, java.util.SplittableRandom rng) {
        adapters().add(name, config, rng);
    }

    @Override
    default String methodId() {
        return BottleneckMethod.ID;
    }

    @Override
    default Set<String> adapterNames() {
        return adapters().set().names();
    }

    @Override
    default void setActiveAdapters(List<String> names) {
        adapters().set().setActive(names);
    }

    @Override
    default List<String> activeAdapters() {
        return adapters().set().active();
    }

    @Override
    default void setEnabled(boolean enabled) {
        adapters().set().setEnabled(enabled);
    }

    @Override
    default boolean isEnabled() {
        return adapters().set().enabled();
    }

    @Override
    default void deleteAdapter(String name) {
        adapters().remove(name);
    }

    @Override
    default void merge(List<String> names, boolean safe) {
        checkMerge(names);
    }

    @Override
    default void checkMerge(List<String> names) {
        if (names.stream().anyMatch(adapterNames()::contains)) {
            throw new UnsupportedOperationException("bottleneck adapters are non-linear (s·up(f(down(z)))) and cannot be merged into the "
                    + "base weights; run the model with its adapters unmerged");
        }
    }

    @Override
    default void unmerge() {
    }

    @Override
    default List<String> mergedAdapters() {
        return List.of();
    }

    @Override
    default Map<String, Param> adapterParams(String name) {
        return adapters().params(name);
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
        return "bottleneck adapters do not run one adapter per sequence; run one batch per adapter";
    }
}
