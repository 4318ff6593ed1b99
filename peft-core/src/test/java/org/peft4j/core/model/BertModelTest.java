package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertForSequenceClassification;
import org.peft4j.core.model.bert.BertForSequenceClassification.Pooling;
import org.peft4j.core.model.bert.BertForTokenClassification;
import org.peft4j.core.model.bert.BertModel;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.GradientCheck;

/**
 * The BERT encoder and its heads: backward against finite differences in double precision (every param
 * trainable, values moved away from their initialisation so no gradient is trivially 0), CPU/portable
 * kernel parity, HF parameter paths, skipping frozen layers, and padding invariance.
 */
class BertModelTest {
    private static final double TOL = 1e-6;

    /** vocab 13, 2 layers, hidden 8, 2 heads, MLP 16, 2 token types, no dropout. */
    static BertConfig tinyBert(int numLabels) {
        return BertConfig.builder().vocabSize(13).hiddenSize(8).numHiddenLayers(2).numAttentionHeads(2).intermediateSize(16)
                .maxPositionEmbeddings(16).typeVocabSize(2).dropout(0.0).initializerRange(0.5).numLabels(numLabels).build();
    }

    /** Two sequences of 5 tokens, the second right-padded by two, with two segments. */
    static TokenBatch paddedPairBatch() {
        int[] ids = {2, 4, 7, 3, 9, 2, 11, 8, 0, 0};
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
        int[] types = {0, 0, 0, 1, 1, 0, 0, 1, 0, 0};
        return new TokenBatch(2, 5, ids, mask, null, types);
    }

    /** Moves every param by N(0, 0.3²), so LayerNorm weights are not 1 and biases not 0. */
    static void perturb(org.peft4j.core.nn.Module model, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        for (ParamRegistry.NamedParam np : new ParamRegistry(model).all()) {
            np.param().value().addi(GradientCheck.randn(rng, np.param().shape()).muli(0.3));
        }
    }

    /** One forward/backward pass of L = Σ output ⊙ probe; returns the probe. */
    private static INDArray backward(Supplier<Tape> tapes, java.util.function.BiFunction<TokenBatch, Tape, INDArray> forward,
            java.util.function.BiConsumer<INDArray, Tape> backward, TokenBatch batch, long seed) {
        try (Tape tape = tapes.get()) {
            INDArray y = forward.apply(batch, tape);
            INDArray probe = GradientCheck.randn(new SplittableRandom(seed), y.shape()).castTo(y.dataType());
            backward.accept(probe, tape);
            assertEquals(0, tape.depth(), "backward must consume everything forward saved");
            return probe;
        }
    }

    private static void checkAll(org.peft4j.core.nn.Module model, Supplier<Double> loss, int perParam, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        for (ParamRegistry.NamedParam np : new ParamRegistry(model).trainable()) {
            if (np.path().endsWith("attention.self.key.bias")) {
                // softmax is invariant to q·b_k, which is the same for every key of a query: dL/db_k ≡ 0
                assertTrue(np.param().grad().amaxNumber().doubleValue() < 1e-10, np.path() + " must have no gradient");
                continue;
            }
            GradientCheck.checkParam(np.path(), np.param(), loss, perParam, TOL, rng);
        }
    }

    @Test
    void encoderGradientsMatchFiniteDifferences() {
        BertModel model = BertModel.random(tinyBert(2), false, 3, DataType.DOUBLE, KernelChoice.PORTABLE);
        new ParamRegistry(model).unfreezeAll();
        perturb(model, 4);
        TokenBatch batch = paddedPairBatch();
        INDArray probe = backward(() -> Tape.recordingWithoutDropout(model.kernels()), model::forward, model::backward, batch, 5);
        Supplier<Double> loss = () -> {
            try (Tape tape = Tape.inference(model.kernels())) {
                return model.forward(batch, tape).mul(probe).sumNumber().doubleValue();
            }
        };
        checkAll(model, loss, 12, 6);
    }

    @ParameterizedTest
    @EnumSource(Pooling.class)
    void sequenceClassifierGradientsMatchFiniteDifferences(Pooling pooling) {
        BertForSequenceClassification model = BertForSequenceClassification.random(tinyBert(3), pooling, 7, DataType.DOUBLE,
                KernelChoice.PORTABLE);
        new ParamRegistry(model).unfreezeAll();
        perturb(model, 8);
        TokenBatch batch = paddedPairBatch();
        INDArray probe = backward(() -> Tape.recordingWithoutDropout(model.kernels()), model::forward, model::backward, batch, 9);
        assertEquals(2, probe.rows());
        assertEquals(3, probe.columns());
        Supplier<Double> loss = () -> {
            try (Tape tape = Tape.inference(model.kernels())) {
                return model.forward(batch, tape).mul(probe).sumNumber().doubleValue();
            }
        };
        checkAll(model, loss, 6, 10);
    }

