package org.peft4j.core.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.GradientCheck;

/**
 * Every layer's backward against central finite differences in double precision, with every param
 * trainable and non-trivial values (so no gradient is zero by construction). L = Σ y ⊙ probe.
 */
class LayerGradientTest {
    private static final double TOL = 1e-6;
    private final Kernels kernels = KernelChoice.PORTABLE.resolve();

    /** Runs forward, backward with the probe, then checks every param and the input. */
    private void checkLayer(Layer layer, INDArray x, SequenceContext ctx, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        ParamRegistry registry = new ParamRegistry(layer);
        registry.unfreezeAll();
        INDArray probe;
        INDArray dx;
        try (Tape tape = Tape.recordingWithoutDropout(kernels)) {
            tape.setContext(ctx);
            INDArray y = layer.forward(x, tape);
            probe = GradientCheck.randn(rng, y.shape());
            dx = layer.backward(probe, tape);
            assertEquals(0, tape.depth(), "backward must pop everything forward pushed");
        }
        INDArray fixedProbe = probe;
        java.util.function.Supplier<Double> loss = () -> {
            try (Tape tape = Tape.inference(kernels)) {
                tape.setContext(ctx);
                return layer.forward(x, tape).mul(fixedProbe).sumNumber().doubleValue();
            }
        };
        for (ParamRegistry.NamedParam np : registry.all()) {
            GradientCheck.checkParam(np.path(), np.param(), loss, 40, TOL, rng);
        }
        GradientCheck.check("x", x, dx, loss, 40, TOL, rng);
    }

    private static SequenceContext rows(int n) {
        return new SequenceContext(1, n, null);
    }

    private static Param param(String name, SplittableRandom rng, long... shape) {
        return Param.frozen(name, GradientCheck.randn(rng, shape));
    }

    @ParameterizedTest
    @EnumSource(WeightLayout.class)
    void linear(WeightLayout layout) {
        SplittableRandom rng = new SplittableRandom(1);
        long[] shape = layout == WeightLayout.OUT_IN ? new long[] {4, 3} : new long[] {3, 4};
        Linear linear = new Linear(param("weight", rng, shape), param("bias", rng, 4), layout);
        checkLayer(linear, GradientCheck.randn(rng, 5, 3), rows(5), 2);
    }

    @Test
    void linearWithoutBias() {
        SplittableRandom rng = new SplittableRandom(3);
        checkLayer(new Linear(param("weight", rng, 4, 3), null, WeightLayout.OUT_IN), GradientCheck.randn(rng, 5, 3), rows(5), 4);
    }

    @Test
    void layerNorm() {
        SplittableRandom rng = new SplittableRandom(5);
        LayerNorm ln = new LayerNorm(param("weight", rng, 6), param("bias", rng, 6), 1e-5);
        checkLayer(ln, GradientCheck.randn(rng, 4, 6), rows(4), 6);
    }

    @Test
    void rmsNorm() {
        SplittableRandom rng = new SplittableRandom(7);
        checkLayer(new RmsNorm(param("weight", rng, 6), 1e-6), GradientCheck.randn(rng, 4, 6), rows(4), 8);
    }

    @ParameterizedTest
    @EnumSource(Activation.class)
    void activation(Activation fn) {
        SplittableRandom rng = new SplittableRandom(9);
        // keep ReLU's inputs away from its kink, where finite differences are undefined
        INDArray x = GradientCheck.randn(rng, 4, 5);
        if (fn == Activation.RELU) {
            x = x.addi(org.nd4j.linalg.ops.transforms.Transforms.sign(x, true).muli(0.01));
        }
        checkLayer(new ActivationLayer(fn), x, rows(4), 10);
    }

    @Test
    void mlp() {
        SplittableRandom rng = new SplittableRandom(11);
        Mlp mlp = new Mlp("c_fc", new Linear(param("weight", rng, 4, 8), param("bias", rng, 8), WeightLayout.IN_OUT),
                new ActivationLayer(Activation.GELU_TANH),
                "c_proj", new Linear(param("weight", rng, 8, 4), param("bias", rng, 4), WeightLayout.IN_OUT), 0.0);
        checkLayer(mlp, GradientCheck.randn(rng, 6, 4), rows(6), 12);
    }

