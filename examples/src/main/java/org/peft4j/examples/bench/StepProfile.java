package org.peft4j.examples.bench;

import java.util.Locale;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Gemm;
import org.peft4j.core.kernel.GemmStatistics;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Workspaces;

/**
 * Where the time of training steps goes, measured by the clock: single GEMMs and batched (attention)
 * products as counted by {@link GemmStatistics}, the optimizer, and the rest of forward and backward
 * (peft4j's CPU kernels, other ND4J ops, data movement). Next to it, the SGEMM rate of this machine in
 * the same run, on a product of the step's own shape, as the ceiling the GEMMs can reach.
 */
public final class StepProfile {
    private StepProfile() {
    }

    /** GFLOP/s of one large SGEMM [m, k]·[k, n], the median of several runs, inside a workspace. */
    public static double sgemmGflops(int m, int k, int n, int repeats) {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(1);
        INDArray a = Init.normal(DataType.FLOAT, 1.0, rng, m, k);
        INDArray b = Init.normal(DataType.FLOAT, 1.0, rng, k, n);
        double[] rates = new double[repeats];
        for (int r = -2; r < repeats; r++) {
            try (var ws = Workspaces.open("peft4j-sgemm-reference")) {
                long t0 = System.nanoTime();
                Gemm.mm(a, b, false, false);
                long nanos = System.nanoTime() - t0;
                if (r >= 0) {
                    rates[r] = 2.0 * m * n * k / nanos;
                }
            }
        }
        return StepTimer.median(rates);
    }

    /** A Markdown table of a step's breakdown, with the reference SGEMM rate. */
    public static String table(StepTimer.Result r, double referenceGflops) {
        StepTimer.Breakdown b = r.breakdown();
        double step = b.passMs() + b.optimizerMs();
        StringBuilder sb = new StringBuilder("| part | ms per step | share | GFLOP/s |\n|---|---:|---:|---:|\n");
        sb.append(row("GEMM (ND4J → OpenBLAS)", b.gemmMs(), step, String.format(Locale.ROOT, "%.0f (%.0f %% of SGEMM)", b.gemmGflops(),
                100 * b.gemmGflops() / referenceGflops)));
        sb.append(row("attention: per-head products, softmax (GFLOP/s of the products)", b.batchedMs(), step,
                String.format(Locale.ROOT, "%.0f", b.batchedGflops())));
        sb.append(row("other forward/backward: CPU kernels, other ND4J ops, copies", b.otherMs(), step, ""));
        sb.append(row("optimizer (Adam update, zeroing)", b.optimizerMs(), step, ""));
        sb.append(String.format(Locale.ROOT, "| **step** | %.1f | 100 %% | SGEMM reference %.0f |%n", step, referenceGflops));
        return sb.toString();
    }

    private static String row(String part, double ms, double step, String rate) {
        return String.format(Locale.ROOT, "| %s | %.1f | %.1f %% | %s |%n", part, ms, 100 * ms / step, rate);
    }
}
