package org.peft4j.lora;

import java.util.ArrayList;
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
import org.peft4j.core.nn.LinearLike;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.MixedBatches;
import org.peft4j.core.tuner.ModuleDict;
import org.peft4j.lora.LoraAdapters.Adapter;

/**
 * LoRA around a {@link Linear}, or any other {@link LinearLike} layer such as a quantized one (HF PEFT's {@code lora.Linear}): y = base(x) + Σ_active s·dropout(x)·Aᵀ·Bᵀ
 * with A {@code [r, in]} ({@code lora_A.<name>}) and B {@code [out, r]} ({@code lora_B.<name>}). The base
 * layer is the child {@code base_layer}; its weight may be stored {@code [out, in]} or {@code [in, out]}
 * (fan_in_fan_out), which only matters for merging, DoRA and PiSSA.
 *
 * <p>DoRA ({@code lora_magnitude_vector.<name>}, m {@code [out]}): with W' = W + s·B·A viewed
 * {@code [out, in]} and c = m/‖W'‖ per output row, the layer adds (c − 1)⊙(x_d·Wᵀ) + c⊙s·(x_d·Aᵀ·Bᵀ), where
 * x_d = dropout(x). As in HF PEFT the norm ‖W'‖ is a constant in backward.
 */
public final class LoraLinear extends Layer implements LoraLayer {
    private final Slot<Layer> baseLayer;
    private final ModuleDict loraA = new ModuleDict();
    private final ModuleDict loraB = new ModuleDict();
    private final ModuleDict magnitudes = new ModuleDict();
    private final LoraAdapters adapters = new LoraAdapters();

    /** What one adapter's forward saved: its input after dropout, x_d·Aᵀ, and DoRA's terms. */
    private record Step(Adapter adapter, INDArray xd, INDArray h, DoraTerms dora) {
    }

    /** DoRA's forward values: ‖W'‖ and c per output row, x_d·Wᵀ and x_d·Aᵀ·Bᵀ. */
    private record DoraTerms(INDArray norm, INDArray c, INDArray baseOut, INDArray loraOut) {
    }

    private record Saved(List<Step> steps) {
    }

    /** The base weight for merging and DoRA: ΔW in its layout, output rows along dim 1 ([out, in]) or 0 ([in, out]). */
    private final LoraAdapters.Weight weight = new LoraAdapters.Weight() {
        @Override
        public INDArray value() {
            return base().denseWeight();
        }

        @Override
        public boolean live() {
            return base().denseWeightIsLive();
        }

        @Override
        public void store(INDArray w) {
            base().setDenseWeight(w);
        }

        @Override
        public INDArray delta(Adapter a) {
            return LoraLinear.this.delta(a.a().value(), a.b().value(), a.scaling());
        }

        @Override
        public INDArray outputNorms(INDArray w) {
            return rowNorms(w);
        }

        @Override
        public INDArray scaleOutputs(INDArray w, INDArray factor) {
            return outIn() ? w.muliColumnVector(factor.reshape(factor.length(), 1)) : w.muliRowVector(factor);
        }
    };

    /** Wraps {@code base}; adapters are added with {@link #addAdapter}. */
    public LoraLinear(LinearLike base) {
        this.baseLayer = child("base_layer", Layer.class, base.asLayer());
        child("lora_A", ModuleDict.class, loraA);
        child("lora_B", ModuleDict.class, loraB);
        child("lora_magnitude_vector", ModuleDict.class, magnitudes);
    }

