package org.peft4j.core.model.gpt2;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.model.CausalLmModel;
import org.peft4j.core.model.ParamValues;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.WeightSource;
import org.peft4j.core.nn.ActivationLayer;
import org.peft4j.core.nn.Dropout;
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.EmbeddingLayer;
import org.peft4j.core.nn.InputHooks;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.LayerNorm;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleList;
import org.peft4j.core.nn.Mlp;
import org.peft4j.core.nn.MultiHeadAttention;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.TransformerBlock;
import org.peft4j.core.param.Param;

/**
 * A GPT-2 decoder with an LM head ({@code GPT2LMHeadModel}); parameter paths are HF's:
 * {@code transformer.wte.weight}, {@code transformer.h.0.attn.c_attn.weight} ({@code [in, out]},
 * Conv1D layout), ..., {@code transformer.ln_f.weight}, and {@code lm_head.weight} tied to wte by default.
 *
 * <p>Data path: ids → wte (+ input hooks) + wpe(position) → dropout → blocks → ln_f → lm_head → logits.
 * Backward runs only as deep as gradients are needed: with everything frozen below block k, blocks
 * below k run without recording and are skipped in backward.
 *
 * <p>All params are frozen when the model is built; unfreeze what should train.
 */
public final class Gpt2Model extends CausalLmModel {
    /** HF's causal-mask buffers, saved by older GPT-2 checkpoints; not params. */
    private static final Pattern HF_BUFFER = Pattern.compile("(transformer\\.)?h\\.\\d+\\.attn\\.(bias|masked_bias)");

    private final Gpt2Config config;
    private final Slot<Transformer> transformer;

    /** The {@code transformer} submodule: embeddings, blocks and the final norm. */
    public static final class Transformer extends Module {
        private final Slot<EmbeddingLayer> wte;
        private final Slot<EmbeddingLayer> wpe;
        private final Slot<ModuleList> h;
        private final Slot<Layer> lnF;
        private final Dropout drop;

        Transformer(Embedding wte, Embedding wpe, ModuleList<TransformerBlock> h, LayerNorm lnF, double embdPdrop) {
            this.wte = child("wte", EmbeddingLayer.class, wte);
            this.wpe = child("wpe", EmbeddingLayer.class, wpe);
            this.h = child("h", ModuleList.class, h);
            this.lnF = child("ln_f", Layer.class, lnF);
            this.drop = new Dropout(embdPdrop);
        }

        @SuppressWarnings("unchecked")
        ModuleList<TransformerBlock> blocks() {
            return (ModuleList<TransformerBlock>) h.get();
        }
    }

    private Gpt2Model(Gpt2Config config, Kernels kernels, Transformer transformer, Linear lmHead) {
        super(kernels);
        this.config = config;
        this.transformer = child("transformer", Transformer.class, transformer);
        child(LM_HEAD, Linear.class, lmHead);
    }

    /**
     * A randomly initialised model, as HF's {@code GPT2PreTrainedModel._init_weights} does: weights
     * ~ N(0, initializer_range²), c_proj weights scaled by 1/√(2·n_layer), biases 0, LayerNorms 1/0.
     */
    public static Gpt2Model random(Gpt2Config config, long seed, DataType type, KernelChoice kernels) {
        return build(config, ParamValues.random(seed, type), kernels);
    }

    /**
     * The model whose params are the tensors of an HF GPT-2 checkpoint ({@code GPT2LMHeadModel}, or
     * {@code GPT2Model} whose names lack the "transformer." prefix). Conv1D weights are {@code [in, out]}
     * in HF's files and here alike. {@code lm_head.weight} is read only when the head is not tied (a tied
     * one is the token embedding); HF's non-param buffers {@code attn.bias}/{@code attn.masked_bias} are
     * skipped; any other tensor the config does not account for is an error. All params are frozen.
     */
    public static Gpt2Model fromWeights(Gpt2Config config, WeightSource weights, DataType type, KernelChoice kernels) {
        ParamValues.Checkpoint values = ParamValues.checkpoint(weights, type, "transformer.");
        Gpt2Model model = build(config, values, kernels);
        requireAllUsed(values, HF_BUFFER, config.tieWordEmbeddings(), "GPT2LMHeadModel");
        return model;
    }

