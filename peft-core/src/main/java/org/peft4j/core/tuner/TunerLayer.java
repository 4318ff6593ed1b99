package org.peft4j.core.tuner;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.LinkedHashMap;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Module;
import org.peft4j.core.param.Param;

/**
 * A wrapper a PEFT method puts in place of a base module (HF PEFT's {@code BaseTunerLayer}): it keeps
 * the original as its child {@code base_layer} and holds one adapter per name. Implementations are
 * {@link Module}s; {@link PeftModel} drives them all the same way.
 *
 * <p>State: the adapters it holds, which of them are active (their outputs add up), whether adapters
 * are enabled at all, which are merged into the base weights, and optionally one adapter name per
 * sequence for mixed-batch inference.
 */
public interface TunerLayer {
    /** The placeholder adapter name of a sequence that should see the base model only. */
    String BASE = "__base__";

    /** The id of the method that made this layer ({@link PeftMethod#id()}). */
    String methodId();

    /** The wrapped module. */
    Module baseLayer();

    /** The names of the adapters this layer holds, in the order they were added. */
    Set<String> adapterNames();

    /** Makes the adapters in {@code names} active here; names this layer does not hold are ignored. */
    void setActiveAdapters(List<String> names);

    /** The active adapters this layer holds. */
    List<String> activeAdapters();

    /** Turns all adapters on or off; off, the layer computes its base layer only. */
    void setEnabled(boolean enabled);

    /** True if adapters are on. */
    boolean isEnabled();

    /** Removes adapter {@code name} and frees its params; fails if it is merged. */
    void deleteAdapter(String name);

    /**
     * Adds the updates of {@code names} (those this layer holds and has not merged) into the base weights.
     * With {@code safe}, the sum is computed on a copy and checked for NaN and infinity first.
     */
    void merge(List<String> names, boolean safe);

    /** Fails, changing nothing, if merging {@code names} would give a weight with NaN or infinity (a safe merge's check). */
    void checkMerge(List<String> names);

    /** Subtracts every merged update again, last merged first. */
    void unmerge();

    /** The adapters merged into the base weights, in merge order. */
    List<String> mergedAdapters();

    /**
     * The params of adapter {@code name} by their checkpoint names relative to this layer, with the adapter
     * name removed as HF PEFT saves them ({@code "lora_A.weight"}, {@code "lora_magnitude_vector"}).
     */
    Map<String, Param> adapterParams(String name);

    /**
     * The tensors adapter {@code name} saves, under the names of {@link #adapterParams}: by default the params'
     * values. A layer whose params hold more than it saves (e.g. parts a method has masked out) returns the saved part
     * as new arrays, and must then be built with that shape when the file is loaded.
     */
    default Map<String, INDArray> savedTensors(String name) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        adapterParams(name).forEach((key, p) -> out.put(key, p.value()));
        return out;
    }

    /**
     * Sets one adapter name (or {@link #BASE}) per sequence of the next inference passes, or null to go back
     * to the active adapters. Rows of sequence b are {@code b·rows/batch … (b+1)·rows/batch − 1}.
     */
    void setSequenceAdapters(List<String> perSequence);

    /** True if adapter {@code name} cannot be used in a mixed batch (DoRA); the reason is {@link #mixedBatchLimitation()}. */
    default boolean excludedFromMixedBatches(String name) {
        return false;
    }

    /** Why some adapters cannot be used in mixed batches. */
    default String mixedBatchLimitation() {
        return "";
    }

    /** This layer as a module. */
    default Module asModule() {
        return (Module) this;
    }
}