    @Test
    void tokenClassifierGradientsMatchFiniteDifferences() {
        BertForTokenClassification model = BertForTokenClassification.random(tinyBert(4), 11, DataType.DOUBLE, KernelChoice.PORTABLE);
        new ParamRegistry(model).unfreezeAll();
        perturb(model, 12);
        TokenBatch batch = paddedPairBatch();
        INDArray probe = backward(() -> Tape.recordingWithoutDropout(model.kernels()), model::forward, model::backward, batch, 13);
        assertEquals(10, probe.rows());
        assertEquals(4, probe.columns());
        Supplier<Double> loss = () -> {
            try (Tape tape = Tape.inference(model.kernels())) {
                return model.forward(batch, tape).mul(probe).sumNumber().doubleValue();
            }
        };
        checkAll(model, loss, 6, 14);
    }

    @Test
    void promptAndPrefixHooksTrainThroughAFrozenEncoder() {
        BertModel model = BertModel.random(tinyBert(2), false, 15, DataType.DOUBLE, KernelChoice.PORTABLE);
        perturb(model, 16);
        SplittableRandom rng = new SplittableRandom(17);
        InputHookTest.PrependVectors prompt = new InputHookTest.PrependVectors(3, 8, rng);
        InputHookTest.PastPrefix prefix = new InputHookTest.PastPrefix(2, 2, 2, 4, rng);
        model.addInputHook("prompt", prompt);
        model.addInputHook("prefix", prefix);
        TokenBatch batch = paddedPairBatch();
        try (Tape tape = Tape.inference(model.kernels())) {
            assertEquals(2 * (3 + 5), model.forward(batch, tape).rows(), "virtual tokens are rows of the hidden state");
        }
        INDArray probe = backward(() -> Tape.recordingWithoutDropout(model.kernels()), model::forward, model::backward, batch, 18);
        Supplier<Double> loss = () -> {
            try (Tape tape = Tape.inference(model.kernels())) {
                return model.forward(batch, tape).mul(probe).sumNumber().doubleValue();
            }
        };
        assertEquals(List.of("prompt.prompt", "prefix.keys_0", "prefix.values_0", "prefix.keys_1", "prefix.values_1"),
                new ParamRegistry(model).trainable().stream().map(ParamRegistry.NamedParam::path).toList());
        checkAll(model, loss, 12, 19);
        assertEquals(new ParamRegistry(BertModel.random(tinyBert(2), false, 15, DataType.DOUBLE, KernelChoice.PORTABLE)).paths(),
                List.copyOf(model.hfStateDict().keySet()), "hook params are not part of the HF state dict");
    }

    @Test
    void cpuAndPortableKernelsGiveTheSameHiddenStatesAndGradients() {
        BertConfig config = tinyBert(2);
        BertForSequenceClassification cpu = BertForSequenceClassification.random(config, Pooling.POOLER, 21, DataType.FLOAT, KernelChoice.CPU);
        BertForSequenceClassification portable = BertForSequenceClassification.random(config, Pooling.POOLER, 21, DataType.FLOAT,
                KernelChoice.PORTABLE);
        new ParamRegistry(cpu).unfreezeAll();
        new ParamRegistry(portable).unfreezeAll();
        TokenBatch batch = paddedPairBatch();
        INDArray hiddenCpu;
        INDArray hiddenPortable;
        try (Tape tape = Tape.inference(cpu.kernels())) {
            hiddenCpu = cpu.bert().forward(batch, tape);
        }
        try (Tape tape = Tape.inference(portable.kernels())) {
            hiddenPortable = portable.bert().forward(batch, tape);
        }
        double hiddenDiff = hiddenCpu.sub(hiddenPortable).amaxNumber().doubleValue();
        assertTrue(hiddenDiff < 1e-5, "hidden states differ by " + hiddenDiff);
        backward(() -> Tape.recordingWithoutDropout(cpu.kernels()), cpu::forward, cpu::backward, batch, 22);
        backward(() -> Tape.recordingWithoutDropout(portable.kernels()), portable::forward, portable::backward, batch, 22);
        List<ParamRegistry.NamedParam> pa = new ParamRegistry(cpu).all();
        List<ParamRegistry.NamedParam> pb = new ParamRegistry(portable).all();
        for (int i = 0; i < pa.size(); i++) {
            INDArray ga = pa.get(i).param().grad();
            INDArray gb = pb.get(i).param().grad();
            double diff = ga.sub(gb).amaxNumber().doubleValue();
            assertTrue(diff < 1e-5 * Math.max(1, gb.amaxNumber().doubleValue()), pa.get(i).path() + " differs by " + diff);
        }
    }

