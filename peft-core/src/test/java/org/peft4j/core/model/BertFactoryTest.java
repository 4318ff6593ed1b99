package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertFactory;
import org.peft4j.core.model.bert.BertForSequenceClassification;
import org.peft4j.core.model.bert.BertForSequenceClassification.Pooling;
import org.peft4j.core.model.bert.BertForTokenClassification;
import org.peft4j.core.model.bert.BertModel;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;

/** Loading BERT checkpoints by HF names, and BertConfig to and from HF's config.json. */
class BertFactoryTest {
    private final BertFactory factory = new BertFactory();

    private static LoadOptions options(ModelHead head, int numLabels, long seed) {
        return new LoadOptions(DataType.DOUBLE, KernelChoice.PORTABLE, head, numLabels, seed);
    }

    private static INDArray hidden(BertModel model, TokenBatch batch) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, tape);
        }
    }

    private static INDArray logits(SequenceClassifier model, TokenBatch batch) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, tape);
        }
    }

    @Test
    void bertModelRoundTripsThroughItsHfStateDict() {
        BertModel original = BertModel.random(BertModelTest.tinyBert(2), 1, DataType.DOUBLE, KernelChoice.PORTABLE);
        BertModelTest.perturb(original, 2);
        PretrainedModel loaded = factory.load(original.hfConfig(), WeightSource.of(original.hfStateDict()), options(ModelHead.BASE, 0, 0));
        BertModel copy = (BertModel) loaded;
        assertTrue(copy.hasPooler(), "the checkpoint has pooler.dense, so the model has a pooler");
        TokenBatch batch = BertModelTest.paddedPairBatch();
        assertEquals(hidden(original, batch), hidden(copy, batch));
        INDArray before = new ParamRegistry(original).get("embeddings.word_embeddings.weight").value().dup();
        new ParamRegistry(copy).get("embeddings.word_embeddings.weight").value().addi(1.0);
        assertEquals(before, new ParamRegistry(original).get("embeddings.word_embeddings.weight").value(), "the copy owns its arrays");
    }

    @Test
    void classifierMissingFromABaseCheckpointIsInitialisedFromTheSeed() {
        BertModel base = BertModel.random(BertModelTest.tinyBert(2), 3, DataType.DOUBLE, KernelChoice.PORTABLE);
        WeightSource weights = WeightSource.of(base.hfStateDict());      // names without the bert. prefix
        JsonNode config = base.hfConfig();
        SequenceClassifier a = (SequenceClassifier) factory.load(config, weights, options(ModelHead.SEQUENCE_CLASSIFICATION, 3, 7));
        SequenceClassifier b = (SequenceClassifier) factory.load(config, weights, options(ModelHead.SEQUENCE_CLASSIFICATION, 3, 7));
        SequenceClassifier c = (SequenceClassifier) factory.load(config, weights, options(ModelHead.SEQUENCE_CLASSIFICATION, 3, 8));
        assertEquals(3, a.numLabels());
        TokenBatch batch = BertModelTest.paddedPairBatch();
        assertEquals(logits(a, batch), logits(b, batch), "same seed, same head");
        assertTrue(logits(a, batch).sub(logits(c, batch)).amaxNumber().doubleValue() > 0, "another seed, another head");
        ParamRegistry registry = new ParamRegistry(a.module());
        assertEquals(0.0, registry.get("classifier.bias").value().amaxNumber().doubleValue(), 0.0, "HF initialises the bias to 0");
        double std = registry.get("classifier.weight").value().stdNumber().doubleValue();
        assertTrue(std > 0.2 && std < 0.8, "weights ~ N(0, initializer_range = 0.5), got std " + std);
        assertEquals(hidden(base, batch), hidden(((BertForSequenceClassification) a).bert(), batch));
        assertEquals(List.of("LABEL_0", "LABEL_1", "LABEL_2"), ((BertForSequenceClassification) a).config().labels());
    }

    @Test
    void classifierRoundTripsWithBertPrefixLabelsAndMeanPooling() {
        BertConfig config = BertModelTest.tinyBert(2).toBuilder().labels(List.of("neg", "pos")).classifierDropout(0.25).build();
        BertForSequenceClassification original = BertForSequenceClassification.random(config, Pooling.MEAN, 4, DataType.DOUBLE,
                KernelChoice.PORTABLE);
        BertModelTest.perturb(original, 5);
        JsonNode json = original.hfConfig();
        assertEquals("mean", json.get(BertForSequenceClassification.POOLING_CONFIG_KEY).asText());
        assertEquals("pos", json.get("id2label").get("1").asText());
        assertEquals(0, json.get("label2id").get("neg").asInt());
        assertTrue(original.hfStateDict().containsKey("bert.encoder.layer.1.output.LayerNorm.bias"));
        BertForSequenceClassification copy = (BertForSequenceClassification) factory.load(json, WeightSource.of(original.hfStateDict()),
                options(ModelHead.SEQUENCE_CLASSIFICATION, 2, 99));
        assertEquals(Pooling.MEAN, copy.pooling());
        assertEquals(config, copy.config());
        TokenBatch batch = BertModelTest.paddedPairBatch();
        assertEquals(logits(original, batch), logits(copy, batch));
    }

    @Test
    void tokenClassifierLoadsFromACheckpointWithAPooler() {
        BertModel base = BertModel.random(BertModelTest.tinyBert(2), 6, DataType.DOUBLE, KernelChoice.PORTABLE);
        BertForTokenClassification tagger = (BertForTokenClassification) factory.load(base.hfConfig(), WeightSource.of(base.hfStateDict()),
                options(ModelHead.TOKEN_CLASSIFICATION, 5, 1));
        assertEquals(5, tagger.numLabels());
        assertTrue(new ParamRegistry(tagger).paths().stream().noneMatch(p -> p.contains("pooler")), "HF's token classifier has no pooler");
        TokenBatch batch = BertModelTest.paddedPairBatch();
        try (Tape tape = Tape.inference(tagger.kernels())) {
            assertEquals(10, tagger.forward(batch, tape).rows());
        }
    }

    @Test
    void missingTensorsAndWrongShapesAreNamed() {
        BertModel base = BertModel.random(BertModelTest.tinyBert(2), 8, DataType.DOUBLE, KernelChoice.PORTABLE);
        Map<String, INDArray> tensors = new LinkedHashMap<>(base.hfStateDict());
        tensors.remove("encoder.layer.1.output.dense.weight");
        tensors.put("encoder.layer.0.attention.self.value.bias", tensors.get("encoder.layer.0.attention.self.value.bias").reshape(2, 4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> factory.load(base.hfConfig(), WeightSource.of(tensors), options(ModelHead.BASE, 0, 0)));
        assertTrue(e.getMessage().contains("missing 1 tensors [encoder.layer.1.output.dense.weight]"), e.getMessage());
        assertTrue(e.getMessage().contains("encoder.layer.0.attention.self.value.bias is [2, 4], the config needs [8]"), e.getMessage());
    }

    @Test
    void aHugeConfigSizeBesideTheWrongCheckpointFailsWithoutAllocatingIt() {
        // found by ModelConfigFuzzTest: type_vocab_size 2^31 − 1 made the stand-in of a misshapen tensor a
        // [2147483647, 8] allocation, which ND4J failed with "Allocation failed" instead of naming the problem
        BertModel base = BertModel.random(BertModelTest.tinyBert(2), 8, DataType.DOUBLE, KernelChoice.PORTABLE);
        com.fasterxml.jackson.databind.node.ObjectNode config = base.hfConfig().deepCopy();
        config.put("type_vocab_size", Integer.MAX_VALUE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> factory.load(config, WeightSource.of(base.hfStateDict()), options(ModelHead.BASE, 0, 0)));
        assertTrue(e.getMessage().contains("embeddings.token_type_embeddings.weight is [2, 8], the config needs [2147483647, 8]"), e.getMessage());
    }

    @Test
    void poolerPoolingNeedsAPooler() {
        BertModel base = BertModel.random(BertModelTest.tinyBert(2), false, 9, DataType.DOUBLE, KernelChoice.PORTABLE);
        WeightSource weights = WeightSource.of(base.hfStateDict());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> factory.load(base.hfConfig(), weights, options(ModelHead.SEQUENCE_CLASSIFICATION, 2, 0)));
        assertTrue(e.getMessage().contains("bert.pooler.dense.weight") && e.getMessage().contains("MEAN pooling"), e.getMessage());
        SequenceClassifier mean = (SequenceClassifier) new BertFactory(Pooling.MEAN).load(base.hfConfig(), weights,
                options(ModelHead.SEQUENCE_CLASSIFICATION, 2, 0));
        assertTrue(new ParamRegistry(mean.module()).paths().stream().noneMatch(p -> p.contains("pooler")));
    }

    @Test
    void tensorFlowLayerNormNamesAreAccepted() {
        BertModel base = BertModel.random(BertModelTest.tinyBert(2), 10, DataType.DOUBLE, KernelChoice.PORTABLE);
        BertModelTest.perturb(base, 11);
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        base.hfStateDict().forEach((name, value) -> tensors.put("bert." + name.replace("LayerNorm.weight", "LayerNorm.gamma")
                .replace("LayerNorm.bias", "LayerNorm.beta"), value));
        tensors.put("cls.predictions.bias", tensors.get("bert.embeddings.LayerNorm.beta"));    // unused tensors are ignored
        BertModel copy = (BertModel) factory.load(base.hfConfig(), WeightSource.of(tensors), options(ModelHead.BASE, 0, 0));
        TokenBatch batch = BertModelTest.paddedPairBatch();
        assertEquals(hidden(base, batch), hidden(copy, batch));
    }

    @Test
    void classifierOfTheWrongSizeAndUnsupportedHeadsAreRejected() {
        BertForSequenceClassification model = BertForSequenceClassification.random(BertModelTest.tinyBert(3), Pooling.POOLER, 12,
                DataType.DOUBLE, KernelChoice.PORTABLE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> factory.load(model.hfConfig(),
                WeightSource.of(model.hfStateDict()), options(ModelHead.SEQUENCE_CLASSIFICATION, 2, 0)));
        assertTrue(e.getMessage().contains("3 labels") && e.getMessage().contains("ask for 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> factory.load(model.hfConfig(), WeightSource.of(model.hfStateDict()),
                options(ModelHead.CAUSAL_LM, 0, 0)));
        assertTrue(e.getMessage().contains("CAUSAL_LM"), e.getMessage());
    }

    @Test
    void configReadsHfBertBaseAndRoundTrips() throws Exception {
        String bertBaseUncased = "{\"architectures\": [\"BertForMaskedLM\"], \"attention_probs_dropout_prob\": 0.1, \"gradient_checkpointing\": false,"
                + " \"hidden_act\": \"gelu\", \"hidden_dropout_prob\": 0.1, \"hidden_size\": 768, \"initializer_range\": 0.02,"
                + " \"intermediate_size\": 3072, \"layer_norm_eps\": 1e-12, \"max_position_embeddings\": 512, \"model_type\": \"bert\","
                + " \"num_attention_heads\": 12, \"num_hidden_layers\": 12, \"pad_token_id\": 0, \"position_embedding_type\": \"absolute\","
                + " \"transformers_version\": \"4.6.0.dev0\", \"type_vocab_size\": 2, \"use_cache\": true, \"vocab_size\": 30522}";
        BertConfig config = BertConfig.fromHfJson(new ObjectMapper().readTree(bertBaseUncased));
        assertEquals(BertConfig.builder().build(), config, "HF's defaults are bert-base-uncased");
        assertEquals(Activation.GELU, config.hiddenAct());
        assertEquals(64, config.headDim());
        assertNull(config.classifierDropout());
        assertEquals(0.1, config.effectiveClassifierDropout());
        assertEquals(config, BertConfig.fromHfJson(config.toHfJson()));
        BertConfig labelled = config.toBuilder().labels(List.of("O", "B-PER", "I-PER")).classifierDropout(0.2).build();
        assertEquals(labelled, BertConfig.fromHfJson(labelled.toHfJson("BertForTokenClassification")));
        assertEquals(5, BertConfig.fromHfJson(new ObjectMapper().readTree("{\"num_labels\": 5}")).numLabels());

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BertConfig.fromHfJson(new ObjectMapper().readTree("{\"hidden_size\": 100, \"num_attention_heads\": 12}")));
        assertTrue(e.getMessage().contains("hidden_size (100) must be a multiple of num_attention_heads (12)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> BertConfig.fromHfJson(new ObjectMapper().readTree("{\"position_embedding_type\": \"relative_key\"}")));
        assertTrue(e.getMessage().contains("relative_key"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> BertConfig.fromHfJson(new ObjectMapper().readTree("{\"id2label\": {\"0\": \"a\", \"2\": \"b\"}}")));
        assertTrue(e.getMessage().contains("id2label"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BertConfig.fromHfJson(new ObjectMapper().readTree("{\"model_type\": \"gpt2\"}")));
        assertTrue(e.getMessage().contains("gpt2"), e.getMessage());
    }
}
