package org.peft4j.lora;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.Gemm;
import org.peft4j.core.nn.Dropout;
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.EmbeddingLayer;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.MixedBatches;
import org.peft4j.core.tuner.ModuleDict;
import org.peft4j.core.tuner.ParamDict;
import org.peft4j.lora.LoraAdapters.Adapter;

/**
 * LoRA around an {@link Embedding} (HF PEFT's {@code lora.Embedding}): y = W[ids] + Σ_active s·Aᵀ[ids]·Bᵀ with
 * {@code lora_embedding_A.<name>} A {@code [r, numEmbeddings]} and {@code lora_embedding_B.<name>} B
 * {@code [dim, r]}. HF's roles are swapped relative to a Linear: A starts at zero and B ~ N(0, 1), and there
 * is no dropout. ΔW = s·Aᵀ·Bᵀ {@code [numEmbeddings, dim]}.
 *
 * <p>DoRA: with c = m/‖W + ΔW‖ per embedding dimension (the norm over the vocabulary, a constant in backward),
 * the layer adds (c − 1)⊙W[ids] + c⊙s·Aᵀ[ids]·Bᵀ.
 */
public final class LoraEmbedding extends EmbeddingLayer implements LoraLayer {
    private final Slot<Embedding> baseLayer;
    private final Slot<ParamDict> embeddingA;
    private final Slot<ParamDict> embeddingB;
    private final ModuleDict magnitudes = new ModuleDict();
    private final LoraAdapters adapters = new LoraAdapters();

    private record Step(Adapter adapter, INDArray h, INDArray loraOut, INDArray norm, INDArray c) {
    }

    private record Saved(int[] ids, INDArray baseOut, List<Step> steps) {
    }

    /** The table for merging and DoRA: ΔW = s·Aᵀ·Bᵀ {@code [numEmbeddings, dim]}, whose outputs are the columns. */
    private final LoraAdapters.Weight weight = new LoraAdapters.Weight() {
        @Override
        public INDArray value() {
            return baseLayer.get().weight().value();
        }

        @Override
        public INDArray delta(Adapter a) {
            return LoraEmbedding.delta(a.a().value(), a.b().value(), a.scaling());
        }

        @Override
        public INDArray outputNorms(INDArray w) {
            return w.norm2(0);
        }

        @Override
        public INDArray scaleOutputs(INDArray w, INDArray factor) {
            return w.muliRowVector(factor);
        }
    };

    /** Wraps {@code base}; adapters are added with {@link #addAdapter}. */
    public LoraEmbedding(Embedding base) {
        this.baseLayer = child("base_layer", Embedding.class, base);
        this.embeddingA = child("lora_embedding_A", ParamDict.class, new ParamDict());
        this.embeddingB = child("lora_embedding_B", ParamDict.class, new ParamDict());
        child("lora_magnitude_vector", ModuleDict.class, magnitudes);
    }

