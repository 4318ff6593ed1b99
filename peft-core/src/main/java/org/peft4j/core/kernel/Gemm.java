package org.peft4j.core.kernel;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Matrix products through ND4J's GEMM into c-ordered outputs. {@code INDArray.mmul} allocates an
 * f-ordered result and was measured 10× slower here than GEMM into a preallocated c-ordered array,
 * so the engine never calls it. Every product is counted in {@link GemmStatistics}.
 */
public final class Gemm {
    private Gemm() {
    }

    /** Sizes of a product {@code [m, n] = op(a)·op(b)}, op(a) being {@code [m, k]}. */
    public record Shape(int m, int n, int k) {
        /** The sizes of op(a)·op(b) for 2-D a and b; throws if they are not 2-D or the inner sizes do not match. */
        public static Shape of(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
            if (a.rank() != 2 || b.rank() != 2) {
                throw new IllegalArgumentException("matrix product needs two 2-D arrays: " + describe(a, transposeA) + " x "
                        + describe(b, transposeB));
            }
            return ofLastTwoAxes(a, b, transposeA, transposeB, "matrix product");
        }

        /** The sizes of op(a)·op(b) over the last two axes of a and b; throws, naming {@code what}, if the inner sizes differ. */
        static Shape ofLastTwoAxes(INDArray a, INDArray b, boolean transposeA, boolean transposeB, String what) {
            long aRows = a.size(a.rank() - 2);
            long aColumns = a.size(a.rank() - 1);
            long bRows = b.size(b.rank() - 2);
            long bColumns = b.size(b.rank() - 1);
            long kA = transposeA ? aRows : aColumns;
            long kB = transposeB ? bColumns : bRows;
            if (kA != kB) {
                throw new IllegalArgumentException(what + " needs matching inner sizes: " + describe(a, transposeA) + " x "
                        + describe(b, transposeB));
            }
            return new Shape(Math.toIntExact(transposeA ? aColumns : aRows), Math.toIntExact(transposeB ? bRows : bColumns),
                    Math.toIntExact(kA));
        }

        /** Throws unless bias is null or has n values: a row added to every row of the product. */
        public void checkBias(INDArray bias) {
            if (bias != null && bias.length() != n) {
                throw new IllegalArgumentException("a linear layer's bias needs " + n + " values, got " + Arrays.toString(bias.shape()));
            }
        }

        /** Throws unless c is {@code [m, n]}, the shape of the product written into it. */
        public void checkOutput(INDArray c) {
            if (c.rank() != 2 || c.rows() != m || c.columns() != n) {
                throw new IllegalArgumentException("matrix product into c needs c of shape [" + m + ", " + n + "], got "
                        + Arrays.toString(c.shape()));
            }
        }
    }

    /** Returns op(a)·op(b) {@code [m, n]} as a new c-ordered array. */
    public static INDArray mm(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
        Shape shape = Shape.of(a, b, transposeA, transposeB);
        long start = System.nanoTime();
        INDArray c = Nd4j.createUninitialized(a.dataType(), shape.m(), shape.n());
        Nd4j.gemm(a, b, c, transposeA, transposeB, 1.0, 0.0);
        GemmStatistics.record(GemmStatistics.Kind.ND4J, 1, shape.m(), shape.n(), shape.k(), System.nanoTime() - start);
        return c;
    }

    /** c = alpha·op(a)·op(b) + beta·c, in place; c is {@code [m, n]}. */
    public static void mmInto(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB, double alpha, double beta) {
        Shape shape = Shape.of(a, b, transposeA, transposeB);
        shape.checkOutput(c);
        long start = System.nanoTime();
        Nd4j.gemm(a, b, c, transposeA, transposeB, alpha, beta);
        GemmStatistics.record(GemmStatistics.Kind.ND4J, 1, shape.m(), shape.n(), shape.k(), System.nanoTime() - start);
    }

    /** Sizes of a batched product {@code [batch, m, n] = op(a[i])·op(b[i])}, each op(a[i])·op(b[i]) of {@code matrix}'s sizes. */
    private record BatchedShape(int batch, Shape matrix) {
        /** The sizes of op(a)·op(b) for rank-3 a and b; throws if the ranks, batches or inner sizes do not match. */
        static BatchedShape of(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
            if (a.rank() != 3 || b.rank() != 3 || a.size(0) != b.size(0)) {
                throw new IllegalArgumentException("batched product needs two rank-3 arrays with the same first size: " + describe(a, transposeA)
                        + " x " + describe(b, transposeB));
            }
            return new BatchedShape(Math.toIntExact(a.size(0)), Shape.ofLastTwoAxes(a, b, transposeA, transposeB, "batched product"));
        }
    }

    /** Batched product of rank-3 arrays through ND4J: {@code [batch, m, n] = op(a[i])·op(b[i])} for every i. */
    public static INDArray bmm(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
        BatchedShape shape = BatchedShape.of(a, b, transposeA, transposeB);
        long start = System.nanoTime();
        Shape matrix = shape.matrix();
        INDArray c = Nd4j.createUninitialized(a.dataType(), shape.batch(), matrix.m(), matrix.n());
        Nd4j.matmul(a, b, c, transposeA, transposeB, false);
        GemmStatistics.record(GemmStatistics.Kind.ATTENTION, shape.batch(), matrix.m(), matrix.n(), matrix.k(), System.nanoTime() - start);
        return c;
    }

    private static String describe(INDArray x, boolean transposed) {
        return Arrays.toString(x.shape()) + (transposed ? "ᵀ" : "");
    }
}