    /**
     * Adds adapter {@code name} of rank {@code r} and alpha {@code alpha}, initialised as the config says
     * (PiSSA replaces the base weight by its residual), frozen and inactive.
     */
    public void addAdapter(String name, int r, double alpha, LoraConfig config, SplittableRandom rng) {
        LinearLike base = base();
        int in = base.inFeatures();
        int out = base.outFeatures();
        DataType type = weightType();
        double s = config.scaling(r, alpha);
        INDArray a;
        INDArray b;
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            switch (config.initLoraWeights().kind()) {
                case DEFAULT -> {
                    a = Init.uniform(type, 1.0 / Math.sqrt(in), rng, r, in);          // kaiming_uniform_(a=√5): bound 1/√fan_in
                    b = Init.constant(type, 0.0, out, r);
                }
                case RANDOM -> {
                    a = Init.uniform(type, 1.0 / Math.sqrt(in), rng, r, in);          // torch's default Linear init
                    b = Init.uniform(type, 1.0 / Math.sqrt(r), rng, out, r);
                }
                case GAUSSIAN -> {
                    a = Init.normal(type, 1.0 / r, rng, r, in);
                    b = Init.constant(type, 0.0, out, r);
                }
                case PISSA -> {
                    INDArray[] ab = pissa(r, s, type);
                    a = ab[0];
                    b = ab[1];
                }
                default -> throw new IllegalStateException("unknown init " + config.initLoraWeights());
            }
            Param pa = Param.owned("weight", LoraMethod.ID, a, false);
            Param pb = Param.owned("weight", LoraMethod.ID, b, false);
            Param m = null;
            if (config.useDora()) {
                INDArray w = base.denseWeight();
                m = Param.owned("weight", LoraMethod.ID, rowNorms(w.add(delta(pa.value(), pb.value(), s))), false);   // m = ‖W + s·B·A‖ per row
                magnitudes.put(name, new Magnitude(m));
            }
            loraA.put(name, new Linear(pa, null, WeightLayout.OUT_IN));
            loraB.put(name, new Linear(pb, null, WeightLayout.OUT_IN));
            adapters.add(new Adapter(name, r, alpha, s, new Dropout(config.loraDropout()), pa, pb, m));
        }
    }

    /** PiSSA: A = √S_r·V_rᵀ, B = U_r·√S_r from the SVD of W/s (in double), and W ← W − s·B·A. */
    private INDArray[] pissa(int r, double s, DataType type) {
        LinearLike base = base();
        int in = base.inFeatures();
        int out = base.outFeatures();
        if (r > Math.min(in, out)) {
            throw new IllegalArgumentException("PiSSA needs r <= min(in, out) = " + Math.min(in, out) + ", got r = " + r);
        }
        INDArray w = weightOutIn().castTo(DataType.DOUBLE).dup('c');               // [out, in]
        Svd.Result svd = Svd.of(w);
        INDArray sqrtS = Nd4j.create(DataType.DOUBLE, r);
        for (int i = 0; i < r; i++) {
            sqrtS.putScalar(i, Math.sqrt(svd.s().getDouble(i) / s));
        }
        INDArray a = svd.vt().get(NDArrayIndex.interval(0, r), NDArrayIndex.all())
                .mulColumnVector(sqrtS.reshape(r, 1));                                // [r, in]
        INDArray b = svd.u().get(NDArrayIndex.all(), NDArrayIndex.interval(0, r))
                .mulRowVector(sqrtS);                                                 // [out, r]
        INDArray aT = a.castTo(type).dup('c');
        INDArray bT = b.castTo(type).dup('c');
        INDArray residual = w.subi(Gemm.mm(bT.castTo(DataType.DOUBLE), aT.castTo(DataType.DOUBLE), false, false).muli(s)); // W − s·B·A
        INDArray stored = base.layout() == WeightLayout.OUT_IN ? residual : residual.transpose();
        base.setDenseWeight(stored.castTo(type));
        return new INDArray[] {aT, bT};
    }

    /** The base weight viewed {@code [out, in]} (a view for an [in, out] weight; never close it). */
    private INDArray weightOutIn() {
        INDArray w = base().denseWeight();
        return outIn() ? w : w.transpose();
    }

    private boolean outIn() {
        return base().layout() == WeightLayout.OUT_IN;
    }

    /** The wrapped layer. */
    private LinearLike base() {
        return (LinearLike) baseLayer.get();
    }

    /** The type of the base weight's values. */
    private DataType weightType() {
        return base().dataType();
    }

    /** s·B·A in the base weight's layout: {@code [out, in]}, or {@code [in, out]} for fan_in_fan_out. */
    private INDArray delta(INDArray a, INDArray b, double s) {
        return (outIn() ? Gemm.mm(b, a, false, false) : Gemm.mm(a, b, true, true)).muli(s);
    }

    /** The norm of every output row of a weight in the base layout: {@code [out]}. */
    private INDArray rowNorms(INDArray stored) {
        return stored.norm2(outIn() ? 1 : 0);
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        LinearLike base = base();
        INDArray y = base.asLayer().forward(x, tape);                                            // [n, out]
        List<String> perSequence = adapters.perSequence(tape, x.rows());
        if (perSequence != null) {
            addPerSequence(x, y, perSequence);
            return y;
        }
        List<Adapter> applied = adapters.applied();
        INDArray baseOut = null;                                                       // x·Wᵀ without bias, for DoRA
        if (applied.stream().anyMatch(Adapter::dora)) {
            baseOut = base.bias() == null ? y.dup() : y.subRowVector(base.bias().value());
        }
        List<Step> steps = new ArrayList<>(applied.size());
        for (Adapter a : applied) {
            INDArray xd = a.dropout().forward(x, tape);                               // [n, in]
            INDArray h = tape.kernels().matmul(xd, a.a().value(), false, true);       // [n, r] = x_d·Aᵀ
            DoraTerms dora = null;
            if (a.dora()) {
                dora = doraForward(a, x, xd, h, baseOut, tape);
                y.addi(dora.baseOut().mulRowVector(dora.c().sub(1.0)))                // y += (c − 1)⊙(x_d·Wᵀ)
                        .addi(dora.loraOut().mulRowVector(dora.c().mul(a.scaling()))); //    + c⊙s·(h·Bᵀ)
            } else {
                tape.kernels().matmulInto(h, a.b().value(), y, false, true, a.scaling(), 1.0); // y += s·h·Bᵀ
            }
            steps.add(new Step(a, xd, h, dora));
        }
        tape.push(this, new Saved(steps));
        return y;
    }

    private DoraTerms doraForward(Adapter a, INDArray x, INDArray xd, INDArray h, INDArray baseOut, Tape tape) {
        INDArray norm = adapters.doraNorm(weight, a);                                         // ‖W + s·B·A‖ [out], constant in backward
        INDArray c = a.magnitude().value().div(norm);                                         // [out]
        INDArray base = xd == x ? baseOut : tape.kernels().matmul(xd, base().denseWeight(), false, outIn());    // x_d·Wᵀ [n, out]
        INDArray lora = tape.kernels().matmul(h, a.b().value(), false, true);                 // h·Bᵀ [n, out]
        return new DoraTerms(norm, c, base, lora);
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
            INDArray gl = g;                                                            // dL/d(h·Bᵀ) / s
            INDArray dxd = null;
            if (st.dora() != null) {
                DoraTerms d = st.dora();
                if (a.magnitude().isTrainable()) {
                    INDArray contrib = d.loraOut().mul(s).addi(d.baseOut()).muli(g);     // g ⊙ (x_d·Wᵀ + s·h·Bᵀ)
                    INDArray dm = Nd4j.zeros(g.dataType(), g.columns());
                    tape.kernels().addColumnSums(contrib, dm);
                    a.magnitude().grad().addi(dm.divi(d.norm()));                      // dm += Σ_rows(...)/‖W'‖
                }
                gl = g.mulRowVector(d.c());                                             // g ⊙ c
                INDArray wOut = base().denseWeight();
                dxd = tape.kernels().matmul(g.mulRowVector(d.c().sub(1.0)), wOut, false, !outIn()); // (g ⊙ (c − 1))·W  [n, in]
            }
            if (a.b().isTrainable()) {
                tape.kernels().matmulInto(gl, st.h(), a.b().grad(), true, false, s, 1.0); // dB += s·glᵀ·h
            }
            INDArray dh = tape.kernels().matmul(gl, a.b().value(), false, false).muli(s); // [n, r] = s·gl·B
            if (a.a().isTrainable()) {
                tape.kernels().matmulInto(dh, st.xd(), a.a().grad(), true, false, 1.0, 1.0); // dA += dhᵀ·x_d
            }
            INDArray dLora = tape.kernels().matmul(dh, a.a().value(), false, false);   // [n, in] = dh·A
            dxd = dxd == null ? dLora : dxd.addi(dLora);
            INDArray dx = a.dropout().backward(dxd, tape);
            dxAdapters = dxAdapters == null ? dx : dxAdapters.addi(dx);
        }
        INDArray dx = baseLayer.get().backward(g, tape);                               // [n, in]
        return dxAdapters == null ? dx : dx.addi(dxAdapters);
    }

    /** Mixed batch: every sequence gets the update of its own adapter (rows b·T … (b+1)·T − 1). */
    private void addPerSequence(INDArray x, INDArray y, List<String> names) {
        int batch = names.size();
        for (Adapter a : adapters.heldAmong(names)) {
            if (a.dora()) {
                throw new IllegalArgumentException("adapter '" + a.name() + "' uses DoRA, which cannot run per sequence");
            }
            for (int b = 0; b < batch; b++) {
                if (names.get(b).equals(a.name())) {
                    INDArray xb = MixedBatches.rowsOf(x, b, batch).dup('c');                      // [T, in]
                    INDArray h = Gemm.mm(xb, a.a().value(), false, true);                         // [T, r]
                    MixedBatches.rowsOf(y, b, batch).addi(Gemm.mm(h, a.b().value(), false, true).muli(a.scaling()));
                }
            }
        }
    }

    /** Holds the current DoRA norms fixed (true) or computes them in every forward again (false); for gradient tests. */
    void pinDoraNorms(boolean pin) {
        adapters.pinDoraNorms(weight, pin);
    }

    // ------------------------------------------------------------------------------------------------
    // merging

    @Override
    public INDArray deltaWeight(String name) {
        Adapter a = adapters.get(name);
        return delta(a.a().value(), a.b().value(), a.scaling());
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
        return LoraMethod.ID;
    }

    @Override
    public Layer baseLayer() {
        return baseLayer.get();
    }

    /** The wrapped layer as the linear layer it is: a {@link Linear} or, for QLoRA, a quantized one. */
    public LinearLike linearBase() {
        return base();
    }

    @Override
    public void deleteAdapter(String name) {
        adapters.remove(name);
        loraA.remove(name);
        loraB.remove(name);
        if (magnitudes.contains(name)) {
            magnitudes.remove(name);
        }
    }

    @Override
    public Map<String, Param> adapterParams(String name) {
        return adapters.params(name, "lora_A.weight", "lora_B.weight");
    }

    @Override
    public String describe() {
        LinearLike b = base();
        List<String> parts = new ArrayList<>();
        for (String n : adapters.names()) {
            Adapter a = adapters.get(n);
            parts.add(n + ": r=" + a.rank() + (a.dora() ? ", dora" : ""));
        }
        return "LoraLinear(in=" + b.inFeatures() + ", out=" + b.outFeatures() + ", " + parts + ")";
    }

    /** DoRA's magnitude vector m {@code [out]} as a module, so its path is {@code lora_magnitude_vector.<name>.weight} as in HF. */
    static final class Magnitude extends Module {
        Magnitude(Param weight) {
            register(weight);
        }
    }
}
