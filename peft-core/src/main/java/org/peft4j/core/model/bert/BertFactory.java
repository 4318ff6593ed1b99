package org.peft4j.core.model.bert;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.EnumSet;
import java.util.Set;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelFactory;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.WeightSource;
import org.peft4j.core.model.bert.BertForSequenceClassification.Pooling;

/**
 * Builds BERT models ({@code model_type} "bert") from an HF {@code config.json} and a checkpoint:
 * {@link ModelHead#BASE} ({@link BertModel}, with a pooler when the checkpoint has one),
 * {@link ModelHead#SEQUENCE_CLASSIFICATION} and {@link ModelHead#TOKEN_CLASSIFICATION}. Tensor names are
 * HF's, with or without the {@code bert.} prefix. A classifier the checkpoint lacks is initialised as HF
 * does (weight ~ N(0, initializer_range²), bias 0) from {@link LoadOptions#seed()}; any other missing
 * tensor is an error naming it.
 */
public final class BertFactory implements ModelFactory {
    private final Pooling defaultPooling;

    /** A factory whose sequence classifiers use HF's pooler unless the config says otherwise. */
    public BertFactory() {
        this(Pooling.POOLER);
    }

    /**
     * A factory whose sequence classifiers pool with {@code defaultPooling} unless the config names a
     * pooling under {@value BertForSequenceClassification#POOLING_CONFIG_KEY}.
     */
    public BertFactory(Pooling defaultPooling) {
        if (defaultPooling == null) {
            throw new IllegalArgumentException("pooling must be POOLER or MEAN, got null");
        }
        this.defaultPooling = defaultPooling;
    }

    @Override
    public Set<String> modelTypes() {
        return Set.of("bert");
    }

    @Override
    public Set<ModelHead> heads() {
        return EnumSet.of(ModelHead.BASE, ModelHead.SEQUENCE_CLASSIFICATION, ModelHead.TOKEN_CLASSIFICATION);
    }

    @Override
    public PretrainedModel load(JsonNode config, WeightSource weights, LoadOptions options) {
        BertConfig parsed = BertConfig.fromHfJson(config);
        Kernels kernels = options.kernels().resolve();
        switch (options.head()) {
            case BASE: {
                boolean withPooler = CheckpointBertParams.find(weights, "pooler.dense.weight") != null;
                CheckpointBertParams source = new CheckpointBertParams(weights, options.dataType(), path -> false, null);
                BertModel model = BertModel.build(parsed, withPooler, source, kernels);
                source.checkComplete("a BertModel", null);
                return model;
            }
            case SEQUENCE_CLASSIFICATION: {
                BertConfig withLabels = labelled(parsed, weights, options);
                Pooling pooling = config.hasNonNull(BertForSequenceClassification.POOLING_CONFIG_KEY)
                        ? Pooling.parse(config.get(BertForSequenceClassification.POOLING_CONFIG_KEY).asText())
                        : defaultPooling;
                boolean withPooler = pooling == Pooling.POOLER || CheckpointBertParams.find(weights, "bert.pooler.dense.weight") != null;
                CheckpointBertParams source = newHeadSource(withLabels, weights, options);
                BertForSequenceClassification model = BertForSequenceClassification.build(withLabels, pooling, withPooler, source, kernels);
                source.checkComplete("a BertForSequenceClassification",
                        "a checkpoint without pooler.dense (a sentence-transformers model) needs MEAN pooling");
                return model;
            }
            case TOKEN_CLASSIFICATION: {
                BertConfig withLabels = labelled(parsed, weights, options);
                CheckpointBertParams source = newHeadSource(withLabels, weights, options);
                BertForTokenClassification model = BertForTokenClassification.build(withLabels, source, kernels);
                source.checkComplete("a BertForTokenClassification", null);
                return model;
            }
            default:
                throw new IllegalArgumentException("BERT has no " + options.head() + " head; supported: " + heads());
        }
    }

    /** A source whose missing classifier is drawn from the options' seed, as HF initialises a new head. */
    private static CheckpointBertParams newHeadSource(BertConfig config, WeightSource weights, LoadOptions options) {
        RandomBertParams fresh = new RandomBertParams(config, options.dataType(), new SplittableRandom(options.seed()));
        return new CheckpointBertParams(weights, options.dataType(), path -> path.startsWith("classifier."), fresh);
    }

    /**
     * The config with the label count of the classifier: the checkpoint's classifier decides when it has
     * one (and must agree with the options); otherwise the options' numLabels. Label names come from the
     * config's id2label when its size matches, else LABEL_i.
     */
    private static BertConfig labelled(BertConfig config, WeightSource weights, LoadOptions options) {
        int numLabels = options.numLabels();
        if (weights.contains("classifier.weight")) {
            INDArray classifier = weights.get("classifier.weight");
            long rows = classifier.rank() == 2 ? classifier.size(0) : -1;
            if (rows != numLabels) {
                throw new IllegalArgumentException("the checkpoint's classifier.weight is " + java.util.Arrays.toString(classifier.shape())
                        + " (" + rows + " labels), but the load options ask for " + numLabels + " labels");
            }
        }
        return config.numLabels() == numLabels ? config : config.withNumLabels(numLabels);
    }
}
