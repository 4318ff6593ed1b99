package org.peft4j.core.model.llama;

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
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.EmbeddingLayer;
import org.peft4j.core.nn.GatedMlp;
import org.peft4j.core.nn.InputHooks;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleList;
import org.peft4j.core.nn.MultiHeadAttention;
import org.peft4j.core.nn.RmsNorm;
import org.peft4j.core.nn.RotaryEmbedding;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.TransformerBlock;
import org.peft4j.core.param.Param;

/**
 * A LLaMA-style decoder with an LM head, as HF's {@code LlamaForCausalLM} (and {@code Qwen2ForCausalLM},
 * {@code MistralForCausalLM}) computes it; parameter paths are HF's: {@code model.embed_tokens.weight},
 * {@code model.layers.0.self_attn.q_proj.weight} ({@code [out, in]}), ..., {@code model.layers.0.mlp.down_proj.weight},
 * {@code model.layers.0.input_layernorm.weight}, {@code model.layers.0.post_attention_layernorm.weight},
 * {@code model.norm.weight} and {@code lm_head.weight} (the embedding matrix itself when tied).
 *
 * <p>Data path: ids → embed_tokens (+ input hooks) → blocks → norm → lm_head → logits, where a block is
 * h = x + o(attn(rope(q(n₁)), rope(k(n₁)), v(n₁))) with n₁ = rmsnorm(x), then y = h + down(silu(gate(n₂)) ⊙ up(n₂))
 * with n₂ = rmsnorm(h). Rotary positions start at the number of past or cached positions. Backward runs
 * only as deep as gradients are needed: blocks below the first trainable one run without recording.
 *
 * <p>All params are frozen when the model is built; unfreeze what should train.
 */
public final class LlamaModel extends CausalLmModel {
    /** Older LLaMA checkpoints save the rotary inverse frequencies; they are recomputed from the config. */
    private static final Pattern HF_BUFFER = Pattern.compile("(model\\.)?layers\\.\\d+\\.self_attn\\.rotary_emb\\.inv_freq");

    private final LlamaConfig config;
    private final Slot<Decoder> model;

    /** The {@code model} submodule (HF's LlamaModel): token embeddings, blocks and the final norm. */
    public static final class Decoder extends Module {
        private final Slot<EmbeddingLayer> embedTokens;
        private final Slot<ModuleList> layers;
        private final Slot<RmsNorm> norm;

        Decoder(Embedding embedTokens, ModuleList<TransformerBlock> layers, RmsNorm norm) {
            this.embedTokens = child("embed_tokens", EmbeddingLayer.class, embedTokens);
            this.layers = child("layers", ModuleList.class, layers);
            this.norm = child("norm", RmsNorm.class, norm);
        }

        @SuppressWarnings("unchecked")
        ModuleList<TransformerBlock> blocks() {
            return (ModuleList<TransformerBlock>) layers.get();
        }
    }

    private LlamaModel(LlamaConfig config, Kernels kernels, Decoder model, Linear lmHead) {
        super(kernels);
        this.config = config;
        this.model = child("model", Decoder.class, model);
        child(LM_HEAD, Layer.class, lmHead);       // a Layer, so that modules_to_save and LoRA can wrap the head as HF PEFT does
    }

    /**
     * A randomly initialised model, as HF's {@code LlamaPreTrainedModel._init_weights} does: linear and
     * embedding weights ~ N(0, initializer_range²), biases 0, RMSNorm weights 1.
     */
    public static LlamaModel random(LlamaConfig config, long seed, DataType type, KernelChoice kernels) {
        return build(config, ParamValues.random(seed, type), kernels);
    }

    /**
     * The model whose params are the tensors of an HF checkpoint with this config's names ({@code LlamaForCausalLM},
     * or a base {@code LlamaModel} whose names lack the "model." prefix). {@code lm_head.weight} is read only when
     * the head is not tied; saved rotary {@code inv_freq} buffers are skipped; any other tensor the config does
     * not account for (a bias the config does not have, say) is an error. All params are frozen.
     */
    public static LlamaModel fromWeights(LlamaConfig config, WeightSource weights, DataType type, KernelChoice kernels) {
        ParamValues.Checkpoint values = ParamValues.checkpoint(weights, type, "model.");
        LlamaModel built = build(config, values, kernels);
        requireAllUsed(values, HF_BUFFER, config.tieWordEmbeddings(), "a " + config.modelType() + " model");
        return built;
    }

