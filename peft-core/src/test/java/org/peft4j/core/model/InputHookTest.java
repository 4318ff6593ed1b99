package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.InputHook;
import org.peft4j.core.nn.PastKeyValues;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.testing.TinyModels;

/**
 * The hooks prompt methods will use, exercised by two minimal test-only methods: one prepends trainable
 * vectors to the token embeddings (Prompt Tuning's shape), one adds trainable past keys/values to every
 * attention layer (Prefix Tuning's shape). Gradients reach their params through the frozen model.
 */
class InputHookTest {

    /** Prepends {@code n} trainable rows to every sequence. */
    static final class PrependVectors extends InputHook {
        final Param prompt;

        PrependVectors(int n, int dim, SplittableRandom rng) {
            prompt = register(Param.owned("prompt", "test-prompt", GradientCheck.randn(rng, n, dim), true));
        }

        @Override
        public INDArray forward(INDArray tokens, Tape tape) {
            SequenceContext ctx = tape.context();
            int n = (int) prompt.shape()[0];
            int t = ctx.seqLen();
            INDArray out = Nd4j.create(tokens.dataType(), (long) ctx.batch() * (n + t), tokens.columns());
            for (int b = 0; b < ctx.batch(); b++) {
                out.get(NDArrayIndex.interval(b * (n + t), b * (n + t) + n), NDArrayIndex.all()).assign(prompt.value());
                out.get(NDArrayIndex.interval(b * (n + t) + n, (b + 1) * (n + t)), NDArrayIndex.all())
                        .assign(tokens.get(NDArrayIndex.interval(b * t, (b + 1) * t), NDArrayIndex.all()));
            }
            ctx.prependTokens(n);
            tape.push(this, t);
            return out;
        }

        @Override
        public INDArray backward(INDArray grad, Tape tape) {
            int t = tape.pop(this, Integer.class);
            int n = (int) prompt.shape()[0];
            int batch = (int) (grad.rows() / (n + t));
            INDArray dTokens = Nd4j.create(grad.dataType(), (long) batch * t, grad.columns());
            for (int b = 0; b < batch; b++) {
                prompt.grad().addi(grad.get(NDArrayIndex.interval(b * (n + t), b * (n + t) + n), NDArrayIndex.all()));
                dTokens.get(NDArrayIndex.interval(b * t, (b + 1) * t), NDArrayIndex.all())
                        .assign(grad.get(NDArrayIndex.interval(b * (n + t) + n, (b + 1) * (n + t)), NDArrayIndex.all()));
            }
            return dTokens;
        }
    }

    /** Trainable keys and values [heads, P, headDim] per layer, shared by every sequence of a batch. */
    static final class PastPrefix extends InputHook {
        final Param[] keys;
        final Param[] values;

        PastPrefix(int layers, int heads, int length, int headDim, SplittableRandom rng) {
            keys = new Param[layers];
            values = new Param[layers];
            for (int l = 0; l < layers; l++) {
                keys[l] = register(Param.owned("keys_" + l, "test-prefix", GradientCheck.randn(rng, heads, length, headDim), true));
                values[l] = register(Param.owned("values_" + l, "test-prefix", GradientCheck.randn(rng, heads, length, headDim), true));
            }
        }

        private INDArray tile(INDArray x, int batch) {
            return Nd4j.concat(0, java.util.Collections.nCopies(batch, x).toArray(new INDArray[0]));
        }

        @Override
        public INDArray forward(INDArray tokens, Tape tape) {
            int batch = tape.context().batch();
            INDArray[] k = new INDArray[keys.length];
            INDArray[] v = new INDArray[keys.length];
            for (int l = 0; l < keys.length; l++) {
                k[l] = tile(keys[l].value(), batch);
                v[l] = tile(values[l].value(), batch);
            }
            PastKeyValues past = new PastKeyValues((int) keys[0].shape()[1], k, v, tape.isRecording());
            tape.context().setPast(past);
            tape.push(this, past);
            return tokens;
        }

        @Override
        public INDArray backward(INDArray grad, Tape tape) {
            PastKeyValues past = tape.pop(this, PastKeyValues.class);
            for (int l = 0; l < keys.length; l++) {
                long heads = keys[l].shape()[0];
                INDArray kg = past.keyGrad(l);
                INDArray vg = past.valueGrad(l);
                long batch = kg.size(0) / heads;
                keys[l].grad().addi(kg.reshape(batch, heads, kg.size(1), kg.size(2)).sum(0));
                values[l].grad().addi(vg.reshape(batch, heads, vg.size(1), vg.size(2)).sum(0));
            }
            return grad;
        }
    }

    private static double loss(CausalLmTask task, TokenBatch batch) {
        try (Tape tape = Tape.inference(task.kernels())) {
            return task.forward(batch, tape).value();
        }
    }

    private static void backward(CausalLmTask task, TokenBatch batch) {
        try (Tape tape = Tape.recordingWithoutDropout(task.kernels())) {
            task.forward(batch, tape);
            task.backward(tape, 1.0);
            assertEquals(0, tape.depth());
        }
    }

    @Test
    void prependedVectorsTrainThroughAFrozenModel() {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 11, DataType.DOUBLE, KernelChoice.PORTABLE);
        SplittableRandom rng = new SplittableRandom(12);
        PrependVectors hook = new PrependVectors(3, 8, rng);
        model.addInputHook("prompt_encoder", hook);
        ParamRegistry registry = new ParamRegistry(model);
        assertEquals(java.util.List.of("prompt_encoder.prompt"), registry.trainable().stream().map(ParamRegistry.NamedParam::path).toList());
        TokenBatch batch = TinyModels.paddedBatch();
        try (Tape tape = Tape.inference(model.kernels())) {
            assertEquals(2 * (3 + 5), model.forward(batch, tape).rows(), "virtual tokens are part of the hidden sequence");
        }
        CausalLmTask task = new CausalLmTask(model);
        backward(task, batch);
        GradientCheck.checkParam("prompt", hook.prompt, () -> loss(task, batch), 24, 1e-6, rng);
    }

    @Test
    void pastKeysAndValuesTrainThroughAFrozenModel() {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 13, DataType.DOUBLE, KernelChoice.PORTABLE);
        SplittableRandom rng = new SplittableRandom(14);
        PastPrefix hook = new PastPrefix(2, 2, 3, 4, rng);
        model.addInputHook("prefix", hook);
        TokenBatch batch = TinyModels.paddedBatch();
        try (Tape tape = Tape.inference(model.kernels())) {
            assertEquals(2 * 5, model.forward(batch, tape).rows(), "a prefix adds keys, not rows");
        }
        CausalLmTask task = new CausalLmTask(model);
        backward(task, batch);
        for (int l = 0; l < 2; l++) {
            GradientCheck.checkParam("keys_" + l, hook.keys[l], () -> loss(task, batch), 12, 1e-6, rng);
            GradientCheck.checkParam("values_" + l, hook.values[l], () -> loss(task, batch), 12, 1e-6, rng);
        }
        model.removeInputHook("prefix");
        assertTrue(new ParamRegistry(model).trainable().isEmpty());
    }
}
