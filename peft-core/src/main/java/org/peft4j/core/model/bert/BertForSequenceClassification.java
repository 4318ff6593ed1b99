package org.peft4j.core.model.bert;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.Gemm;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.model.SequenceClassifier;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.nn.Dropout;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.InputHooks;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry;

/**
 * HF's {@code BertForSequenceClassification}: logits = classifier(dropout(pool(bert(batch)))), with
 * children {@code bert} and {@code classifier} ({@code [numLabels, hidden]}). Pooling is HF's pooler
 * (tanh(dense(first row))) or the mean of the hidden states over real tokens, as sentence-transformers
 * pools; the dropout is {@code classifier_dropout}, or {@code hidden_dropout_prob} when that is null.
 */
public final class BertForSequenceClassification extends Module implements SequenceClassifier {
    /** The key under which {@link #hfConfig()} records a pooling other than HF's; HF ignores unknown keys. */
    public static final String POOLING_CONFIG_KEY = "peft4j_pooling";

    /** How one vector per sequence is taken from the last hidden state. */
    public enum Pooling {
        /** HF's BertPooler: tanh(pooler.dense(h[:, 0])). */
        POOLER,
        /**
         * The mean of the rows the attention mask marks real (rows that input hooks prepend count as
         * real), as sentence-transformers' mean pooling; the pooler, if present, is unused.
         */
        MEAN;

        /** Parses "pooler" or "mean" (any case). */
        public static Pooling parse(String name) {
            for (Pooling p : values()) {
                if (p.name().equalsIgnoreCase(name)) {
                    return p;
                }
            }
            throw new IllegalArgumentException("unknown pooling '" + name + "'; allowed: pooler, mean");
        }
    }

    private final BertConfig config;
    private final Pooling pooling;
    private final Slot<BertModel> bert;
    private final Slot<Layer> classifier;
    private final Dropout dropout;

    /** Mean pooling: the weight of each row {@code [batch, 1, seq]}; null for the pooler. */
    private record Saved(INDArray meanWeights, int batch, int seq) {
    }

    BertForSequenceClassification(BertConfig config, Pooling pooling, BertModel bert, Layer classifier) {
        if (pooling == Pooling.POOLER && !bert.hasPooler()) {
            throw new IllegalArgumentException("POOLER pooling needs a BertModel with a pooler; use MEAN pooling or build one with a pooler");
        }
        this.config = config;
        this.pooling = pooling;
        this.bert = child("bert", BertModel.class, bert);
        this.classifier = child("classifier", Layer.class, classifier);
        this.dropout = new Dropout(config.effectiveClassifierDropout());
    }

    /**
     * A randomly initialised model (HF's initialisation) with {@code config.numLabels()} labels; it has a
     * pooler only with {@link Pooling#POOLER}.
     */
    public static BertForSequenceClassification random(BertConfig config, Pooling pooling, long seed, DataType type, KernelChoice kernels) {
        RandomBertParams source = new RandomBertParams(config, type, new SplittableRandom(seed));
        return build(config, pooling, pooling == Pooling.POOLER, source, kernels.resolve());
    }

    /** Builds the model from {@code source} by HF paths ({@code bert.*}, {@code classifier.*}). */
    static BertForSequenceClassification build(BertConfig config, Pooling pooling, boolean withPooler, BertParamSource source, Kernels kernels) {
        BertModel bert = BertModel.build(config, withPooler, (path, kind, shape) -> source.get("bert." + path, kind, shape), kernels);
        Layer classifier = BertBuild.linear(source, "classifier", config.hiddenSize(), config.numLabels());
        return new BertForSequenceClassification(config, pooling, bert, classifier);
    }

    /** The encoder, child {@code bert}. */
    public BertModel bert() {
        return bert.get();
    }

    /** How sequences are pooled before the classifier. */
    public Pooling pooling() {
        return pooling;
    }

    /** The config, with the classifier's labels. */
    public BertConfig config() {
        return config;
    }

