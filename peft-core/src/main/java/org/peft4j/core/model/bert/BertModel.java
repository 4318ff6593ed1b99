package org.peft4j.core.model.bert;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.model.TextEncoder;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.TransformerModel;
import org.peft4j.core.model.bert.BertParamSource.Kind;
import org.peft4j.core.nn.InputHooks;
import org.peft4j.core.nn.ModuleList;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;

/**
 * A BERT encoder as HF's {@code modeling_bert.BertModel}; parameter paths are HF's:
 * {@code embeddings.word_embeddings.weight}, {@code encoder.layer.0.attention.self.query.weight}
 * ({@code [out, in]}), ..., {@code encoder.layer.N.output.LayerNorm.bias}, and {@code pooler.dense.*}
 * when the model has a pooler.
 *
 * <p>Data path: ids → word embeddings (+ input hooks) + token type + position → LayerNorm → dropout →
 * post-LN layers → last hidden state {@code [batch·seq', hidden]}. The pooler (tanh(dense(first row)))
 * is applied by the heads that use it. Backward runs only as deep as gradients are needed: with
 * everything frozen below layer k, layers below k run without recording and are skipped in backward.
 *
 * <p>All params are frozen when the model is built; unfreeze what should train.
 */
public final class BertModel extends TransformerModel implements TextEncoder {
    private final BertConfig config;
    private final Slot<BertEmbeddings> embeddings;
    private final Slot<BertEncoder> encoder;
    private final Slot<BertPooler> pooler;

    private BertModel(BertConfig config, Kernels kernels, BertEmbeddings embeddings, BertEncoder encoder, BertPooler pooler) {
        super(kernels);
        this.config = config;
        this.embeddings = child("embeddings", BertEmbeddings.class, embeddings);
        this.encoder = child("encoder", BertEncoder.class, encoder);
        this.pooler = pooler == null ? null : child("pooler", BertPooler.class, pooler);
    }

    /**
     * A randomly initialised model with a pooler, as HF's {@code BertPreTrainedModel._init_weights} does:
     * Linear and Embedding weights ~ N(0, initializer_range²) (the pad_token_id row of the word
     * embeddings 0), biases 0, LayerNorms 1/0.
     */
    public static BertModel random(BertConfig config, long seed, DataType type, KernelChoice kernels) {
        return random(config, true, seed, type, kernels);
    }

    /** {@link #random(BertConfig, long, DataType, KernelChoice)}, with or without the pooler. */
    public static BertModel random(BertConfig config, boolean withPooler, long seed, DataType type, KernelChoice kernels) {
        return build(config, withPooler, new RandomBertParams(config, type, new SplittableRandom(seed)), kernels.resolve());
    }

    /** Builds the model, taking every param from {@code source} by its path relative to this model. */
    static BertModel build(BertConfig config, boolean withPooler, BertParamSource source, Kernels kernels) {
        int d = config.hiddenSize();
        double eps = config.layerNormEps();
        BertEmbeddings embeddings = new BertEmbeddings(
                BertBuild.embedding(source, "embeddings.word_embeddings", config.vocabSize(), d, Kind.NORMAL_PAD_ROW_ZERO),
                BertBuild.embedding(source, "embeddings.position_embeddings", config.maxPositionEmbeddings(), d, Kind.NORMAL),
                BertBuild.embedding(source, "embeddings.token_type_embeddings", config.typeVocabSize(), d, Kind.NORMAL),
                BertBuild.layerNorm(source, "embeddings.LayerNorm", d, eps), config.hiddenDropoutProb());
        List<BertLayer> layers = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            String p = "encoder.layer." + i + ".";
            BertSelfAttention self = new BertSelfAttention(i, config.numAttentionHeads(), config.headDim(), config.attentionProbsDropoutProb(),
                    BertBuild.linear(source, p + "attention.self.query", d, d),
                    BertBuild.linear(source, p + "attention.self.key", d, d),
                    BertBuild.linear(source, p + "attention.self.value", d, d));
            BertOutput selfOutput = new BertOutput(BertBuild.linear(source, p + "attention.output.dense", d, d),
                    BertBuild.layerNorm(source, p + "attention.output.LayerNorm", d, eps), config.hiddenDropoutProb());
            BertIntermediate intermediate = new BertIntermediate(BertBuild.linear(source, p + "intermediate.dense", d, config.intermediateSize()),
                    config.hiddenAct());
            BertOutput output = new BertOutput(BertBuild.linear(source, p + "output.dense", config.intermediateSize(), d),
                    BertBuild.layerNorm(source, p + "output.LayerNorm", d, eps), config.hiddenDropoutProb());
            layers.add(new BertLayer(new BertAttention(self, selfOutput), intermediate, output));
        }
        BertPooler pooler = withPooler ? new BertPooler(BertBuild.linear(source, "pooler.dense", d, d)) : null;
        return new BertModel(config, kernels, embeddings, new BertEncoder(layers), pooler);
    }

    /** The config this model was built from. */
    public BertConfig config() {
        return config;
    }

    @Override
    public int hiddenSize() {
        return config.hiddenSize();
    }

    @Override
    public String modelType() {
        return "bert";
    }

    @Override
    public ObjectNode hfConfig() {
        return config.toHfJson("BertModel");
    }

    /** The {@code embeddings} submodule. */
    public BertEmbeddings embeddings() {
        return embeddings.get();
    }

    /** The {@code encoder} submodule (the layers). */
    public BertEncoder encoder() {
        return encoder.get();
    }

    /** True if this model has {@code pooler.dense} (HF's add_pooling_layer). */
    public boolean hasPooler() {
        return pooler != null;
    }

    /** The pooler; fails for a model built without one. */
    public BertPooler pooler() {
        if (pooler == null) {
            throw new IllegalStateException("this BertModel was built without a pooler (add_pooling_layer=False); build it with one,"
                    + " or pool by the mean of the tokens");
        }
        return pooler.get();
    }

    /** The word embedding param {@code embeddings.word_embeddings.weight}. */
    public Param wordEmbedding() {
        return ((org.peft4j.core.nn.Embedding) embeddings.get().wordEmbeddings()).weight();
    }

    @Override
    public INDArray forward(TokenBatch batch, Tape tape) {
        return forwardLayers(batch, null, tape);
    }

    @Override
    protected ModuleList<BertLayer> layers() {
        return encoder.get().layers();
    }

    @Override
    protected boolean embeddingsRequireGrad() {
        return embeddings.get().requiresGrad();
    }

    @Override
    protected INDArray embed(TokenBatch batch, SequenceContext ctx, InputHooks hooks, Tape tape) {
        return embeddings.get().forward(batch, hooks, tape);               // [B·S, d]
    }

    @Override
    protected void backwardEmbeddings(INDArray g, InputHooks hooks, Tape tape) {
        embeddings.get().backward(g, hooks, tape);
    }

    @Override
    public Optional<Param> inputEmbedding() {
        return Optional.of(wordEmbedding());
    }

    @Override
    public String describe() {
        return "BertModel(layers=" + config.numHiddenLayers() + ", hidden=" + config.hiddenSize() + ", heads=" + config.numAttentionHeads()
                + ", vocab=" + config.vocabSize() + (pooler != null ? ", pooler" : "") + ")";
    }
}
