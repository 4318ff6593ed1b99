package org.peft4j.lora;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.nn.Dropout;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.AdapterSet;
import org.peft4j.core.tuner.MixedBatches;
import org.peft4j.core.tuner.SequenceAdapters;
import org.peft4j.core.tuner.TunerLayer;

/**
 * The adapters of one LoRA-style layer and their switches, shared by {@link LoraLinear}, {@link LoraEmbedding} and
 * AdaLoRA's layer:
 * which adapters are active, whether adapters are enabled, which are merged (and, for DoRA, the weight norm
 * each was merged with), and the adapter per sequence of a mixed batch.
 */
public final class LoraAdapters {
    /**
     * One adapter of a layer.
     *
     * @param name      its name
     * @param rank      r
     * @param alpha     lora_alpha
     * @param scaling   s
     * @param dropout   dropout on the input (the identity for embeddings)
     * @param a         A: {@code [r, in]} (Linear) or {@code [r, numEmbeddings]} (Embedding)
     * @param b         B: {@code [out, r]} (Linear) or {@code [dim, r]} (Embedding)
     * @param magnitude DoRA's magnitude {@code [out]}, or null without DoRA
     */
    public record Adapter(String name, int rank, double alpha, double scaling, Dropout dropout, Param a, Param b, Param magnitude) {
        public boolean dora() {
            return magnitude != null;
        }
    }

    /** A layer's base weight as merging and DoRA see it: what ΔW is in its layout and what an output is. */
    public interface Weight {
        /** The base weight: the layer's own array when {@link #live()}, else a copy; merges write it back with {@link #store}. */
        INDArray value();

        /** True if {@link #value()} is the layer's own array, so changing it in place changes the layer. */
        default boolean live() {
            return true;
        }

        /** Makes {@code w} the base weight (a quantized base quantizes it again). */
        default void store(INDArray w) {
            value().assign(w);
        }

        /** s·B·A of {@code a} in the weight's layout, as a new array. */
        INDArray delta(Adapter a);

        /** The norm of every output (a Linear's row of W, an embedding's dimension) of {@code w}: {@code [outputs]}. */
        INDArray outputNorms(INDArray w);

        /** Multiplies every output of {@code w} by {@code factor [outputs]}, in place, and returns {@code w}. */
        INDArray scaleOutputs(INDArray w, INDArray factor);
    }

    private final AdapterSet<Adapter> set = new AdapterSet<>();
    private final Map<String, INDArray> mergedNorms = new HashMap<>();
    private final Map<String, INDArray> pinnedNorms = new HashMap<>();     // DoRA norms held fixed by gradient tests only
    private final SequenceAdapters perSequence = new SequenceAdapters();

    /** Adds {@code adapter}; fails if the layer already holds one of its name. */
    public void add(Adapter adapter) {
        set.add(adapter.name(), adapter);
    }

    /** The adapter called {@code name}; fails listing the names the layer holds. */
    public Adapter get(String name) {
        return set.get(name);
    }

    /** Removes adapter {@code name} and frees its params; fails if it is merged. */
    public void remove(String name) {
        Adapter a = set.remove(name);
        a.a().close();
        a.b().close();
        if (a.magnitude() != null) {
            a.magnitude().close();
        }
    }

    /** The names of the adapters, in the order they were added. */
    public Set<String> names() {
        return set.names();
    }

    /** Makes the held adapters among {@code names} active, in that order. */
    public void setActive(List<String> names) {
        set.setActive(names);
    }

    /** The active adapters. */
    public List<String> active() {
        return set.active();
    }

    /** The adapters forward adds now: the active ones, unless adapters are disabled or merged into the weight. */
    public List<Adapter> applied() {
        return set.applied();
    }

    /** Turns all adapters on or off. */
    public void setEnabled(boolean on) {
        set.setEnabled(on);
    }

    /** True if adapters are on. */
    public boolean enabled() {
        return set.enabled();
    }

    /** The merged adapters in merge order. */
    public List<String> merged() {
        return set.merged();
    }

    /** The adapters of {@code names} this layer holds and has not merged yet, in the given order. */
    public List<Adapter> toMerge(List<String> names) {
        return set.mergeable(names).stream().map(set::get).toList();
    }

    /** DoRA's ‖W + ΔW‖ per output for adapter {@code a} (held fixed when pinned), a constant in backward. */
    public INDArray doraNorm(Weight weight, Adapter a) {
        INDArray pinned = pinnedNorms.get(a.name());
        return pinned != null ? pinned : weight.outputNorms(weight.value().add(weight.delta(a)));
    }

