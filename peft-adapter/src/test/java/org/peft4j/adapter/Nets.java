package org.peft4j.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;
import java.util.function.BiFunction;
import java.util.function.Supplier;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.SequenceClassifier;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertForSequenceClassification;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.model.llama.LlamaModel;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.param.ParamRegistry.NamedParam;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.testing.TinyDecoders;

/** Tiny BERT, GPT-2 and LLaMA-style models in double precision, with their inputs, for the tests of this module. */
public final class Nets {
    private Nets() {
    }

    /** A model with one batch: forward gives its output (logits), backward takes dL/d(output). */
    public interface Net {
        PretrainedModel model();

        TokenBatch batch();

        INDArray forward(Tape tape);

        void backward(INDArray gradOutput, Tape tape);
    }

    /** The kinds of tiny model. */
    public enum Kind {
        BERT, GPT2, LLAMA;

        public Net create(long seed) {
            return switch (this) {
                case BERT -> bert(seed);
                case GPT2 -> gpt2(seed);
                case LLAMA -> llama(seed, true);
            };
        }
    }

    /** A BERT classifier: vocab 13, 2 layers, hidden 8, 2 heads, MLP 16, 3 labels, mean pooling, no dropout; two padded pairs. */
    public static Net bert(long seed) {
        BertConfig config = BertConfig.builder().vocabSize(13).hiddenSize(8).numHiddenLayers(2).numAttentionHeads(2).intermediateSize(16)
                .maxPositionEmbeddings(16).typeVocabSize(2).dropout(0.0).initializerRange(0.5).numLabels(3).build();
        BertForSequenceClassification m = BertForSequenceClassification.random(config, BertForSequenceClassification.Pooling.MEAN, seed,
                DataType.DOUBLE, KernelChoice.PORTABLE);
        TokenBatch batch = new TokenBatch(2, 5, new int[] {2, 4, 7, 3, 9, 2, 11, 8, 0, 0}, new int[] {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, null,
                new int[] {0, 0, 0, 1, 1, 0, 0, 1, 0, 0});
        return classifier(m, batch);
    }

    /** GPT-2: vocab 13, 2 blocks, hidden 8, 2 heads, MLP 16, weights ~ N(0, 0.3²); two sequences, one padded. */
    public static Net gpt2(long seed) {
        return gpt2(seed, DataType.DOUBLE);
    }

    /** {@link #gpt2(long)} with params of {@code type} (the Trainer trains FLOAT models). */
    public static Net gpt2(long seed, DataType type) {
        Gpt2Config config = Gpt2Config.builder().vocabSize(13).nPositions(16).nEmbd(8).nLayer(2).nHead(2).nInner(16)
                .activation(Activation.GELU_TANH).dropout(0.0).initializerRange(0.3).build();
        return causal(Gpt2Model.random(config, seed, type, KernelChoice.PORTABLE));
    }

    /** A LLaMA-style decoder (TinyDecoders.tinyLlama, weights ~ N(0, 0.3²)), with or without attention and MLP biases. */
    public static Net llama(long seed, boolean biases) {
        return causal(LlamaModel.random(TinyDecoders.tinyLlama().attentionBias(biases).mlpBias(biases).initializerRange(0.3).build(), seed,
                DataType.DOUBLE, KernelChoice.PORTABLE));
    }

    private static Net classifier(SequenceClassifier m, TokenBatch batch) {
        return new Simple(m, batch, m::forward, m::backward);
    }

    private static Net causal(CausalLm m) {
        TokenBatch batch = new TokenBatch(2, 5, new int[] {1, 4, 7, 2, 9, 3, 3, 8, 12, 0}, new int[] {1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
                new int[] {1, 4, 7, 2, 9, 3, 3, 8, 12, TokenBatch.IGNORE_INDEX});
        return new Simple(m, batch, m::forward, m::backward);
    }

    /** A net from a model's forward and backward. */
    private record Simple(PretrainedModel model, TokenBatch batch, BiFunction<TokenBatch, Tape, INDArray> forwardPass,
            BiConsumer<INDArray, Tape> backwardPass) implements Net {
        @Override
        public INDArray forward(Tape tape) {
            return forwardPass.apply(batch, tape);
        }

        @Override
        public void backward(INDArray gradOutput, Tape tape) {
            backwardPass.accept(gradOutput, tape);
        }
    }

    /** The model's output on its batch, inference. */
    public static INDArray output(Net net) {
        try (Tape tape = Tape.inference(net.model().kernels())) {
            return net.forward(tape).dup();
        }
    }

    /** Sets every trainable param of {@code root} to values ~ N(0, std²), so that no gradient is trivially zero. */
    public static void perturbTrainable(Module root, double std, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        for (NamedParam np : new ParamRegistry(root).trainable()) {
            np.param().value().assign(GradientCheck.randn(rng, np.param().shape()).muli(std));
        }
    }

    /**
     * Runs forward and backward with L = Σ output ⊙ probe (a random probe) and compares the gradient of every
     * trainable param with central finite differences at up to {@code checks} entries each.
     */
    public static void checkTrainableGradients(Net net, int checks, long seed) {
        checkTrainableGradients(net, checks, seed, path -> true);
    }

    /** {@link #checkTrainableGradients(Net, int, long)} for the trainable params whose path {@code checked} accepts. */
    public static void checkTrainableGradients(Net net, int checks, long seed, java.util.function.Predicate<String> checked) {
        Module root = net.model().module();
        ParamRegistry registry = new ParamRegistry(root);
        registry.trainable().forEach(np -> np.param().zeroGrad());
        SplittableRandom rng = new SplittableRandom(seed);
        INDArray probe;
        try (Tape tape = Tape.recordingWithoutDropout(net.model().kernels())) {
            INDArray out = net.forward(tape);
            probe = GradientCheck.randn(rng, out.shape());
            net.backward(probe, tape);
            assertEquals(0, tape.depth(), "backward popped everything forward saved");
        }
        Supplier<Double> loss = () -> {
            try (Tape tape = Tape.inference(net.model().kernels())) {
                return net.forward(tape).mul(probe).sumNumber().doubleValue();
            }
        };
        for (NamedParam np : registry.trainable()) {
            if (!checked.test(np.path())) {
                continue;
            }
            GradientCheck.checkParam(np.path(), np.param(), loss, checks, 1e-6, rng);
        }
    }

    /** Copies of every param value by path. */
    public static Map<String, INDArray> snapshot(Module root) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        new ParamRegistry(root).all().forEach(np -> out.put(np.path(), np.param().value().dup()));
        return out;
    }

    /** Same shape and the same bits in every entry. */
    public static void assertBitIdentical(INDArray expected, INDArray actual, String message) {
        assertArrayEquals(expected.shape(), actual.shape(), message);
        assertArrayEquals(expected.dup().data().asDouble(), actual.dup().data().asDouble(), 0.0, message);
    }
}