    /** Builds the module tree, asking {@code values} for each param in HF's order of creation. */
    private static LlamaModel build(LlamaConfig config, ParamValues values, KernelChoice kernelChoice) {
        Kernels kernels = kernelChoice.resolve();
        double std = config.initializerRange();
        int d = config.hiddenSize();
        int inner = config.intermediateSize();
        Embedding embedTokens = new Embedding(Param.frozen("weight", values.normal("model.embed_tokens.weight", std, config.vocabSize(), d)));
        RotaryEmbedding rotary = new RotaryEmbedding(config.ropeInverseFrequencies(), kernels);
        String[] attentionNames = {"q_proj", "k_proj", "v_proj", "o_proj"};
        List<TransformerBlock> blocks = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            MultiHeadAttention.Spec spec = new MultiHeadAttention.Spec(i, config.numAttentionHeads(), config.numKeyValueHeads(), config.headDim(),
                    true, config.attentionDropout(), 0.0);
            MultiHeadAttention attention = MultiHeadAttention.separate(spec, attentionNames,
                    linear(values, p + "self_attn.q_proj", d, config.queryDim(), config.qkvBias(), std),
                    linear(values, p + "self_attn.k_proj", d, config.keyValueDim(), config.qkvBias(), std),
                    linear(values, p + "self_attn.v_proj", d, config.keyValueDim(), config.qkvBias(), std),
                    linear(values, p + "self_attn.o_proj", config.queryDim(), d, config.outputBias(), std), rotary);
            GatedMlp mlp = new GatedMlp("gate_proj", linear(values, p + "mlp.gate_proj", d, inner, config.mlpBias(), std),
                    "up_proj", linear(values, p + "mlp.up_proj", d, inner, config.mlpBias(), std),
                    "down_proj", linear(values, p + "mlp.down_proj", inner, d, config.mlpBias(), std), config.hiddenAct());
            blocks.add(new TransformerBlock(TransformerBlock.Names.LLAMA, rmsNorm(values, p + "input_layernorm", config), attention,
                    rmsNorm(values, p + "post_attention_layernorm", config), mlp));
        }
        RmsNorm norm = rmsNorm(values, "model.norm", config);
        Linear head = config.tieWordEmbeddings()
                ? new Linear(embedTokens.weight(), null, WeightLayout.OUT_IN)
                : linear(values, "lm_head", d, config.vocabSize(), false, std);
        Decoder decoder = new Decoder(embedTokens, new ModuleList<>(TransformerBlock.class, blocks), norm);
        return new LlamaModel(config, kernels, decoder, head);
    }

    /** torch.nn.Linear: weight {@code [out, in]} ~ N(0, std²), optional bias 0. */
    private static Linear linear(ParamValues values, String path, int in, int out, boolean withBias, double std) {
        Param weight = Param.frozen("weight", values.normal(path + ".weight", std, out, in));
        Param bias = withBias ? Param.frozen("bias", values.constant(path + ".bias", 0.0, out)) : null;
        return new Linear(weight, bias, WeightLayout.OUT_IN);
    }

    private static RmsNorm rmsNorm(ParamValues values, String path, LlamaConfig config) {
        return new RmsNorm(Param.frozen("weight", values.constant(path + ".weight", 1.0, config.hiddenSize())), config.rmsNormEps());
    }

    /** The shape this model was built with. */
    public LlamaConfig config() {
        return config;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public String modelType() {
        return config.modelType();
    }

    @Override
    public ObjectNode hfConfig() {
        return config.toHfJson();
    }

    /** The token embedding param {@code model.embed_tokens.weight}. */
    @Override
    public Param tokenEmbedding() {
        return ((Embedding) model.get().embedTokens.get()).weight();
    }

    @Override
    protected ModuleList<TransformerBlock> layers() {
        return model.get().blocks();
    }

    @Override
    protected boolean embeddingsRequireGrad() {
        return model.get().embedTokens.get().requiresGrad();
    }

    @Override
    protected INDArray embed(TokenBatch batch, SequenceContext ctx, InputHooks hooks, Tape tape) {
        INDArray x = hooks.forward(model.get().embedTokens.get().forward(batch.ids(), tape), tape);  // [B·S, d]
        checkSlidingWindow(ctx);            // after the hooks: the virtual tokens they add count toward the window
        return x;
    }

    @Override
    protected void backwardEmbeddings(INDArray g, InputHooks hooks, Tape tape) {
        model.get().embedTokens.get().backward(hooks.backward(g, tape), tape);
    }

    @Override
    protected Layer finalNorm() {
        return model.get().norm.get();
    }

    /** Sliding-window attention is not implemented: it equals full attention only while every sequence fits the window. */
    private void checkSlidingWindow(SequenceContext ctx) {
        int window = config.slidingWindow();
        if (window > 0 && ctx.keyLength() > window) {
            throw new IllegalArgumentException("sequence of " + ctx.seqLen() + " positions after " + ctx.pastLength() + " past positions exceeds "
                    + "sliding_window = " + window + "; sliding-window attention is not implemented, so sequences must fit the window");
        }
    }

    @Override
    public String describe() {
        return "LlamaModel(" + config.modelType() + ", layers=" + config.numHiddenLayers() + ", hidden=" + config.hiddenSize() + ", heads="
                + config.numAttentionHeads() + ", kv_heads=" + config.numKeyValueHeads() + ", vocab=" + config.vocabSize() + ")";
    }
}
