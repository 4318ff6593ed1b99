package org.peft4j.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.function.Function;
import java.util.function.UnaryOperator;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * The lane-wise special functions of {@link VectorRowMath} against {@link FastMath}'s scalar ones: the
 * same operations in the same order, so the results must be bit-identical for every input, including
 * the clamped ends, the masked scores (−1e9, −∞) and the overflow.
 */
class VectorSpecialFunctionsTest {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private static float[] sweep() {
        float[] xs = new float[F.length() * 2600];
        int i = 0;
        for (; i < 2560 * F.length() / 2; i++) {
            xs[i] = -100f + 200f * i / (2560 * F.length() / 2f);
        }
        float[] special = {0f, -0f, 1e-30f, -1e-30f, -87.33654f, -87.3365f, -88f, 88.72283f, 88.7229f, -1e9f, Float.NEGATIVE_INFINITY,
            Float.POSITIVE_INFINITY, 0.34657359f, -0.34657359f, 0.5f, 2.5f, -2.5f, 4f, -4f, 9f, -9f};
        for (float s : special) {
            xs[i++] = s;
        }
        java.util.SplittableRandom rng = new java.util.SplittableRandom(3);
        for (; i < xs.length; i++) {
            xs[i] = (float) (rng.nextGaussian() * 3);
        }
        return xs;
    }

    private static void assertSameAsScalar(String name, Function<FloatVector, FloatVector> lanes, UnaryOperator<Float> scalar) {
        float[] xs = sweep();
        float[] out = new float[xs.length];
        for (int i = 0; i < xs.length; i += F.length()) {
            lanes.apply(FloatVector.fromArray(F, xs, i)).intoArray(out, i);
        }
        for (int i = 0; i < xs.length; i++) {
            float x = xs[i];
            float expected = scalar.apply(x);
            float got = out[i];
            assertEquals(Float.floatToIntBits(expected), Float.floatToIntBits(got), () -> name + "(" + x + "): lanes " + got + ", scalar " + expected);
        }
    }

    @Test
    void expEqualsTheScalarBitForBit() {
        assertSameAsScalar("exp", VectorRowMath::exp, FastMath::exp);
    }

    @Test
    void sigmoidAndSech2EqualTheScalarBitForBit() {
        assertSameAsScalar("sigmoid", VectorRowMath::sigmoid, FastMath::sigmoid);
        assertSameAsScalar("sech2", VectorRowMath::sech2, FastMath::sech2);
    }

    @Test
    void erfAndTanhEqualTheScalarBitForBit() {
        assertSameAsScalar("erf", VectorRowMath::erf, FastMath::erf);
        assertSameAsScalar("tanh", VectorRowMath::tanh, FastMath::tanh);
    }
}