    /** Holds the current DoRA norms fixed (true) or lets every forward compute them again (false); for gradient tests. */
    public void pinDoraNorms(Weight weight, boolean pin) {
        pinnedNorms.clear();
        if (pin) {
            set.all().stream().filter(Adapter::dora).forEach(a -> pinnedNorms.put(a.name(), doraNorm(weight, a)));
        }
    }

    /** W + ΔW for adapter {@code a} (DoRA: each output rescaled by m/‖W + ΔW‖) and DoRA's norm, or null. */
    private static INDArray[] mergedWeight(Weight weight, Adapter a, INDArray w) {
        INDArray sum = w.add(weight.delta(a));
        if (!a.dora()) {
            return new INDArray[] {sum, null};
        }
        INDArray norm = weight.outputNorms(sum);
        return new INDArray[] {weight.scaleOutputs(sum, a.magnitude().value().div(norm)), norm};
    }

    /** Adds the updates of {@code names} not yet merged into the weight, checking each sum first with {@code safe}. */
    public void merge(Weight weight, List<String> names, boolean safe) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            for (Adapter a : toMerge(names)) {
                INDArray[] sum = mergedWeight(weight, a, weight.value());
                if (safe) {
                    checkFinite(sum[0], a.name());
                }
                if (sum[1] != null) {
                    mergedNorms.put(a.name(), sum[1]);                      // unmerging needs the norm of the unmerged W
                }
                weight.store(sum[0]);
                set.markMerged(a.name());
            }
        }
    }

    /** Fails if merging {@code names} would give NaN or infinity; changes nothing. */
    public void checkMerge(Weight weight, List<String> names) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray w = weight.value().dup();
            for (Adapter a : toMerge(names)) {
                w = mergedWeight(weight, a, w)[0];
                checkFinite(w, a.name());
            }
        }
    }

    private static void checkFinite(INDArray merged, String adapter) {
        if (merged.isNaN().any() || merged.isInfinite().any()) {
            throw new IllegalStateException("NaN or infinity in the merged weights: adapter '" + adapter + "' seems to be broken; nothing was merged");
        }
    }

    /** Subtracts the merged updates again, last merged first: W = W_merged/(m/‖W + ΔW‖) − ΔW for DoRA. */
    public void unmerge(Weight weight) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray w = weight.value();
            for (String name : set.clearMerged()) {                        // last merged first
                Adapter a = get(name);
                INDArray delta = weight.delta(a);
                if (a.dora()) {
                    INDArray factor = a.magnitude().value().div(mergedNorms.remove(a.name()));
                    w.assign(weight.scaleOutputs(w.dup(), factor.rdivi(1.0)).subi(delta));
                } else {
                    w.subi(delta);
                }
            }
            if (!weight.live()) {
                weight.store(w);
            }
        }
    }

    /** One adapter name per sequence for the next passes on the calling thread, or null for the active adapters. */
    public void setPerSequence(List<String> names) {
        perSequence.set(names);
    }

    /** The per-sequence names for a pass of {@code rows} rows, or null when the pass uses the active adapters. */
    public List<String> perSequence(Tape tape, long rows) {
        List<String> names = perSequence.get();
        if (names == null || !set.enabled()) {
            return null;
        }
        if (!set.merged().isEmpty()) {
            throw new IllegalStateException("cannot run one adapter per sequence while adapters " + set.merged() + " are merged; unmerge first");
        }
        MixedBatches.check(names, tape, rows);
        return names;
    }

    /** The distinct adapters this layer holds among per-sequence names (not {@link TunerLayer#BASE}). */
    public List<Adapter> heldAmong(List<String> names) {
        return names.stream().distinct().filter(set::holds).map(set::get).toList();
    }

    /** True if adapter {@code name} uses DoRA. */
    public boolean isDora(String name) {
        return set.holds(name) && set.get(name).dora();
    }

    /** The params of adapter {@code name} under checkpoint names. */
    public Map<String, Param> params(String name, String keyA, String keyB) {
        Adapter a = get(name);
        Map<String, Param> out = new LinkedHashMap<>();
        out.put(keyA, a.a());
        out.put(keyB, a.b());
        if (a.magnitude() != null) {
            out.put("lora_magnitude_vector", a.magnitude());
        }
        return out;
    }
}