    private static MultiHeadAttention fusedAttention(SplittableRandom rng, int hidden, int heads, boolean causal) {
        MultiHeadAttention.Spec spec = new MultiHeadAttention.Spec(0, heads, heads, hidden / heads, causal, 0.0, 0.0);
        return MultiHeadAttention.fused(spec,
                "c_attn", new Linear(param("weight", rng, hidden, 3 * hidden), param("bias", rng, 3 * hidden), WeightLayout.IN_OUT),
                "c_proj", new Linear(param("weight", rng, hidden, hidden), param("bias", rng, hidden), WeightLayout.IN_OUT));
    }

    @Test
    void causalAttentionWithPadding() {
        SplittableRandom rng = new SplittableRandom(13);
        int batch = 2;
        int seq = 4;
        // second sequence right-padded by one token
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 0};
        checkLayer(fusedAttention(rng, 6, 2, true), GradientCheck.randn(rng, batch * seq, 6), new SequenceContext(batch, seq, mask), 14);
    }

    @Test
    void bidirectionalAttention() {
        SplittableRandom rng = new SplittableRandom(15);
        checkLayer(fusedAttention(rng, 6, 3, false), GradientCheck.randn(rng, 2 * 3, 6), new SequenceContext(2, 3, null), 16);
    }

    @Test
    void groupedQueryAttentionWithSeparateProjections() {
        SplittableRandom rng = new SplittableRandom(17);
        int hidden = 8;
        int heads = 4;
        int kvHeads = 2;
        int headDim = 2;
        MultiHeadAttention.Spec spec = new MultiHeadAttention.Spec(0, heads, kvHeads, headDim, true, 0.0, 0.0);
        Function<Integer, Linear> proj = out -> new Linear(param("weight", rng, out, hidden), null, WeightLayout.OUT_IN);
        MultiHeadAttention attn = MultiHeadAttention.separate(spec, new String[] {"q_proj", "k_proj", "v_proj", "o_proj"},
                proj.apply(heads * headDim), proj.apply(kvHeads * headDim), proj.apply(kvHeads * headDim),
                new Linear(param("weight", rng, hidden, heads * headDim), null, WeightLayout.OUT_IN), null);
        checkLayer(attn, GradientCheck.randn(rng, 2 * 3, hidden), new SequenceContext(2, 3, null), 18);
    }

    @Test
    void transformerBlock() {
        SplittableRandom rng = new SplittableRandom(19);
        int d = 6;
        Mlp mlp = new Mlp("c_fc", new Linear(param("weight", rng, d, 12), param("bias", rng, 12), WeightLayout.IN_OUT),
                new ActivationLayer(Activation.GELU),
                "c_proj", new Linear(param("weight", rng, 12, d), param("bias", rng, d), WeightLayout.IN_OUT), 0.0);
        TransformerBlock block = new TransformerBlock(TransformerBlock.Names.GPT2,
                new LayerNorm(param("weight", rng, d), param("bias", rng, d), 1e-5), fusedAttention(rng, d, 2, true),
                new LayerNorm(param("weight", rng, d), param("bias", rng, d), 1e-5), mlp);
        checkLayer(block, GradientCheck.randn(rng, 2 * 3, d), new SequenceContext(2, 3, null), 20);
    }

    @Test
    void embeddingScatterAddsIntoUsedRowsOnly() {
        SplittableRandom rng = new SplittableRandom(21);
        Embedding emb = new Embedding(param("weight", rng, 7, 3));
        emb.weight().setTrainable(true);
        int[] ids = {2, 5, 2, 0};
        INDArray probe = GradientCheck.randn(rng, 4, 3);
        try (Tape tape = Tape.recordingWithoutDropout(kernels)) {
            tape.setContext(rows(4));
            emb.forward(ids, tape);
            emb.backward(probe, tape);
        }
        INDArray grad = emb.weight().grad();
        for (int row = 0; row < 7; row++) {
            for (int j = 0; j < 3; j++) {
                double expected = 0;
                for (int i = 0; i < ids.length; i++) {
                    expected += ids[i] == row ? probe.getDouble(i, j) : 0;
                }
                assertEquals(expected, grad.getDouble(row, j), 1e-12, "row " + row);
            }
        }
    }

    @Test
    void frozenParamsGetNoGradientBuffer() {
        SplittableRandom rng = new SplittableRandom(23);
        Linear linear = new Linear(param("weight", rng, 4, 3), param("bias", rng, 4), WeightLayout.OUT_IN);
        assertThrows(IllegalStateException.class, () -> linear.weight().grad());
        try (Tape tape = Tape.recordingWithoutDropout(kernels)) {
            tape.setContext(rows(2));
            INDArray y = linear.forward(GradientCheck.randn(rng, 2, 3), tape);
            INDArray dx = linear.backward(y, tape);
            assertEquals(2, dx.rows());
        }
        assertThrows(IllegalStateException.class, () -> linear.bias().grad());
    }

    @Test
    void backwardTwiceDoublesTheGradients() {
        SplittableRandom rng = new SplittableRandom(25);
        Linear linear = new Linear(param("weight", rng, 4, 3), param("bias", rng, 4), WeightLayout.OUT_IN);
        new ParamRegistry(linear).unfreezeAll();
        INDArray x = GradientCheck.randn(rng, 2, 3);
        INDArray probe = GradientCheck.randn(rng, 2, 4);
        INDArray once = null;
        for (int run = 0; run < 2; run++) {
            try (Tape tape = Tape.recordingWithoutDropout(kernels)) {
                tape.setContext(rows(2));
                linear.forward(x, tape);
                linear.backward(probe, tape);
            }
            if (run == 0) {
                once = linear.weight().grad().dup();
            }
        }
        org.junit.jupiter.api.Assertions.assertTrue(linear.weight().grad().equalsWithEps(once.mul(2), 1e-12));
    }

    @Test
    void linearRejectsWrongInputWidth() {
        SplittableRandom rng = new SplittableRandom(27);
        Linear linear = new Linear(param("weight", rng, 4, 3), null, WeightLayout.OUT_IN);
        try (Tape tape = Tape.inference(kernels)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> linear.forward(GradientCheck.randn(rng, 2, 5), tape));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("[n, 3]"), e.getMessage());
        }
    }

    @Test
    void dropoutBackwardMatchesFiniteDifferencesUnderOneMask() {
        // every pass with the same seed draws the same mask, so the loss is a smooth function of x
        SplittableRandom rng = new SplittableRandom(29);
        Dropout dropout = new Dropout(0.3);
        INDArray x = GradientCheck.randn(rng, 6, 5);
        INDArray probe = GradientCheck.randn(rng, 6, 5);
        INDArray dx;
        try (Tape tape = Tape.training(kernels, 99)) {
            tape.setContext(rows(6));
            dropout.forward(x, tape);
            dx = dropout.backward(probe, tape);
        }
        GradientCheck.check("x", x, dx, () -> {
            try (Tape tape = Tape.training(kernels, 99)) {
                tape.setContext(rows(6));
                return dropout.forward(x, tape).mul(probe).sumNumber().doubleValue();
            }
        }, 30, TOL, rng);
        assertTrue(dx.eq(0).castTo(DataType.DOUBLE).sumNumber().doubleValue() > 0, "some elements were dropped");
    }

    @Test
    void dropoutIsSeededInvertedAndIdentityAtInference() {
        Dropout dropout = new Dropout(0.5);
        INDArray x = org.nd4j.linalg.factory.Nd4j.ones(DataType.DOUBLE, 50, 40);
        INDArray a;
        INDArray b;
        try (Tape tape = Tape.training(kernels, 7)) {
            a = dropout.forward(x, tape);
        }
        try (Tape tape = Tape.training(kernels, 7)) {
            b = dropout.forward(x, tape);
        }
        assertEquals(a, b, "same seed, same mask");
        double kept = a.gt(0).castTo(DataType.DOUBLE).meanNumber().doubleValue();
        assertEquals(0.5, kept, 0.05);
        assertEquals(2.0, a.maxNumber().doubleValue(), 1e-12, "kept values scaled by 1/(1-p)");
        try (Tape tape = Tape.inference(kernels)) {
            assertEquals(x, dropout.forward(x, tape));
        }
    }
}
