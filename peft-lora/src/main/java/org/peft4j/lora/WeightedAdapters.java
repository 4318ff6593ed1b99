package org.peft4j.lora;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.kernel.Gemm;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.tuner.ModulesToSave;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TunerLayer;

/**
 * A new LoRA adapter made from weighted existing ones (HF PEFT's {@code add_weighted_adapter}). With
 * weights w_i, scalings s_i and updates ΔW_i = s_i·B_i·A_i, the new adapter has scaling 1 and:
 * <ul>
 *   <li>{@link Combination#LINEAR}: A = Σ sign(w_i)·√|w_i·s_i|·A_i and B = Σ √|w_i·s_i|·B_i (all ranks equal);
 *       for one adapter this is exactly w·ΔW, for several it includes HF's cross terms;</li>
 *   <li>{@link Combination#CAT}: A stacks the w_i·s_i·A_i and B the B_i, so ΔW = Σ w_i·ΔW_i exactly, rank Σ r_i;</li>
 *   <li>{@link Combination#SVD}: the best rank-k approximation of Σ w_i·ΔW_i (k = the largest rank, or the given one).</li>
 * </ul>
 * With a single source adapter every type is LINEAR, as in HF PEFT. The new adapter is not active.
 */
public final class WeightedAdapters {
    /** How the adapters are combined. */
    public enum Combination {
        /** Weighted sums of the A's and of the B's. */
        LINEAR,
        /** Concatenation: exact, rank the sum of the ranks. */
        CAT,
        /** Truncated SVD of the weighted sum of the updates. */
        SVD
    }

    private WeightedAdapters() {
    }

    /** {@link #add(PeftModel, String, List, List, Combination, Integer)} with SVD's rank the largest source rank. */
    public static void add(PeftModel<?> model, String name, List<String> adapters, List<Double> weights, Combination type) {
        add(model, name, adapters, weights, type, null);
    }

    /**
     * Adds adapter {@code name} to {@code model}, combining {@code adapters} with {@code weights} (negative
     * weights subtract). Each module to save that exactly one source adapter copies is copied for the new
     * adapter from that source; DoRA adapters cannot be combined.
     */
    public static void add(PeftModel<?> model, String name, List<String> adapters, List<Double> weights, Combination type,
            Integer svdRank) {
        if (adapters.isEmpty() || adapters.size() != weights.size()) {
            throw new IllegalArgumentException("give one weight per adapter: " + adapters.size() + " adapters, " + weights.size() + " weights");
        }
        if (model.adapterNames().contains(name)) {
            throw new IllegalArgumentException("adapter '" + name + "' already exists; adapters: " + model.adapterNames());
        }
        List<LoraConfig> configs = new ArrayList<>();
        for (String a : adapters) {
            PeftConfig c = model.config(a);
            if (!(c instanceof LoraConfig lc)) {
                throw new IllegalArgumentException("adapter '" + a + "' is not a LoRA adapter");
            }
            if (lc.useDora()) {
                throw new IllegalArgumentException("adapter '" + a + "' uses DoRA; weighted combinations of DoRA adapters are not supported");
            }
            configs.add(lc);
        }
        Map<String, ModulesToSave> wrappers = model.modulesToSave();
        int shared = 0;
        for (ModulesToSave w : wrappers.values()) {
            shared += adapters.stream().filter(w.adapterNames()::contains).count() > 1 ? 1 : 0;
        }
        if (shared > 0) {
            throw new IllegalArgumentException("cannot combine adapters that copy the same module (modules_to_save); found " + shared
                    + " such module(s)");
        }
        Combination combination = adapters.size() == 1 ? Combination.LINEAR : type;
        List<Integer> ranks = configs.stream().map(c -> c.rankPattern().values().stream().reduce(c.r(), Math::max)).toList();
        int newRank = switch (combination) {
            case LINEAR -> {
                if (new LinkedHashSet<>(ranks).size() != 1) {
                    throw new IllegalArgumentException("LINEAR needs adapters of one rank, got ranks " + ranks + " for " + adapters
                            + "; use CAT or SVD");
                }
                yield ranks.get(0);
            }
            case CAT -> ranks.stream().mapToInt(Integer::intValue).sum();
            case SVD -> svdRank != null ? svdRank : ranks.stream().mapToInt(Integer::intValue).max().orElseThrow();
        };
        Set<String> copied = new LinkedHashSet<>();
        configs.forEach(c -> copied.addAll(c.modulesToSave()));
        LoraConfig first = configs.get(0);
        LoraConfig config = first.toBuilder().r(newRank).loraAlpha(newRank).rankPattern(Map.of()).alphaPattern(Map.of()).useRslora(false)
                .useDora(false).initLoraWeights(LoraInit.DEFAULT).targets(first.targets().withTargets(unionOfTargets(configs)))
                .modulesToSave(new ArrayList<>(copied)).build();
        model.addAdapter(name, config);
        for (TunerLayer layer : model.tunerLayers().values()) {
            if (layer.adapterNames().contains(name)) {
                combine((LoraLayer) layer, name, adapters, weights, combination, newRank);
            }
        }
        for (ModulesToSave w : wrappers.values()) {
            adapters.stream().filter(w.adapterNames()::contains).findFirst().ifPresent(source -> {
                if (w.adapterNames().contains(name)) {
                    copyValues(w, source, name);
                }
            });
        }
    }

