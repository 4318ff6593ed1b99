package org.peft4j.core.nn;

import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Parameter initialisation from a seeded Java generator: the same seed gives the same weights on every
 * backend and thread count. Arrays are created outside any workspace, since params outlive passes.
 */
public final class Init {
    private Init() {
    }

    /** Values drawn from N(0, std²). */
    public static INDArray normal(DataType type, double std, SplittableRandom rng, long... shape) {
        double[] values = new double[Math.toIntExact(length(shape))];
        for (int i = 0; i < values.length; i++) {
            values[i] = gaussian(rng) * std;
        }
        return create(type, values, shape);
    }

    /** Values drawn from U(−bound, bound). */
    public static INDArray uniform(DataType type, double bound, SplittableRandom rng, long... shape) {
        double[] values = new double[Math.toIntExact(length(shape))];
        for (int i = 0; i < values.length; i++) {
            values[i] = (rng.nextDouble() * 2 - 1) * bound;
        }
        return create(type, values, shape);
    }

    /** All values equal to {@code value}. */
    public static INDArray constant(DataType type, double value, long... shape) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return Nd4j.valueArrayOf(shape, value, type);
        }
    }

    /** One standard normal sample (Box–Muller), so the sequence depends only on the generator. */
    public static double gaussian(SplittableRandom rng) {
        double u1 = 1.0 - rng.nextDouble();     // (0, 1]: log is finite
        double u2 = rng.nextDouble();
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    private static INDArray create(DataType type, double[] values, long[] shape) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return Nd4j.create(values, shape, type);
        }
    }

    private static long length(long[] shape) {
        long n = 1;
        for (long s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + java.util.Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, s);
        }
        return n;
    }
}
