package org.peft4j.lora.adalora;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.kernel.Gemm;
import org.peft4j.core.nn.Dropout;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.ParamDict;
import org.peft4j.lora.LoraAdapters;
import org.peft4j.lora.LoraAdapters.Adapter;

/**
 * AdaLoRA around a {@link Linear} (HF PEFT's {@code adalora.SVDLinear}): y = base(x) + Σ_active
 * s·(dropout(x)·(A⊙E)ᵀ)·Bᵀ, i.e. ΔW = s·P·diag(λ)·Q with P = B {@code [out, r]} ({@code lora_B.<name>}),
 * λ = E {@code [r, 1]} ({@code lora_E.<name>}) and Q = A {@code [r, in]} ({@code lora_A.<name>}), and
 * s = lora_alpha/(init_r + 1e-5) as HF computes it. The rank allocator masks a triplet (row i of A, λ_i, column i
 * of B) by setting λ_i to 0.
 *
 * <p>Each adapter holds r triplets: init_r when created, or the kept ones of its rank_pattern when loaded from a
 * file. It records which of the init_r triplets it holds and which of those are kept; a file gets only the kept
 * triplets, and the scaling stays lora_alpha/init_r after loading (HF keeps {@code ranknum} at init_r). A module
 * whose rank_pattern keeps no triplet (HF's allocator can leave one at rank 0) holds empty tensors and adds nothing;
 * it loads, runs, merges and saves as in HF, but cannot train.
 */
public final class AdaLoraLinear extends Layer implements AdaLoraLayer {
    private static final String KEY_A = "lora_A";
    private static final String KEY_E = "lora_E";
    private static final String KEY_B = "lora_B";

    private final Slot<Linear> baseLayer;
    private final Slot<ParamDict> loraA;
    private final Slot<ParamDict> loraE;
    private final Slot<ParamDict> loraB;
    private final LoraAdapters adapters = new LoraAdapters();
    private final Map<String, Triplets> triplets = new LinkedHashMap<>();

    /**
     * The triplets of one adapter: λ, which of the init_r triplets it holds (held[j] is the index of its row j)
     * and which of the init_r are kept (unmasked).
     */
    private record Triplets(Param e, int initR, int[] held, boolean[] kept) {
    }

    /** What one adapter's forward saved: its input after dropout, x_d·Aᵀ and x_d·(A⊙E)ᵀ. */
    private record Step(Adapter adapter, Param e, INDArray xd, INDArray ha, INDArray h) {
    }

    private record Saved(List<Step> steps) {
    }

    private final LoraAdapters.Weight weight = new LoraAdapters.Weight() {
        @Override
        public INDArray value() {
            return baseLayer.get().weight().value();
        }

        @Override
        public INDArray delta(Adapter a) {
            return AdaLoraLinear.this.delta(a);
        }

        @Override
        public INDArray outputNorms(INDArray w) {
            throw new UnsupportedOperationException("AdaLoRA has no DoRA");
        }

        @Override
        public INDArray scaleOutputs(INDArray w, INDArray factor) {
            throw new UnsupportedOperationException("AdaLoRA has no DoRA");
        }
    };

    /** Wraps {@code base}; adapters are added with {@link #addAdapter}. */
    public AdaLoraLinear(Linear base) {
        this.baseLayer = child("base_layer", Linear.class, base);
        this.loraA = child(KEY_A, ParamDict.class, new ParamDict());
        this.loraE = child(KEY_E, ParamDict.class, new ParamDict());
        this.loraB = child(KEY_B, ParamDict.class, new ParamDict());
    }

