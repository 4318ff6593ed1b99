package org.peft4j.examples.bench;

import java.util.Locale;
import org.nd4j.linalg.api.blas.Blas;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.Gemm;
import org.peft4j.core.kernel.GemmStatistics;
import org.peft4j.core.kernel.GemmStatistics.Kind;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Workspaces;

/**
 * Where the time of training steps goes, measured by the clock: the matrix products of each kind as
 * counted by {@link GemmStatistics} (Java GEMM, ND4J GEMM, attention), the optimizer, and the rest of
 * forward and backward (peft4j's CPU kernels, other ND4J ops, data movement). Next to it, this
 * machine's SGEMM rates in the same run, on a product of the step's own shape: the engine the step
 * uses for it, and ND4J's OpenBLAS with all its threads, as the ceiling the products can reach.
 */
public final class StepProfile {
    private StepProfile() {
    }

    /** Standalone SGEMM rates (GFLOP/s) on one shape: the kernels' own product and OpenBLAS's with all cores. */
    public record Reference(double kernelsGflops, double openBlasGflops) {
        /** The faster of the two: the machine's SGEMM rate. */
        public double best() {
            return Math.max(kernelsGflops, openBlasGflops);
        }
    }

    /** Both reference rates for [m, k]·[k, n], each the median of {@code repeats} runs inside a workspace. */
    public static Reference sgemmReference(Kernels kernels, int m, int k, int n, int repeats) {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(1);
        INDArray a = Init.normal(DataType.FLOAT, 1.0, rng, m, k);
        INDArray b = Init.normal(DataType.FLOAT, 1.0, rng, k, n);
        double own = medianGflops(() -> kernels.matmul(a, b, false, false), m, k, n, repeats);
        // The CPU kernels leave OpenBLAS one thread (see OpenBlasThreads); give it every core for its own figure.
        Blas blas = Nd4j.factory().blas();
        int threads = blas.getMaxThreads();
        blas.setMaxThreads(Runtime.getRuntime().availableProcessors());
        try {
            return new Reference(own, medianGflops(() -> Gemm.mm(a, b, false, false), m, k, n, repeats));
        } finally {
            blas.setMaxThreads(threads);
            pause(200);   // OpenBLAS's workers spin for about 0.1 s after a product; let them sleep before the next timing
        }
    }

    private static double medianGflops(Runnable product, int m, int k, int n, int repeats) {
        double[] rates = new double[repeats];
        for (int r = -2; r < repeats; r++) {
            try (var ws = Workspaces.open("peft4j-sgemm-reference")) {
                long t0 = System.nanoTime();
                product.run();
                long nanos = System.nanoTime() - t0;
                if (r >= 0) {
                    rates[r] = 2.0 * m * n * k / nanos;
                }
            }
        }
        return StepTimer.median(rates);
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A Markdown table of a step's breakdown, with the reference SGEMM rates. */
    public static String table(StepTimer.Result r, Reference reference) {
        StepTimer.Breakdown b = r.breakdown();
        double step = b.passMs() + b.optimizerMs();
        StringBuilder sb = new StringBuilder("| part | ms per step | share | GFLOP/s |\n|---|---:|---:|---:|\n");
        sb.append(row("GEMM in Java (the large products)", b.ms(Kind.JAVA), step, gemmRate(b.gflops(Kind.JAVA), reference)));
        sb.append(row("GEMM through ND4J → OpenBLAS (the thin ones)", b.ms(Kind.ND4J), step, gemmRate(b.gflops(Kind.ND4J), reference)));
        sb.append(row("attention: per-head products, softmax (GFLOP/s of the products)", b.ms(Kind.ATTENTION), step,
                String.format(Locale.ROOT, "%.0f", b.gflops(Kind.ATTENTION))));
        sb.append(row("other forward/backward: CPU kernels, other ND4J ops, copies", b.otherMs(), step, ""));
        sb.append(row("optimizer (Adam update, zeroing)", b.optimizerMs(), step, ""));
        sb.append(String.format(Locale.ROOT, "| **step** | %.1f | 100 %% | SGEMM reference: kernels %.0f, OpenBLAS %.0f |%n", step,
                reference.kernelsGflops(), reference.openBlasGflops()));
        return sb.toString();
    }

    private static String gemmRate(double gflops, Reference reference) {
        return gflops == 0 ? "" : String.format(Locale.ROOT, "%.0f (%.0f %% of SGEMM)", gflops, 100 * gflops / reference.best());
    }

    private static String row(String part, double ms, double step, String rate) {
        return String.format(Locale.ROOT, "| %s | %.1f | %.1f %% | %s |%n", part, ms, 100 * ms / step, rate);
    }
}