    @Test
    void hfParameterPaths() {
        BertConfig config = BertConfig.builder().vocabSize(10).hiddenSize(4).numHiddenLayers(1).numAttentionHeads(2).intermediateSize(6)
                .maxPositionEmbeddings(8).build();
        BertModel model = BertModel.random(config, 1, DataType.FLOAT, KernelChoice.AUTO);
        List<String> layer = List.of("attention.self.query.weight", "attention.self.query.bias", "attention.self.key.weight",
                "attention.self.key.bias", "attention.self.value.weight", "attention.self.value.bias", "attention.output.dense.weight",
                "attention.output.dense.bias", "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
                "intermediate.dense.weight", "intermediate.dense.bias", "output.dense.weight", "output.dense.bias",
                "output.LayerNorm.weight", "output.LayerNorm.bias");
        List<String> expected = new java.util.ArrayList<>(List.of("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"));
        layer.forEach(p -> expected.add("encoder.layer.0." + p));
        expected.addAll(List.of("pooler.dense.weight", "pooler.dense.bias"));
        assertEquals(expected, new ParamRegistry(model).paths(), "HF BertModel names");
        ParamRegistry registry = new ParamRegistry(model);
        assertEquals(List.of(6L, 4L), java.util.Arrays.stream(registry.get("encoder.layer.0.intermediate.dense.weight").shape()).boxed().toList(),
                "torch.nn.Linear layout [out, in]");
        assertEquals(0.0, registry.get("embeddings.word_embeddings.weight").value().getRow(0).amaxNumber().doubleValue(), 0.0,
                "the pad_token_id row starts at 0, as HF initialises it");

        BertForTokenClassification tagger = BertForTokenClassification.random(config.withNumLabels(5), 2, DataType.FLOAT, KernelChoice.AUTO);
        List<String> taggerPaths = new ParamRegistry(tagger).paths();
        assertEquals("bert.embeddings.word_embeddings.weight", taggerPaths.get(0));
        assertEquals(List.of("bert.encoder.layer.0.output.LayerNorm.bias", "classifier.weight", "classifier.bias"),
                taggerPaths.subList(taggerPaths.size() - 3, taggerPaths.size()), "no pooler in HF's BertForTokenClassification");
        BertForSequenceClassification classifier = BertForSequenceClassification.random(config, Pooling.POOLER, 3, DataType.FLOAT,
                KernelChoice.AUTO);
        assertTrue(new ParamRegistry(classifier).paths().contains("bert.pooler.dense.weight"));
        assertEquals(List.of(2L, 4L), java.util.Arrays.stream(new ParamRegistry(classifier).get("classifier.weight").shape()).boxed().toList());
    }

    @Test
    void freezingAllButTheLastLayerSkipsBackwardBelowIt() {
        BertConfig config = tinyBert(2);
        BertForSequenceClassification full = BertForSequenceClassification.random(config, Pooling.POOLER, 23, DataType.DOUBLE,
                KernelChoice.PORTABLE);
        BertForSequenceClassification partial = BertForSequenceClassification.random(config, Pooling.POOLER, 23, DataType.DOUBLE,
                KernelChoice.PORTABLE);
        new ParamRegistry(full).unfreezeAll();
        ParamRegistry registry = new ParamRegistry(partial);
        registry.unfreezeMatching(Pattern.compile("bert\\.encoder\\.layer\\.1\\..*|bert\\.pooler\\..*|classifier\\..*"));
        TokenBatch batch = paddedPairBatch();
        int fullDepth;
        int partialDepth;
        try (Tape tape = Tape.recordingWithoutDropout(full.kernels())) {
            full.forward(batch, tape);
            fullDepth = tape.depth();
        }
        try (Tape tape = Tape.recordingWithoutDropout(partial.kernels())) {
            partial.forward(batch, tape);
            partialDepth = tape.depth();
        }
        assertTrue(partialDepth < fullDepth, "layer 0 and the embeddings save nothing: " + partialDepth + " vs " + fullDepth);
        backward(() -> Tape.recordingWithoutDropout(full.kernels()), full::forward, full::backward, batch, 24);
        backward(() -> Tape.recordingWithoutDropout(partial.kernels()), partial::forward, partial::backward, batch, 24);
        for (ParamRegistry.NamedParam np : registry.trainable()) {
            INDArray expected = new ParamRegistry(full).get(np.path()).grad();
            assertTrue(expected.equalsWithEps(np.param().grad(), 1e-12), np.path());
        }
        assertThrows(IllegalStateException.class, () -> registry.get("bert.encoder.layer.0.attention.self.query.weight").grad());
    }