    private static TargetSpec.ModuleNames unionOfTargets(List<LoraConfig> configs) {
        boolean regex = configs.get(0).targets().targets() instanceof TargetSpec.Regex;
        for (LoraConfig c : configs) {
            if ((c.targets().targets() instanceof TargetSpec.Regex) != regex) {
                throw new IllegalArgumentException("cannot combine adapters whose target_modules mix a list and a regex");
            }
        }
        if (regex) {
            return new TargetSpec.Regex(String.join("|", configs.stream().map(c -> "(" + ((TargetSpec.Regex) c.targets().targets()).pattern() + ")").toList()));
        }
        Set<String> names = new LinkedHashSet<>();
        configs.forEach(c -> names.addAll(((TargetSpec.Listed) c.targets().targets()).names()));
        return new TargetSpec.Listed(new ArrayList<>(names));
    }

    /** The sources' A, B, scaling and ΔW at one layer, with ΔW viewed {@code [out, in]} ({@code [dim, numEmbeddings]} for an embedding). */
    private record Source(INDArray a, INDArray b, double scaling, double weight, INDArray delta) {
    }

    private static void combine(LoraLayer layer, String name, List<String> adapters, List<Double> weights, Combination type, int newRank) {
        List<Source> sources = new ArrayList<>();
        for (int i = 0; i < adapters.size(); i++) {
            String a = adapters.get(i);
            if (layer.adapterNames().contains(a)) {
                sources.add(source(layer, a, weights.get(i)));
            }
        }
        if (sources.isEmpty()) {
            return;
        }
        Param targetA = layer.loraA(name);
        Param targetB = layer.loraB(name);
        DataType type0 = targetA.value().dataType();
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray newA = Nd4j.zeros(type0, targetA.shape());
            INDArray newB = Nd4j.zeros(type0, targetB.shape());
            switch (type) {
                case CAT -> {
                    long offset = 0;
                    for (Source s : sources) {
                        long r = s.a().rows();
                        newA.get(NDArrayIndex.interval(offset, offset + r), NDArrayIndex.all()).assign(s.a().mul(s.weight() * s.scaling()));
                        newB.get(NDArrayIndex.all(), NDArrayIndex.interval(offset, offset + r)).assign(s.b());
                        offset += r;
                    }
                }
                case LINEAR -> {
                    for (Source s : sources) {
                        if (!java.util.Arrays.equals(s.a().shape(), newA.shape())) {
                            throw new IllegalArgumentException("LINEAR needs equal ranks in every layer; a source has A of shape "
                                    + java.util.Arrays.toString(s.a().shape()) + ", the new adapter " + java.util.Arrays.toString(newA.shape()));
                        }
                        double ws = s.weight() * s.scaling();
                        double root = Math.sqrt(Math.abs(ws));
                        newA.addi(s.a().mul(ws >= 0 ? root : -root));        // the sign on one side only
                        newB.addi(s.b().mul(root));
                    }
                }
                case SVD -> {
                    INDArray sum = null;
                    for (Source s : sources) {
                        INDArray d = s.delta().castTo(DataType.DOUBLE).muli(s.weight());
                        sum = sum == null ? d : sum.addi(d);
                    }
                    Svd.Result svd = Svd.of(sum);
                    long k = Math.min(newRank, svd.s().length());
                    INDArray u = svd.u().get(NDArrayIndex.all(), NDArrayIndex.interval(0, k)).mulRowVector(svd.s().get(NDArrayIndex.interval(0, k)));
                    newB.get(NDArrayIndex.all(), NDArrayIndex.interval(0, k)).assign(u.castTo(type0));
                    newA.get(NDArrayIndex.interval(0, k), NDArrayIndex.all()).assign(svd.vt().get(NDArrayIndex.interval(0, k), NDArrayIndex.all()).castTo(type0));
                }
                default -> throw new IllegalStateException("unknown combination " + type);
            }
            targetA.value().assign(newA);
            targetB.value().assign(newB);
        }
    }

    /** A source at one layer; its update s·B·A is {@code [out, in]}, or {@code [dim, numEmbeddings]} for an embedding (HF's orientation for SVD). */
    private static Source source(LoraLayer layer, String adapter, double weight) {
        INDArray a = layer.loraA(adapter).value();
        INDArray b = layer.loraB(adapter).value();
        return new Source(a, b, layer.scaling(adapter), weight, Gemm.mm(b, a, false, false).muli(layer.scaling(adapter)));
    }

    private static void copyValues(ModulesToSave wrapper, String from, String to) {
        Map<String, Param> source = new java.util.LinkedHashMap<>();
        new ParamRegistry(wrapper.copyOf(from)).all().forEach(np -> source.put(np.path(), np.param()));
        new ParamRegistry(wrapper.copyOf(to)).all().forEach(np -> np.param().value().assign(source.get(np.path()).value()));
    }
}
