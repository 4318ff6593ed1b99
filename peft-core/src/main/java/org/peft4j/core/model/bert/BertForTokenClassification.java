package org.peft4j.core.model.bert;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.TokenClassifier;
import org.peft4j.core.nn.Dropout;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.InputHooks;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry;

/**
 * HF's {@code BertForTokenClassification}: logits = classifier(dropout(bert(batch))) for every row, with
 * children {@code bert} (no pooler, as HF builds it) and {@code classifier} ({@code [numLabels, hidden]}).
 * Logits are {@code [batch·seq', numLabels]}: rows that input hooks prepend come first in each sequence.
 */
public final class BertForTokenClassification extends Module implements TokenClassifier {
    private final BertConfig config;
    private final Slot<BertModel> bert;
    private final Slot<Layer> classifier;
    private final Dropout dropout;

    BertForTokenClassification(BertConfig config, BertModel bert, Layer classifier) {
        this.config = config;
        this.bert = child("bert", BertModel.class, bert);
        this.classifier = child("classifier", Layer.class, classifier);
        this.dropout = new Dropout(config.effectiveClassifierDropout());
    }

    /** A randomly initialised model (HF's initialisation) with {@code config.numLabels()} labels. */
    public static BertForTokenClassification random(BertConfig config, long seed, DataType type, KernelChoice kernels) {
        return build(config, new RandomBertParams(config, type, new SplittableRandom(seed)), kernels.resolve());
    }

    /** Builds the model from {@code source} by HF paths ({@code bert.*}, {@code classifier.*}). */
    static BertForTokenClassification build(BertConfig config, BertParamSource source, Kernels kernels) {
        BertModel bert = BertModel.build(config, false, (path, kind, shape) -> source.get("bert." + path, kind, shape), kernels);
        Layer classifier = BertBuild.linear(source, "classifier", config.hiddenSize(), config.numLabels());
        return new BertForTokenClassification(config, bert, classifier);
    }

    /** The encoder, child {@code bert}. */
    public BertModel bert() {
        return bert.get();
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

    @Override
    public ObjectNode hfConfig() {
        return config.toHfJson("BertForTokenClassification");
    }

    /** Every param of the pretrained model and its classifier by HF path (params that methods attach are not included). */
    @Override
    public Map<String, INDArray> hfStateDict() {
        return new ParamRegistry(this).modelState();
    }

    @Override
    public INDArray forward(TokenBatch batch, Tape tape) {
        INDArray hidden = bert.get().forward(batch, tape);                          // [B·S, d]
        return classifier.get().forward(dropout.forward(hidden, tape), tape);      // [B·S, labels]
    }

    @Override
    public void backward(INDArray gradLogits, Tape tape) {
        INDArray dHidden = dropout.backward(classifier.get().backward(gradLogits, tape), tape);
        bert.get().backward(dHidden, tape);
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
        return "BertForTokenClassification(labels=" + config.numLabels() + ")";
    }
}
