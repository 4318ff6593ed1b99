package org.peft4j.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.testing.GradientCheck;

/** The rotary position embedding: HF's numbers by hand, its backward, and the fast kernel against the portable one. */
class RotaryEmbeddingTest {
    private final Kernels portable = KernelChoice.PORTABLE.resolve();

    @Test
    void inverseFrequenciesAreOneOverThetaToTheTwoIOverD() {
        float[] inv = RotaryEmbedding.defaultInverseFrequencies(8, 10000);
        double[] expected = {1.0, Math.pow(10000, -0.25), Math.pow(10000, -0.5), Math.pow(10000, -0.75)};
        for (int i = 0; i < 4; i++) {
            assertEquals(expected[i], inv[i], 1e-7 * expected[i], "invFreq[" + i + "]");
        }
        assertThrows(IllegalArgumentException.class, () -> RotaryEmbedding.defaultInverseFrequencies(7, 10000));
    }

    @Test
    void rotatesTheTwoHalvesByPositionTimesFrequency() {
        // head 4, theta 100: inverse frequencies 1 and 1/10; position 2 rotates pair (x0, x2) by 2 and (x1, x3) by 0.2
        RotaryEmbedding rope = new RotaryEmbedding(RotaryEmbedding.defaultInverseFrequencies(4, 100), portable);
        INDArray x = Nd4j.create(new double[] {1, 2, 3, 4}, new long[] {1, 1, 4}, DataType.DOUBLE);
        INDArray y = rope.apply(x, 2, 1);
        double a = 2.0;
        double b = 0.2;
        double[] expected = {1 * Math.cos(a) - 3 * Math.sin(a), 2 * Math.cos(b) - 4 * Math.sin(b),
            3 * Math.cos(a) + 1 * Math.sin(a), 4 * Math.cos(b) + 2 * Math.sin(b)};
        assertArrayEquals(expected, y.reshape(4).toDoubleVector(), 1e-6);
        // position 0 is the identity
        assertArrayEquals(x.reshape(4).toDoubleVector(), rope.apply(x, 0, 1).reshape(4).toDoubleVector(), 1e-12);
    }

    @Test
    void backwardIsTheTransposeOfTheRotation() {
        SplittableRandom rng = new SplittableRandom(3);
        RotaryEmbedding rope = new RotaryEmbedding(RotaryEmbedding.defaultInverseFrequencies(6, 500), portable);
        INDArray x = GradientCheck.randn(rng, 4, 5, 6);
        INDArray probe = GradientCheck.randn(rng, 4, 5, 6);
        INDArray dx = rope.backward(probe, 7, 2);
        GradientCheck.check("x", x, dx, () -> rope.apply(x, 7, 2).mul(probe).sumNumber().doubleValue(), 60, 1e-7, rng);
        assertTrue(rope.backward(rope.apply(x, 7, 2), 7, 2).equalsWithEps(x, 1e-12), "a rotation's transpose is its inverse");
    }

    @Test
    void scoresDependOnlyOnTheDistanceBetweenPositions() {
        SplittableRandom rng = new SplittableRandom(5);
        RotaryEmbedding rope = new RotaryEmbedding(RotaryEmbedding.defaultInverseFrequencies(8, 10000), portable);
        INDArray q = GradientCheck.randn(rng, 1, 1, 8);
        INDArray k = GradientCheck.randn(rng, 1, 1, 8);
        double near = rope.apply(q, 5, 1).mul(rope.apply(k, 2, 1)).sumNumber().doubleValue();
        double far = rope.apply(q, 105, 1).mul(rope.apply(k, 102, 1)).sumNumber().doubleValue();
        assertEquals(near, far, 1e-5);
    }

    @Test
    void cpuKernelMatchesThePortableOneInFloat() {
        SplittableRandom rng = new SplittableRandom(7);
        INDArray x = GradientCheck.randn(rng, 6, 9, 8).castTo(DataType.FLOAT);
        RotaryEmbedding cpu = new RotaryEmbedding(RotaryEmbedding.defaultInverseFrequencies(8, 10000), KernelChoice.CPU.resolve());
        RotaryEmbedding nd4j = new RotaryEmbedding(RotaryEmbedding.defaultInverseFrequencies(8, 10000), portable);
        assertTrue(cpu.apply(x, 3, 2).equalsWithEps(nd4j.apply(x, 3, 2), 1e-6));
        assertTrue(cpu.backward(x, 3, 2).equalsWithEps(nd4j.backward(x, 3, 2), 1e-6));
    }
}
