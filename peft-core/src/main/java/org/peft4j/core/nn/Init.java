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
        return sample(type, shape, () -> gaussian(rng) * std);
    }

    /** Values drawn from U(−bound, bound). */
    public static INDArray uniform(DataType type, double bound, SplittableRandom rng, long... shape) {
        return sample(type, shape, () -> (rng.nextDouble() * 2 - 1) * bound);
    }

    /** Fills a new array in c order from {@code draw}; float arrays are filled without a double copy. */
    private static INDArray sample(DataType type, long[] shape, java.util.function.DoubleSupplier draw) {
        int n = Math.toIntExact(length(shape));
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (type == DataType.FLOAT) {
                float[] values = new float[n];
                for (int i = 0; i < n; i++) {
                    values[i] = (float) draw.getAsDouble();
                }
                return Nd4j.create(values, shape, 'c');
            }
            double[] values = new double[n];
            for (int i = 0; i < n; i++) {
                values[i] = draw.getAsDouble();
            }
            return Nd4j.create(values, shape, type);
        }
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
