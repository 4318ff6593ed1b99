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

    /** Returns op(a)·op(b) {@code [m, n]} as a new c-ordered array. */
    public static INDArray mm(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
        long m = transposeA ? a.columns() : a.rows();
        long kA = transposeA ? a.rows() : a.columns();
        long kB = transposeB ? b.columns() : b.rows();
        long n = transposeB ? b.rows() : b.columns();
        if (kA != kB) {
            throw new IllegalArgumentException("matrix product needs matching inner sizes: " + describe(a, transposeA) + " x "
                    + describe(b, transposeB));
        }
        long start = System.nanoTime();
        INDArray c = Nd4j.createUninitialized(a.dataType(), m, n);
        Nd4j.gemm(a, b, c, transposeA, transposeB, 1.0, 0.0);
        GemmStatistics.recordGemm(m, n, kA, System.nanoTime() - start);
        return c;
    }

    /** c = alpha·op(a)·op(b) + beta·c, in place; c must be a c-ordered non-view array. */
    public static void mmInto(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB, double alpha, double beta) {
        long start = System.nanoTime();
        Nd4j.gemm(a, b, c, transposeA, transposeB, alpha, beta);
        GemmStatistics.recordGemm(c.rows(), c.columns(), transposeA ? a.rows() : a.columns(), System.nanoTime() - start);
    }

    /** Sizes of a batched product {@code [batch, m, n] = op(a[i])·op(b[i])}, op(a[i]) being {@code [m, k]}. */
    private record BatchedShape(int batch, int m, int n, int k) {
        /** The sizes of op(a)·op(b) for rank-3 a and b; throws if the ranks, batches or inner sizes do not match. */
        static BatchedShape of(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
            if (a.rank() != 3 || b.rank() != 3 || a.size(0) != b.size(0)) {
                throw new IllegalArgumentException("batched product needs two rank-3 arrays with the same first size: " + describe(a, transposeA)
                        + " x " + describe(b, transposeB));
            }
            long kA = transposeA ? a.size(1) : a.size(2);
            long kB = transposeB ? b.size(2) : b.size(1);
            if (kA != kB) {
                throw new IllegalArgumentException("batched product needs matching inner sizes: " + describe(a, transposeA) + " x "
                        + describe(b, transposeB));
            }
            return new BatchedShape(Math.toIntExact(a.size(0)), Math.toIntExact(transposeA ? a.size(2) : a.size(1)),
                    Math.toIntExact(transposeB ? b.size(1) : b.size(2)), Math.toIntExact(kA));
        }
    }

    /** Batched product of rank-3 arrays through ND4J: {@code [batch, m, n] = op(a[i])·op(b[i])} for every i. */
    public static INDArray bmm(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
        BatchedShape shape = BatchedShape.of(a, b, transposeA, transposeB);
        long start = System.nanoTime();
        INDArray c = Nd4j.createUninitialized(a.dataType(), shape.batch(), shape.m(), shape.n());
        Nd4j.matmul(a, b, c, transposeA, transposeB, false);
        GemmStatistics.recordBatched(shape.batch(), shape.m(), shape.n(), shape.k(), System.nanoTime() - start);
        return c;
    }

    private static String describe(INDArray x, boolean transposed) {
        return Arrays.toString(x.shape()) + (transposed ? "ᵀ" : "");
    }
}
