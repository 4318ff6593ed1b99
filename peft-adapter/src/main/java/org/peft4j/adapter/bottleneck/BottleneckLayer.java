package org.peft4j.adapter.bottleneck;

import java.util.List;
import java.util.Map;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.AdapterSet;
import org.peft4j.adapter.AdapterSetLayer;

/**
 * What the bottleneck wrappers share: the {@link org.peft4j.core.tuner.TunerLayer} bookkeeping over their
 * {@link BottleneckAdapters}. Bottleneck adapters are non-linear, so they cannot be merged into the base
 * weights, and they do not run per sequence in mixed batches.
 */
interface BottleneckLayer extends AdapterSetLayer<Bottleneck> {
    /** The adapters this wrapper holds. */
    BottleneckAdapters adapters();

    @Override
    default AdapterSet<Bottleneck> set() {
        return adapters().set();
    }

    /** The placements whose adapters this wrapper computes, for messages. */
    default String kind() {
        return adapters().parallel() ? "parallel" : "sequential (houlsby, pfeiffer)";
    }

    /** Adds a frozen, inactive adapter. */
    default void addAdapter(String name, BottleneckConfig config, java.util.SplittableRandom rng) {
        adapters().add(name, config, rng);
    }

    @Override
    default String methodId() {
        return BottleneckMethod.ID;
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
    default Map<String, Param> adapterParams(String name) {
        return adapters().params(name);
    }

}