    /** Adds adapter {@code name} of rank {@code r}, frozen and inactive: A = 0 and B ~ N(0, 1), or both random for {@link LoraInit#RANDOM}. */
    public void addAdapter(String name, int r, double alpha, LoraConfig config, SplittableRandom rng) {
        Embedding base = baseLayer.get();
        int vocab = base.numEmbeddings();
        int dim = base.embeddingDim();
        DataType type = base.weight().value().dataType();
        double s = config.scaling(r, alpha);
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            boolean random = config.initLoraWeights().kind() == LoraInit.Kind.RANDOM;
            INDArray a = random ? Init.normal(type, 1.0, rng, r, vocab) : Init.constant(type, 0.0, r, vocab);
            INDArray b = Init.normal(type, 1.0, rng, dim, r);
            Param pa = Param.owned(name, LoraMethod.ID, a, false);
            Param pb = Param.owned(name, LoraMethod.ID, b, false);
            Param m = null;
            if (config.useDora()) {
                m = Param.owned("weight", LoraMethod.ID, base.weight().value().add(delta(a, b, s)).norm2(0), false);
                magnitudes.put(name, new LoraLinear.Magnitude(m));
            }
            replaceChild("lora_embedding_A", embeddingA.get().with(pa));
            replaceChild("lora_embedding_B", embeddingB.get().with(pb));
            adapters.add(new Adapter(name, r, alpha, s, new Dropout(0.0), pa, pb, m));
        }
    }

    /** s·Aᵀ·Bᵀ {@code [numEmbeddings, dim]}. */
    private static INDArray delta(INDArray a, INDArray b, double s) {
        return Gemm.mm(a, b, true, true).muli(s);
    }

    @Override
    public int numEmbeddings() {
        return baseLayer.get().numEmbeddings();
    }

    @Override
    public int embeddingDim() {
        return baseLayer.get().embeddingDim();
    }

    /** Rows {@code ids} of Aᵀ: {@code [n, r]}. */
    private static INDArray gatherA(Adapter a, int[] ids, Tape tape) {
        return tape.kernels().gatherRows(a.a().value().transpose().dup('c'), ids);
    }

    @Override
    public INDArray forward(int[] ids, Tape tape) {
        Embedding base = baseLayer.get();
        INDArray y = base.forward(ids, tape);                                          // [n, dim]
        List<String> perSequence = adapters.perSequence(tape, ids.length);
        if (perSequence != null) {
            addPerSequence(ids, y, perSequence, tape);
            return y;
        }
        List<Adapter> applied = adapters.applied();
        INDArray baseOut = applied.stream().anyMatch(Adapter::dora) ? y.dup() : null;
        List<Step> steps = new ArrayList<>(applied.size());
        for (Adapter a : applied) {
            INDArray h = gatherA(a, ids, tape);                                        // [n, r] = Aᵀ[ids]
            INDArray lora = tape.kernels().matmul(h, a.b().value(), false, true);      // [n, dim] = h·Bᵀ
            if (a.dora()) {
                INDArray norm = adapters.doraNorm(weight, a);                          // ‖W + ΔW‖ per dimension [dim], constant in backward
                INDArray c = a.magnitude().value().div(norm);
                y.addi(baseOut.mulRowVector(c.sub(1.0))).addi(lora.mulRowVector(c.mul(a.scaling())));
                steps.add(new Step(a, h, lora, norm, c));
            } else {
                y.addi(lora.mul(a.scaling()));
                steps.add(new Step(a, h, null, null, null));
            }
        }
        tape.push(this, new Saved(ids, baseOut, steps));
        return y;
    }

    @Override
    public void backward(INDArray gradOutput, Tape tape) {
        Saved saved = tape.pop(this, Saved.class);
        INDArray g = gradOutput;                                                        // [n, dim]
        for (int i = saved.steps().size() - 1; i >= 0; i--) {
            Step st = saved.steps().get(i);
            Adapter a = st.adapter();
            double s = a.scaling();
            INDArray gl = g;
            if (a.dora()) {
                if (a.magnitude().isTrainable()) {
                    INDArray contrib = st.loraOut().mul(s).addi(saved.baseOut()).muli(g);
                    INDArray dm = Nd4j.zeros(g.dataType(), g.columns());
                    tape.kernels().addColumnSums(contrib, dm);
                    a.magnitude().grad().addi(dm.divi(st.norm()));                     // dm += Σ_rows g⊙(W[ids] + s·h·Bᵀ)/‖W + ΔW‖
                }
                gl = g.mulRowVector(st.c());
            }
            if (a.b().isTrainable()) {
                tape.kernels().matmulInto(gl, st.h(), a.b().grad(), true, false, s, 1.0); // dB [dim, r] += s·glᵀ·h
            }
            if (a.a().isTrainable()) {
                INDArray dh = tape.kernels().matmul(gl, a.b().value(), false, false).muli(s); // [n, r]
                INDArray dAt = Nd4j.zeros(g.dataType(), numEmbeddings(), a.rank());    // [numEmbeddings, r]
                tape.kernels().scatterAddRows(dAt, saved.ids(), dh);
                a.a().grad().addi(dAt.transpose());                                     // dA [r, numEmbeddings]
            }
        }
        baseLayer.get().backward(g, tape);
    }

    /** Holds the current DoRA norms fixed (true) or computes them in every forward again (false); for gradient tests. */
    void pinDoraNorms(boolean pin) {
        adapters.pinDoraNorms(weight, pin);
    }

    private void addPerSequence(int[] ids, INDArray y, List<String> names, Tape tape) {
        for (Adapter a : adapters.heldAmong(names)) {
            if (a.dora()) {
                throw new IllegalArgumentException("adapter '" + a.name() + "' uses DoRA, which cannot run per sequence");
            }
            INDArray update = tape.kernels().matmul(gatherA(a, ids, tape), a.b().value(), false, true).muli(a.scaling());
            INDArray withAdapter = y.add(update);
            MixedBatches.copyRows(withAdapter, y, names, a.name());
        }
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
    public Embedding baseLayer() {
        return baseLayer.get();
    }

    @Override
    public void deleteAdapter(String name) {
        adapters.remove(name);
        replaceChild("lora_embedding_A", embeddingA.get().without(name));
        replaceChild("lora_embedding_B", embeddingB.get().without(name));
        if (magnitudes.contains(name)) {
            magnitudes.remove(name);
        }
    }

    @Override
    public Map<String, Param> adapterParams(String name) {
        return adapters.params(name, "lora_embedding_A", "lora_embedding_B");
    }

    @Override
    public String describe() {
        List<String> parts = new ArrayList<>();
        for (String n : adapters.names()) {
            parts.add(n + ": r=" + adapters.get(n).rank() + (adapters.get(n).dora() ? ", dora" : ""));
        }
        return "LoraEmbedding(" + numEmbeddings() + ", " + embeddingDim() + ", " + parts + ")";
    }
}
