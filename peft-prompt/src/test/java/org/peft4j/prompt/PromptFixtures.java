package org.peft4j.prompt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.SequenceClassificationTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertForSequenceClassification;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.model.llama.LlamaModel;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.TinyDecoders;
import org.peft4j.core.train.TrainableTask;

/** Tiny double-precision models, batches and helpers for the prompt method tests. */
final class PromptFixtures {
    private PromptFixtures() {
    }

    /** GPT-2: vocab 13, 2 layers, hidden 8, 2 heads, 64 positions. */
    static Gpt2Model gpt2(long seed) {
        return gpt2(seed, DataType.DOUBLE);
    }

    static Gpt2Model gpt2(long seed, DataType type) {
        return Gpt2Model.random(TinyDecoders.tinyGpt2(), seed, type, KernelChoice.PORTABLE);
    }

    /** LLaMA-style: hidden 12, 4 query heads of 4 sharing 2 kv heads, rotary, biases. */
    static LlamaModel llama(long seed) {
        return llama(seed, DataType.DOUBLE);
    }

    static LlamaModel llama(long seed, DataType type) {
        return LlamaModel.random(TinyDecoders.tinyLlama().initializerRange(0.5).build(), seed, type, KernelChoice.PORTABLE);
    }

    /** BERT classifier: vocab 13, 2 layers, hidden 8, 2 heads, 3 labels, pooler. */
    static BertForSequenceClassification bert(long seed) {
        return bert(seed, DataType.DOUBLE);
    }

    static BertForSequenceClassification bert(long seed, DataType type) {
        BertConfig config = BertConfig.builder().vocabSize(13).hiddenSize(8).numHiddenLayers(2).numAttentionHeads(2).intermediateSize(16)
                .maxPositionEmbeddings(32).typeVocabSize(2).dropout(0.0).initializerRange(0.5).numLabels(3).build();
        return BertForSequenceClassification.random(config, BertForSequenceClassification.Pooling.POOLER, seed, type,
                KernelChoice.PORTABLE);
    }

    /** Two sequences of 5 tokens, the second right-padded by one, labels aligned with the ids. */
    static TokenBatch lmBatch() {
        int[] ids = {1, 4, 7, 2, 9, 3, 3, 8, 12, 0};
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
        int[] labels = {1, 4, 7, 2, 9, 3, 3, 8, 12, TokenBatch.IGNORE_INDEX};
        return new TokenBatch(2, 5, ids, mask, labels);
    }

    /** Two sequence pairs of 5 tokens, the second padded by two, one label each. */
    static TokenBatch clsBatch() {
        int[] ids = {2, 4, 7, 3, 9, 2, 11, 8, 0, 0};
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
        int[] types = {0, 0, 0, 1, 1, 0, 0, 1, 0, 0};
        return new TokenBatch(2, 5, ids, mask, new int[] {2, 0}, types);
    }

    /** The loss task of a model: causal LM or sequence classification. */
    static TrainableTask<TokenBatch> task(Object model) {
        return model instanceof CausalLm lm ? new CausalLmTask(lm) : new SequenceClassificationTask((BertForSequenceClassification) model);
    }

    /** The batch that fits a model's task. */
    static TokenBatch batch(Object model) {
        return model instanceof CausalLm ? lmBatch() : clsBatch();
    }

    /** Logits of an inference pass (a copy). */
    static INDArray logits(Object model, TokenBatch batch) {
        try (Tape tape = Tape.inference(((org.peft4j.core.model.PretrainedModel) model).kernels())) {
            INDArray out = model instanceof CausalLm lm ? lm.forward(batch, tape) : ((BertForSequenceClassification) model).forward(batch, tape);
            return out.dup();
        }
    }

    /** A copy of every param by path. */
    static Map<String, INDArray> snapshot(Module root) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        new ParamRegistry(root).all().forEach(np -> out.put(np.path(), np.param().value().dup()));
        return out;
    }

    static void assertBitIdentical(INDArray expected, INDArray actual, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        assertArrayEquals(expected.dup().data().asDouble(), actual.dup().data().asDouble(), 0.0, what);
    }

    static void assertClose(INDArray expected, INDArray actual, double tol, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        assertArrayEquals(expected.dup().data().asDouble(), actual.dup().data().asDouble(), tol, what);
    }

    /**
     * Zeroes the grads of {@code trainable}, runs one forward and backward of {@code task} on {@code batch}
     * without dropout (checking the tape is emptied), and returns the loss as a function of the params, for
     * finite differences.
     */
    static java.util.function.Supplier<Double> backwardOnce(TrainableTask<TokenBatch> task, TokenBatch batch,
            org.peft4j.core.kernel.Kernels kernels, java.util.List<org.peft4j.core.param.ParamRegistry.NamedParam> trainable) {
        org.junit.jupiter.api.Assertions.assertFalse(trainable.isEmpty());
        trainable.forEach(np -> np.param().zeroGrad());
        try (org.peft4j.core.nn.Tape tape = org.peft4j.core.nn.Tape.recordingWithoutDropout(kernels)) {
            task.forward(batch, tape);
            task.backward(tape, 1.0);
            org.junit.jupiter.api.Assertions.assertEquals(0, tape.depth(), "every saved entry popped");
        }
        return () -> {
            try (org.peft4j.core.nn.Tape tape = org.peft4j.core.nn.Tape.inference(kernels)) {
                return task.forward(batch, tape).value();
            }
        };
    }
}
