package org.peft4j.core.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Init;
import org.peft4j.core.param.Param;

/**
 * Central finite differences in double precision against analytic gradients. A scalar loss is given
 * as a function that runs a fresh forward pass; the analytic gradients must already be in the params'
 * grad buffers (and, for inputs, in the given array).
 */
public final class GradientCheck {
    public static final double EPS = 1e-6;

    private GradientCheck() {
    }

    /** A random array in double, values ~ N(0, 1). */
    public static INDArray randn(SplittableRandom rng, long... shape) {
        return Init.normal(DataType.DOUBLE, 1.0, rng, shape);
    }

    /**
     * Compares {@code analytic[i]} with (L(x+ε) − L(x−ε))/2ε for up to {@code maxChecks} entries of
     * {@code target}, chosen by the seeded generator. Fails listing every mismatch.
     */
    public static void check(String name, INDArray target, INDArray analytic, Supplier<Double> loss, int maxChecks, double tolerance,
            SplittableRandom rng) {
        long n = target.length();
        List<String> failures = new ArrayList<>();
        int checks = (int) Math.min(n, maxChecks);
        double maxAbs = 0;
        for (int c = 0; c < checks; c++) {
            long i = checks == n ? c : rng.nextLong(n);
            double orig = target.getDouble(i);
            target.putScalar(i, orig + EPS);
            double up = loss.get();
            target.putScalar(i, orig - EPS);
            double down = loss.get();
            target.putScalar(i, orig);
            double numeric = (up - down) / (2 * EPS);
            double a = analytic.getDouble(i);
            maxAbs = Math.max(maxAbs, Math.abs(a));
            double err = Math.abs(a - numeric) / Math.max(1.0, Math.max(Math.abs(a), Math.abs(numeric)));
            if (err > tolerance) {
                failures.add(name + "[" + i + "]: analytic " + a + " numeric " + numeric);
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " gradient mismatches:\n" + String.join("\n", failures.subList(0, Math.min(20, failures.size()))));
        // a check whose gradients are all zero passes vacuously: the caller must set up a non-trivial case
        assertTrue(maxAbs > 1e-8, name + ": all checked gradients are ~0, the check would pass vacuously");
    }

    /** {@link #check} for a param's value against its grad buffer. */
    public static void checkParam(String name, Param p, Supplier<Double> loss, int maxChecks, double tolerance, SplittableRandom rng) {
        check(name, p.value(), p.grad(), loss, maxChecks, tolerance, rng);
    }
}
