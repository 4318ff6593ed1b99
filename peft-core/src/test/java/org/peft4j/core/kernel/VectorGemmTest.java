package org.peft4j.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.nn.Init;

/**
 * The Java matrix product against a product computed here in double precision, through every edge of
 * its blocking: rows not a multiple of the micro-kernel's 8, columns not a multiple of its 48, depths
 * past one 256-deep pass, all four transpose combinations, α and β. Also checks that {@link
 * CpuKernels} routes products to it or to ND4J as documented. Needs {@code --add-modules
 * jdk.incubator.vector} (the pom's surefire argLine); the 512-bit species runs, if slowly, on CPUs
 * without AVX-512 too, so the numbers are checked everywhere.
 */
class VectorGemmTest {
    private final SplittableRandom rng = new SplittableRandom(7);
    private final HostGemm gemm = new VectorGemm();

    private INDArray randn(long... shape) {
        return Init.normal(DataType.FLOAT, 1.0, rng, shape);
    }

    /** α·op(a)·op(b) + β·c0 in double, element by element. */
    private static double[][] reference(INDArray a, INDArray b, INDArray c0, boolean ta, boolean tb, double alpha, double beta) {
        int m = (int) (ta ? a.columns() : a.rows());
        int k = (int) (ta ? a.rows() : a.columns());
        int n = (int) (tb ? b.rows() : b.columns());
        double[][] out = new double[m][n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (ta ? a.getDouble(p, i) : a.getDouble(i, p)) * (tb ? b.getDouble(j, p) : b.getDouble(p, j));
                }
                out[i][j] = alpha * s + (beta == 0 ? 0 : beta * c0.getDouble(i, j));
            }
        }
        return out;
    }

    private static void assertMatches(double[][] expected, INDArray actual, int k) {
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            for (int j = 0; j < expected[i].length; j++) {
                worst = Math.max(worst, Math.abs(expected[i][j] - actual.getDouble(i, j)));
            }
        }
        // float products of k unit-normal terms: rounding grows about like √k · 2⁻²⁴ · |terms|
        double tolerance = 1e-5 * Math.sqrt(k) * 4;
        assertTrue(worst <= tolerance, "max difference " + worst + " > " + tolerance);
    }

    @ParameterizedTest(name = "m={0} n={1} k={2} ta={3} tb={4} alpha={5} beta={6}")
    @CsvSource({
        "8, 48, 256, false, false, 1, 0",       // exactly one micro-tile, one pass
        "37, 53, 300, false, false, 1, 0",      // ragged rows, a second strip of 5 columns, two passes
        "37, 53, 300, true, false, 1, 0",
        "37, 53, 300, false, true, 1, 0",
        "37, 53, 300, true, true, 1, 0",
        "130, 97, 520, false, true, 0.5, 0",    // rows over two tiles of 64, three passes, α only
        "130, 97, 40, true, false, 1, 1",       // accumulate into c (a weight gradient)
        "65, 200, 33, false, true, -2, 0.25",
        "1, 1, 1, false, false, 1, 0",
    })
    void matchesADoublePrecisionProduct(int m, int n, int k, boolean ta, boolean tb, double alpha, double beta) {
        INDArray a = ta ? randn(k, m) : randn(m, k);
        INDArray b = tb ? randn(n, k) : randn(k, n);
        INDArray c = randn(m, n);
        double[][] expected = reference(a, b, c, ta, tb, alpha, beta);
        gemm.multiply(HostArrays.buffer(a), ta, HostArrays.buffer(b), tb, HostArrays.buffer(c), m, n, k, (float) alpha, (float) beta, null);
        assertMatches(expected, c, k);
    }

    @ParameterizedTest(name = "ta={0} tb={1} beta={2}")
    @CsvSource({"false, true, 0", "true, false, 0.5"})
    void splitsWideProductsIntoPanels(boolean ta, boolean tb, double beta) {
        HostGemm narrow = new VectorGemm(300L * 2 * VectorGemm.NR);    // panels of 96 columns at k = 300
        int m = 21;
        int n = 200;                                                   // panels of 96, 96 and 8 columns
        int k = 300;
        INDArray a = ta ? randn(k, m) : randn(m, k);
        INDArray b = tb ? randn(n, k) : randn(k, n);
        INDArray c = randn(m, n);
        double[][] expected = reference(a, b, c, ta, tb, 1.5, beta);
        narrow.multiply(HostArrays.buffer(a), ta, HostArrays.buffer(b), tb, HostArrays.buffer(c), m, n, k, 1.5f, (float) beta, null);
        assertMatches(expected, c, k);
    }

    @ParameterizedTest(name = "tb={0} alpha={1} beta={2} panels={3}")
    @CsvSource({"true, 1, 0, false", "false, 1, 0, true", "true, 0.5, 2, false", "false, 1, 1, true"})
    void addsTheBiasRowWhileWritingOut(boolean tb, double alpha, double beta, boolean panels) {
        HostGemm product = panels ? new VectorGemm(70L * 2 * VectorGemm.NR) : gemm;   // at k = 70: panels of 96 columns
        int m = 19;
        int n = 133;
        int k = 70;
        INDArray a = randn(m, k);
        INDArray b = tb ? randn(n, k) : randn(k, n);
        INDArray c = randn(m, n);
        INDArray bias = randn(n);
        double[][] expected = reference(a, b, c, false, tb, alpha, beta);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                expected[i][j] += bias.getDouble(j);
            }
        }
        product.multiply(HostArrays.buffer(a), false, HostArrays.buffer(b), tb, HostArrays.buffer(c), m, n, k, (float) alpha, (float) beta,
                HostArrays.buffer(bias));
        assertMatches(expected, c, k);
    }

    @Test
    void linearMatchesThePortableKernelsAndChecksTheBias() {
        CpuKernels kernels = new CpuKernels(RowMath.best(), gemm);
        Nd4jKernels portable = new Nd4jKernels();
        INDArray x = randn(70, 96);
        INDArray w = randn(50, 96);                                             // [out, in]
        INDArray bias = randn(50);
        INDArray expected = portable.linear(x, w, true, bias);
        INDArray actual = kernels.linear(x, w, true, bias);
        assertEquals(0, expected.sub(actual).norm1Number().doubleValue() / expected.norm1Number().doubleValue(), 1e-6);
        assertEquals(0, portable.linear(x, w, true, null).sub(kernels.linear(x, w, true, null)).maxNumber().doubleValue(), 1e-4);
        for (Kernels k : new Kernels[] {kernels, portable}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> k.linear(x, w, true, randn(49)));
            assertTrue(e.getMessage().contains("50 values") && e.getMessage().contains("[49]"), e.getMessage());
        }
    }

    @Test
    void readsViewsAndLeavesTheRestOfCAlone() {
        INDArray wide = randn(70, 90);
        INDArray a = wide.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(10, 60)); // [70, 50] view
        INDArray b = randn(64, 50);
        CpuKernels kernels = new CpuKernels(RowMath.best(), gemm);
        INDArray y = kernels.matmul(a, b, false, true);
        assertMatches(reference(a, b, null, false, true, 1, 0), y, 50);
        assertEquals('c', y.ordering());
    }

    @Test
    void cpuKernelsSendLargeProductsHereAndThinOnesToNd4j() {
        CountingGemm counting = new CountingGemm(gemm);
        CpuKernels kernels = new CpuKernels(RowMath.best(), counting);
        INDArray x = randn(64, 96);
        kernels.matmul(x, randn(96, 40), false, false);
        assertEquals(1, counting.calls, "a 64×40×96 product runs in Java");
        INDArray loraA = randn(8, 96);
        INDArray h = kernels.matmul(x, loraA, false, true);                  // rank 8: n below the threshold
        kernels.matmulInto(h, randn(96, 8), randn(64, 96), false, true, 2.0, 1.0);   // k = 8
        kernels.matmul(x.castTo(DataType.DOUBLE), randn(96, 40).castTo(DataType.DOUBLE), false, false);
        assertEquals(1, counting.calls, "rank-8 and DOUBLE products go to ND4J");
        assertMatches(reference(x, loraA, null, false, true, 1, 0), h, 96);
    }

    @Test
    void rejectsMismatchedShapesWithTheirSizes() {
        CpuKernels kernels = new CpuKernels(RowMath.best(), gemm);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> kernels.matmul(randn(4, 5), randn(6, 7), false, false));
        assertTrue(e.getMessage().contains("[4, 5] x [6, 7]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> kernels.matmulInto(randn(4, 5), randn(5, 7), randn(4, 6), false, false, 1, 0));
        assertTrue(e.getMessage().contains("[4, 7]") && e.getMessage().contains("[4, 6]"), e.getMessage());
    }

    @Test
    void bestIsTheVectorProductOnlyWithSixteenLanes() {
        HostGemm.best().ifPresent(best -> assertSame(VectorGemm.class, best.getClass()));
        assertEquals(VectorGemm.supported(), HostGemm.best().isPresent());
    }

    @Test
    void cpuKernelsWithTheJavaProductLeaveOpenBlasOneThread() {
        CpuKernels kernels = new CpuKernels();
        boolean javaProduct = kernels.name().contains(new VectorGemm().name());
        assertEquals(HostGemm.best().isPresent(), javaProduct, kernels.name());
        if (javaProduct) {
            assertEquals(1, Nd4j.factory().blas().getMaxThreads(), "OpenBLAS's idle workers would spin against the Java kernels");
        }
    }

    @Test
    void rejectsAnUnknownEngineInTheSystemProperty() {
        String before = System.getProperty(HostGemm.PROPERTY);
        try {
            System.setProperty(HostGemm.PROPERTY, "mkl");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, HostGemm::best);
            assertTrue(e.getMessage().contains("'mkl'") && e.getMessage().contains("auto, nd4j"), e.getMessage());
            System.setProperty(HostGemm.PROPERTY, "nd4j");
            assertTrue(HostGemm.best().isEmpty(), "nd4j keeps every product in ND4J");
        } finally {
            if (before == null) {
                System.clearProperty(HostGemm.PROPERTY);
            } else {
                System.setProperty(HostGemm.PROPERTY, before);
            }
        }
    }

    /** Counts the products that reach the Java GEMM. */
    private static final class CountingGemm implements HostGemm {
        private final HostGemm inner;
        int calls;

        CountingGemm(HostGemm inner) {
            this.inner = inner;
        }

        @Override
        public String name() {
            return "counting";
        }

        @Override
        public void multiply(java.nio.FloatBuffer a, boolean ta, java.nio.FloatBuffer b, boolean tb, java.nio.FloatBuffer c, int m, int n,
                int k, float alpha, float beta, java.nio.FloatBuffer bias) {
            calls++;
            inner.multiply(a, ta, b, tb, c, m, n, k, alpha, beta, bias);
        }
    }
}