    /** Builds the module tree, asking {@code values} for each param in HF's order of initialisation. */
    private static Gpt2Model build(Gpt2Config config, ParamValues values, KernelChoice kernels) {
        double std = config.initializerRange();
        double projStd = std / Math.sqrt(2.0 * config.nLayer());
        int d = config.nEmbd();
        Embedding wte = new Embedding(Param.frozen("weight", values.normal("transformer.wte.weight", std, config.vocabSize(), d)));
        Embedding wpe = new Embedding(Param.frozen("weight", values.normal("transformer.wpe.weight", std, config.nPositions(), d)));
        List<TransformerBlock> blocks = new ArrayList<>();
        for (int i = 0; i < config.nLayer(); i++) {
            String p = "transformer.h." + i + ".";
            MultiHeadAttention attn = MultiHeadAttention.fused(attentionSpec(config, i),
                    "c_attn", conv1d(values, p + "attn.c_attn", d, 3 * d, std),
                    "c_proj", conv1d(values, p + "attn.c_proj", d, d, projStd));
            Mlp mlp = new Mlp("c_fc", conv1d(values, p + "mlp.c_fc", d, config.nInner(), std),
                    new ActivationLayer(config.activation()),
                    "c_proj", conv1d(values, p + "mlp.c_proj", config.nInner(), d, projStd), config.residPdrop());
            blocks.add(new TransformerBlock(TransformerBlock.Names.GPT2, layerNorm(values, p + "ln_1", d, config), attn,
                    layerNorm(values, p + "ln_2", d, config), mlp));
        }
        LayerNorm lnF = layerNorm(values, "transformer.ln_f", d, config);
        Linear head = config.tieWordEmbeddings()
                ? new Linear(wte.weight(), null, WeightLayout.OUT_IN)
                : new Linear(Param.frozen("weight", values.normal("lm_head.weight", std, config.vocabSize(), d)), null, WeightLayout.OUT_IN);
        Transformer transformer = new Transformer(wte, wpe, new ModuleList<>(TransformerBlock.class, blocks), lnF, config.embdPdrop());
        return new Gpt2Model(config, kernels.resolve(), transformer, head);
    }

    /** HF's Conv1D: weight {@code [in, out]} ~ N(0, std²), bias 0. */
    private static Linear conv1d(ParamValues values, String path, int in, int out, double std) {
        Param weight = Param.frozen("weight", values.normal(path + ".weight", std, in, out));
        Param bias = Param.frozen("bias", values.constant(path + ".bias", 0.0, out));
        return new Linear(weight, bias, WeightLayout.IN_OUT);
    }

    private static LayerNorm layerNorm(ParamValues values, String path, int d, Gpt2Config config) {
        return new LayerNorm(Param.frozen("weight", values.constant(path + ".weight", 1.0, d)),
                Param.frozen("bias", values.constant(path + ".bias", 0.0, d)), config.layerNormEpsilon());
    }

    /** The spec of block {@code layer}'s attention under this config. */
    static MultiHeadAttention.Spec attentionSpec(Gpt2Config config, int layer) {
        return new MultiHeadAttention.Spec(layer, config.nHead(), config.nHead(), config.headDim(), true, config.attnPdrop(),
                config.residPdrop());
    }

    public Gpt2Config config() {
        return config;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public String modelType() {
        return "gpt2";
    }

    @Override
    public ObjectNode hfConfig() {
        return config.toHfJson();
    }

    /** The token embedding param {@code transformer.wte.weight}. */
    @Override
    public Param tokenEmbedding() {
        return ((Embedding) transformer.get().wte.get()).weight();
    }

    @Override
    protected ModuleList<TransformerBlock> layers() {
        return transformer.get().blocks();
    }

    @Override
    protected boolean embeddingsRequireGrad() {
        Transformer t = transformer.get();
        return t.wte.get().requiresGrad() || t.wpe.get().requiresGrad();
    }

    @Override
    protected INDArray embed(TokenBatch batch, SequenceContext ctx, InputHooks hooks, Tape tape) {
        Transformer t = transformer.get();
        INDArray tokens = hooks.forward(t.wte.get().forward(batch.ids(), tape), tape);  // [B·S, d]
        INDArray positions = t.wpe.get().forward(positionIds(ctx), tape);              // [B·S, d]
        return t.drop.forward(tokens.addi(positions), tape);
    }

    @Override
    protected void backwardEmbeddings(INDArray g, InputHooks hooks, Tape tape) {
        Transformer t = transformer.get();
        g = t.drop.backward(g, tape);
        t.wpe.get().backward(g, tape);
        t.wte.get().backward(hooks.backward(g, tape), tape);
    }

    @Override
    protected Layer finalNorm() {
        return transformer.get().lnF.get();
    }

    private int[] positionIds(SequenceContext ctx) {
        int past = ctx.pastLength();
        if (past + ctx.seqLen() > config.nPositions()) {
            throw new IllegalArgumentException("sequence of " + ctx.seqLen() + " tokens after " + past + " past positions exceeds n_positions = "
                    + config.nPositions());
        }
        int[] ids = new int[ctx.rows()];
        for (int b = 0; b < ctx.batch(); b++) {
            for (int s = 0; s < ctx.seqLen(); s++) {
                ids[b * ctx.seqLen() + s] = past + s;
            }
        }
        return ids;
    }

    @Override
    public String describe() {
        return "Gpt2Model(layers=" + config.nLayer() + ", hidden=" + config.nEmbd() + ", heads=" + config.nHead() + ", vocab="
                + config.vocabSize() + ")";
    }
}