    @Test
    void paddingDoesNotChangeTheOutputsOfRealTokens() {
        BertModel model = BertModel.random(tinyBert(2), false, 25, DataType.DOUBLE, KernelChoice.PORTABLE);
        perturb(model, 26);
        TokenBatch padded = new TokenBatch(2, 5, new int[] {2, 4, 7, 3, 9, 2, 11, 8, 0, 0}, new int[] {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, null,
                new int[] {0, 0, 1, 1, 1, 0, 1, 1, 0, 0});
        TokenBatch alone = new TokenBatch(1, 3, new int[] {2, 11, 8}, null, null, new int[] {0, 1, 1});
        INDArray a;
        INDArray b;
        try (Tape tape = Tape.inference(model.kernels())) {
            a = model.forward(padded, tape).getRows(5, 6, 7);
        }
        try (Tape tape = Tape.inference(model.kernels())) {
            b = model.forward(alone, tape);
        }
        assertTrue(a.equalsWithEps(b, 1e-12), "real tokens must not see padding");

        // mean pooling averages real tokens only: the padded sequence pools like the unpadded one
        BertForSequenceClassification meanPooled = BertForSequenceClassification.random(tinyBert(2), Pooling.MEAN, 27, DataType.DOUBLE,
                KernelChoice.PORTABLE);
        INDArray pa;
        INDArray pb;
        try (Tape tape = Tape.inference(meanPooled.kernels())) {
            pa = meanPooled.forward(padded, tape).getRow(1);
        }
        try (Tape tape = Tape.inference(meanPooled.kernels())) {
            pb = meanPooled.forward(alone, tape).getRow(0);
        }
        assertTrue(pa.equalsWithEps(pb, 1e-12), pa + " vs " + pb);
    }

    @Test
    void tokenTypesChangeTheOutputAndAreChecked() {
        BertModel model = BertModel.random(tinyBert(2), false, 29, DataType.DOUBLE, KernelChoice.PORTABLE);
        TokenBatch one = new TokenBatch(1, 3, new int[] {2, 11, 8}, null, null);
        INDArray zeros;
        INDArray explicitZeros;
        INDArray second;
        try (Tape tape = Tape.inference(model.kernels())) {
            zeros = model.forward(one, tape);
        }
        try (Tape tape = Tape.inference(model.kernels())) {
            explicitZeros = model.forward(one.withTypeIds(new int[3]), tape);
        }
        try (Tape tape = Tape.inference(model.kernels())) {
            second = model.forward(one.withTypeIds(new int[] {0, 1, 1}), tape);
        }
        assertEquals(zeros, explicitZeros, "null type ids mean all 0, as in HF");
        assertTrue(zeros.sub(second).amaxNumber().doubleValue() > 1e-3);
        try (Tape tape = Tape.inference(model.kernels())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.forward(one.withTypeIds(new int[] {0, 2, 0}), tape));
            assertTrue(e.getMessage().contains("type_vocab_size = 2"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> one.withTypeIds(new int[] {0, 1}));
        assertThrows(IllegalArgumentException.class, () -> one.withTypeIds(new int[] {0, -1, 0}));
    }

    @Test
    void trainingPassWithDropoutInTheTrainWorkspace() {
        BertConfig config = tinyBert(2).toBuilder().dropout(0.1).build();
        BertForSequenceClassification model = BertForSequenceClassification.random(config, Pooling.MEAN, 31, DataType.FLOAT,
                KernelChoice.AUTO);
        ParamRegistry registry = new ParamRegistry(model);
        registry.unfreezeMatching(Pattern.compile("bert\\.encoder\\.layer\\.1\\..*|classifier\\..*"));
        TokenBatch batch = paddedPairBatch();
        INDArray[] logits = new INDArray[2];
        for (int run = 0; run < 2; run++) {
            try (var ws = org.peft4j.core.nn.Workspaces.open(org.peft4j.core.nn.Workspaces.TRAIN);
                    Tape tape = Tape.training(model.kernels(), 5)) {
                INDArray y = model.forward(batch, tape);
                logits[run] = y.detach();
                model.backward(y.ulike().assign(1.0), tape);
                assertEquals(0, tape.depth());
            }
        }
        assertEquals(logits[0], logits[1], "the same dropout seed draws the same masks");
        INDArray grad = registry.get("classifier.weight").grad();
        assertTrue(grad.amaxNumber().doubleValue() > 0 && Double.isFinite(grad.sumNumber().doubleValue()));
        try (Tape tape = Tape.inference(model.kernels())) {
            assertTrue(model.forward(batch, tape).sub(logits[0]).amaxNumber().doubleValue() > 0, "no dropout at inference");
        }
    }

    @Test
    void sequencesLongerThanPositionsAreRejected() {
        BertModel model = BertModel.random(tinyBert(2), 1, DataType.FLOAT, KernelChoice.AUTO);
        TokenBatch tooLong = new TokenBatch(1, 17, new int[17], null, null);
        try (Tape tape = Tape.inference(model.kernels())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.forward(tooLong, tape));
            assertTrue(e.getMessage().contains("max_position_embeddings = 16"), e.getMessage());
        }
    }
}