    @Override
    public int numLabels() {
        return config.numLabels();
    }

    @Override
    public Module module() {
        return this;
    }

    @Override
    public Kernels kernels() {
        return bert.get().kernels();
    }

    @Override
    public String modelType() {
        return "bert";
    }

    /** HF's config of a BertForSequenceClassification, plus {@value #POOLING_CONFIG_KEY} = "mean" with mean pooling. */
    @Override
    public ObjectNode hfConfig() {
        ObjectNode node = config.toHfJson("BertForSequenceClassification");
        if (pooling != Pooling.POOLER) {
            node.put(POOLING_CONFIG_KEY, pooling.name().toLowerCase(Locale.ROOT));
        }
        return node;
    }

    /** Every param of the pretrained model and its classifier by HF path (params that methods attach are not included). */
    @Override
    public Map<String, INDArray> hfStateDict() {
        return new ParamRegistry(this).modelState();
    }

    @Override
    public INDArray forward(TokenBatch batch, Tape tape) {
        INDArray hidden = bert.get().forward(batch, tape);                          // [B·S, d]
        SequenceContext ctx = tape.context();
        INDArray pooled;                                                            // [B, d]
        INDArray weights = null;
        if (pooling == Pooling.POOLER) {
            pooled = bert.get().pooler().forward(hidden, tape);
        } else {
            weights = meanWeights(ctx, hidden.dataType());                          // [B, 1, S]
            INDArray h3 = hidden.reshape(ctx.batch(), ctx.seqLen(), hidden.columns());
            pooled = Gemm.bmm(weights, h3, false, false).reshape(ctx.batch(), hidden.columns()).dup('c');
        }
        INDArray logits = classifier.get().forward(dropout.forward(pooled, tape), tape);   // [B, labels]
        tape.push(this, new Saved(weights, ctx.batch(), ctx.seqLen()));
        return logits;
    }

    @Override
    public void backward(INDArray gradLogits, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        INDArray dPooled = dropout.backward(classifier.get().backward(gradLogits, tape), tape);   // [B, d]
        INDArray dHidden;
        if (pooling == Pooling.POOLER) {
            dHidden = bert.get().pooler().backward(dPooled, tape);
        } else {
            long d = dPooled.columns();
            INDArray dp3 = dPooled.reshape(s.batch(), 1, d);
            dHidden = Gemm.bmm(s.meanWeights(), dp3, true, false).reshape((long) s.batch() * s.seq(), d).dup('c');   // w[b,s]·dp[b]
        }
        bert.get().backward(dHidden, tape);
    }

    /** w[b, 0, s] = 1/count_b for rows the key mask marks real, else 0 (all 0 when a sequence has no real row). */
    static INDArray meanWeights(SequenceContext ctx, DataType type) {
        int batch = ctx.batch();
        int seq = ctx.seqLen();
        int past = ctx.pastLength();
        int[] mask = ctx.keyMask();
        double[] w = new double[batch * seq];
        for (int b = 0; b < batch; b++) {
            int count = 0;
            for (int s = 0; s < seq; s++) {
                count += mask == null || mask[b * ctx.keyLength() + past + s] != 0 ? 1 : 0;
            }
            for (int s = 0; s < seq; s++) {
                boolean real = mask == null || mask[b * ctx.keyLength() + past + s] != 0;
                w[b * seq + s] = real ? 1.0 / count : 0.0;
            }
        }
        return Nd4j.create(w, new long[] {batch, 1, seq}, type);
    }

    @Override
    public Optional<InputHooks> inputHooks() {
        return Optional.of(bert().inputHooks().orElseThrow());
    }

    @Override
    public Optional<Param> inputEmbedding() {
        return Optional.of(bert().wordEmbedding());
    }

    @Override
    public String describe() {
        return "BertForSequenceClassification(labels=" + config.numLabels() + ", pooling=" + pooling.name().toLowerCase(Locale.ROOT) + ")";
    }
}
