package org.peft4j.core.nn;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.param.Param;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.testing.LayerGradients;

/** Backward of the LLaMA building blocks against finite differences in double, every param trainable. */
class LlamaLayersGradientTest {
    private static final double TOL = 1e-6;
    private final Kernels kernels = KernelChoice.PORTABLE.resolve();

    private static Linear linear(SplittableRandom rng, int in, int out, boolean bias) {
        return new Linear(Param.frozen("weight", GradientCheck.randn(rng, out, in)), bias ? Param.frozen("bias", GradientCheck.randn(rng, out)) : null,
                WeightLayout.OUT_IN);
    }

    private static GatedMlp gatedMlp(SplittableRandom rng, int d, int inner, boolean bias) {
        return new GatedMlp("gate_proj", linear(rng, d, inner, bias), "up_proj", linear(rng, d, inner, bias), "down_proj", linear(rng, inner, d, bias),
                Activation.SILU);
    }

    /** 4 query heads sharing 2 kv heads of size 4, rotary with theta 500. */
    private MultiHeadAttention ropeAttention(SplittableRandom rng, int d) {
        MultiHeadAttention.Spec spec = new MultiHeadAttention.Spec(0, 4, 2, 4, true, 0.0, 0.0);
        return MultiHeadAttention.separate(spec, new String[] {"q_proj", "k_proj", "v_proj", "o_proj"}, linear(rng, d, 16, true),
                linear(rng, d, 8, true), linear(rng, d, 8, true), linear(rng, 16, d, false),
                new RotaryEmbedding(RotaryEmbedding.defaultInverseFrequencies(4, 500), kernels));
    }

    @Test
    void gatedMlp() {
        SplittableRandom rng = new SplittableRandom(31);
        LayerGradients.check(gatedMlp(rng, 5, 7, true), GradientCheck.randn(rng, 6, 5), new SequenceContext(2, 3, null), kernels, 32, TOL);
    }

    @Test
    void gatedMlpWithoutBias() {
        SplittableRandom rng = new SplittableRandom(33);
        LayerGradients.check(gatedMlp(rng, 4, 6, false), GradientCheck.randn(rng, 4, 4), new SequenceContext(1, 4, null), kernels, 34, TOL);
    }

    @Test
    void rotaryGroupedQueryAttentionWithPadding() {
        SplittableRandom rng = new SplittableRandom(35);
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 0};
        LayerGradients.check(ropeAttention(rng, 6), GradientCheck.randn(rng, 8, 6), new SequenceContext(2, 4, mask), kernels, 36, TOL);
    }

    @Test
    void llamaBlock() {
        SplittableRandom rng = new SplittableRandom(37);
        int d = 6;
        TransformerBlock block = new TransformerBlock(TransformerBlock.Names.LLAMA,
                new RmsNorm(Param.frozen("weight", GradientCheck.randn(rng, d)), 1e-6), ropeAttention(rng, d),
                new RmsNorm(Param.frozen("weight", GradientCheck.randn(rng, d)), 1e-6), gatedMlp(rng, d, 10, false));
        INDArray x = GradientCheck.randn(rng, 6, d);
        LayerGradients.check(block, x, new SequenceContext(2, 3, null), kernels, 38, TOL);
    }
}