    /**
     * Adds adapter {@code name} for the module at {@code path}, frozen and inactive: the triplets its rank_pattern
     * keeps (all init_r without one), initialised as the config says.
     */
    public void addAdapter(String name, String path, AdaLoraConfig config, SplittableRandom rng) {
        Linear base = baseLayer.get();
        int initR = config.initR();
        List<Boolean> pattern = config.keptFor(path);
        int[] held = new int[config.rankFor(path)];
        boolean[] kept = new boolean[initR];
        for (int i = 0, j = 0; i < initR; i++) {
            kept[i] = pattern == null || pattern.get(i);
            if (kept[i]) {
                held[j++] = i;
            }
        }
        int r = held.length;
        DataType type = base.weight().value().dataType();
        double std = config.initLoraWeights() ? 0.02 : 1.0;
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            // rank 0 (HF's allocator may mask every triplet of a module, and HF saves and loads such files): empty
            // tensors [0, in], [0, 1], [out, 0], as HF holds them; the module then adds nothing
            INDArray a = r == 0 ? Nd4j.create(type, 0, base.inFeatures()) : Init.normal(type, std, rng, r, base.inFeatures());
            INDArray e = r == 0 ? Nd4j.create(type, 0, 1) : config.initLoraWeights() ? Init.constant(type, 0.0, r, 1) : Init.normal(type, 1.0, rng, r, 1);
            INDArray b = r == 0 ? Nd4j.create(type, base.outFeatures(), 0) : Init.normal(type, std, rng, base.outFeatures(), r);
            Param pa = Param.owned(name, AdaLoraMethod.ID, a, false);
            Param pe = Param.owned(name, AdaLoraMethod.ID, e, false);
            Param pb = Param.owned(name, AdaLoraMethod.ID, b, false);
            replaceChild(KEY_A, loraA.get().with(pa));
            replaceChild(KEY_E, loraE.get().with(pe));
            replaceChild(KEY_B, loraB.get().with(pb));
            adapters.add(new Adapter(name, r, config.loraAlpha(), config.scaling(r), new Dropout(config.loraDropout()), pa, pb, null));
            triplets.put(name, new Triplets(pe, initR, held, kept));
        }
    }

    /** s·B·(A⊙E) in the base weight's layout: {@code [out, in]}, or {@code [in, out]} for fan_in_fan_out. */
    private INDArray delta(Adapter a) {
        if (a.rank() == 0) {
            return Nd4j.zeros(baseLayer.get().weight().value().dataType(), baseLayer.get().weight().value().shape());
        }
        INDArray ae = a.a().value().mulColumnVector(triplets.get(a.name()).e().value());    // [r, in] = A⊙E
        boolean outIn = baseLayer.get().layout() == WeightLayout.OUT_IN;
        return (outIn ? Gemm.mm(a.b().value(), ae, false, false) : Gemm.mm(ae, a.b().value(), true, true)).muli(a.scaling());
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray y = baseLayer.get().forward(x, tape);                                // [n, out]
        if (adapters.perSequence(tape, x.rows()) != null) {
            throw new IllegalArgumentException("AdaLoRA adapters cannot run one adapter per sequence in peft4j");
        }
        List<Step> steps = new ArrayList<>();
        for (Adapter a : adapters.applied()) {
            if (a.rank() == 0) {
                continue;                                                             // no triplet: ΔW = 0
            }
            Param e = triplets.get(a.name()).e();
            INDArray xd = a.dropout().forward(x, tape);                              // [n, in]
            INDArray ha = tape.kernels().matmul(xd, a.a().value(), false, true);     // [n, r] = x_d·Aᵀ
            INDArray h = ha.mulRowVector(row(e));                                     // [n, r] = x_d·(A⊙E)ᵀ
            tape.kernels().matmulInto(h, a.b().value(), y, false, true, a.scaling(), 1.0); // y += s·h·Bᵀ
            steps.add(new Step(a, e, xd, ha, h));
        }
        tape.push(this, new Saved(steps));
        return y;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved saved = tape.pop(this, Saved.class);
        INDArray g = gradOutput;                                                        // [n, out]
        INDArray dxAdapters = null;
        for (int i = saved.steps().size() - 1; i >= 0; i--) {
            Step st = saved.steps().get(i);
            Adapter a = st.adapter();
            double s = a.scaling();
            if (a.b().isTrainable()) {
                tape.kernels().matmulInto(g, st.h(), a.b().grad(), true, false, s, 1.0); // dB += s·gᵀ·h
            }
            INDArray dh = tape.kernels().matmul(g, a.b().value(), false, false).muli(s); // [n, r] = s·g·B
            if (st.e().isTrainable()) {
                INDArray de = Nd4j.zeros(dh.dataType(), dh.columns());
                tape.kernels().addColumnSums(dh.mul(st.ha()), de);                    // dE_i += Σ_n dh[n,i]·ha[n,i]
                st.e().grad().addi(de.reshape(de.length(), 1));
            }
            INDArray dha = dh.muliRowVector(row(st.e()));                             // [n, r] = dh⊙E
            if (a.a().isTrainable()) {
                tape.kernels().matmulInto(dha, st.xd(), a.a().grad(), true, false, 1.0, 1.0); // dA += dhaᵀ·x_d
            }
            INDArray dx = a.dropout().backward(tape.kernels().matmul(dha, a.a().value(), false, false), tape); // [n, in]
            dxAdapters = dxAdapters == null ? dx : dxAdapters.addi(dx);
        }
        INDArray dx = baseLayer.get().backward(g, tape);                               // [n, in]
        return dxAdapters == null ? dx : dx.addi(dxAdapters);
    }

    /** λ of {@code e} {@code [r, 1]} as a row {@code [1, r]} (a view). */
    private static INDArray row(Param e) {
        return e.value().reshape(1, e.value().length());
    }

    // ------------------------------------------------------------------------------------------------
    // triplets

    @Override
    public Param loraA(String name) {
        return adapters.get(name).a();
    }

    @Override
    public Param loraE(String name) {
        return triplets(name).e();
    }

    @Override
    public Param loraB(String name) {
        return adapters.get(name).b();
    }

    @Override
    public int initR(String name) {
        return triplets(name).initR();
    }

    @Override
    public double scaling(String name) {
        return adapters.get(name).scaling();
    }

    @Override
    public int[] heldTriplets(String name) {
        return triplets(name).held().clone();
    }

    @Override
    public List<Boolean> keptTriplets(String name) {
        boolean[] kept = triplets(name).kept();
        List<Boolean> out = new ArrayList<>(kept.length);
        for (boolean k : kept) {
            out.add(k);
        }
        return out;
    }

    @Override
    public int rank(String name) {
        Triplets t = triplets(name);
        int n = 0;
        for (int i : t.held()) {
            n += t.kept()[i] ? 1 : 0;
        }
        return n;
    }

    @Override
    public void keep(String name, boolean[] keepHeld) {
        Triplets t = triplets(name);
        if (keepHeld.length != t.held().length) {
            throw new IllegalArgumentException("adapter '" + name + "' holds " + t.held().length + " triplets, got " + keepHeld.length + " flags");
        }
        Arrays.fill(t.kept(), false);
        INDArray e = t.e().value();
        for (int j = 0; j < keepHeld.length; j++) {
            t.kept()[t.held()[j]] = keepHeld[j];
            if (!keepHeld[j]) {
                e.putScalar(j, 0, 0.0);
            }
        }
    }

    private Triplets triplets(String name) {
        Triplets t = triplets.get(name);
        if (t == null) {
            throw new IllegalArgumentException("this layer holds no adapter '" + name + "'; it holds " + triplets.keySet());
        }
        return t;
    }

    // ------------------------------------------------------------------------------------------------
    // merging

    @Override
    public INDArray deltaWeight(String name) {
        return delta(adapters.get(name));
    }

    // ------------------------------------------------------------------------------------------------
    // TunerLayer

    @Override
    public LoraAdapters adapters() {
        return adapters;
    }

    @Override
    public LoraAdapters.Weight mergeTarget() {
        return weight;
    }

    @Override
    public String methodId() {
        return AdaLoraMethod.ID;
    }

    @Override
    public Linear baseLayer() {
        return baseLayer.get();
    }

    @Override
    public void deleteAdapter(String name) {
        adapters.remove(name);
        triplets.remove(name).e().close();
        replaceChild(KEY_A, loraA.get().without(name));
        replaceChild(KEY_E, loraE.get().without(name));
        replaceChild(KEY_B, loraB.get().without(name));
    }

    /** A, E and B under HF's keys, without a {@code .weight} suffix (they are parameters, not modules, in HF). */
    @Override
    public Map<String, Param> adapterParams(String name) {
        Map<String, Param> out = new LinkedHashMap<>();
        out.put(KEY_A, loraA(name));
        out.put(KEY_E, loraE(name));
        out.put(KEY_B, loraB(name));
        return out;
    }

    /** The kept triplets only: rows of A and E and columns of B whose triplet the rank allocator kept. */
    @Override
    public Map<String, INDArray> savedTensors(String name) {
        Triplets t = triplets(name);
        List<Long> rows = new ArrayList<>();
        for (int j = 0; j < t.held().length; j++) {
            if (t.kept()[t.held()[j]]) {
                rows.add((long) j);
            }
        }
        long[] idx = rows.stream().mapToLong(Long::longValue).toArray();
        Map<String, INDArray> out = new LinkedHashMap<>();
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (idx.length == 0) {                                                    // rank 0: empty tensors, as HF saves them
                DataType type = t.e().value().dataType();
                out.put(KEY_A, Nd4j.create(type, 0, loraA(name).shape()[1]));
                out.put(KEY_E, Nd4j.create(type, 0, 1));
                out.put(KEY_B, Nd4j.create(type, loraB(name).shape()[0], 0));
                return out;
            }
            out.put(KEY_A, loraA(name).value().get(NDArrayIndex.indices(idx), NDArrayIndex.all()).dup('c'));
            out.put(KEY_E, t.e().value().get(NDArrayIndex.indices(idx), NDArrayIndex.all()).dup('c'));
            out.put(KEY_B, loraB(name).value().get(NDArrayIndex.all(), NDArrayIndex.indices(idx)).dup('c'));
        }
        return out;
    }

    @Override
    public boolean excludedFromMixedBatches(String name) {
        return true;
    }

    @Override
    public String mixedBatchLimitation() {
        return "AdaLoRA adapters cannot be used in mixed batches in peft4j";
    }

    @Override
    public String describe() {
        Linear b = baseLayer.get();
        List<String> parts = new ArrayList<>();
        for (String n : adapters.names()) {
            parts.add(n + ": r=" + rank(n) + "/" + initR(n));
        }
        return "AdaLoraLinear(in=" + b.inFeatures() + ", out=" + b.outFeatures() + ", " + parts + ")";
    }
}
