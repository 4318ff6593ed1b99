package org.peft4j.core.kernel;

import java.util.concurrent.atomic.LongAdder;

/**
 * Process-wide counters of the matrix products: calls, nanoseconds and floating-point operations,
 * separately for single GEMMs ({@link Gemm}) and for attention's per-head products (whose time, on the
 * CPU path, also covers the softmax fused with them). Benchmarks read them to state how fast the GEMMs
 * of a step run; counting costs two clock reads per product (tens of nanoseconds against tens of
 * microseconds or more for the product).
 */
public final class GemmStatistics {
    private static final LongAdder CALLS = new LongAdder();
    private static final LongAdder NANOS = new LongAdder();
    private static final LongAdder FLOPS = new LongAdder();
    private static final LongAdder BATCHED_CALLS = new LongAdder();
    private static final LongAdder BATCHED_NANOS = new LongAdder();
    private static final LongAdder BATCHED_FLOPS = new LongAdder();

    /** Counts since the process started (or since the last {@link #reset}). */
    public record Snapshot(long calls, long nanos, long flops, long batchedCalls, long batchedNanos, long batchedFlops) {
        /** The counts from {@code earlier} to this snapshot. */
        public Snapshot minus(Snapshot earlier) {
            return new Snapshot(calls - earlier.calls, nanos - earlier.nanos, flops - earlier.flops, batchedCalls - earlier.batchedCalls,
                    batchedNanos - earlier.batchedNanos, batchedFlops - earlier.batchedFlops);
        }

        /** GFLOP/s of the single GEMMs. */
        public double gemmGflops() {
            return nanos == 0 ? 0 : flops / (double) nanos;
        }

        /** GFLOP/s of the batched products. */
        public double batchedGflops() {
            return batchedNanos == 0 ? 0 : batchedFlops / (double) batchedNanos;
        }
    }

    private GemmStatistics() {
    }

    /** The counts now. */
    public static Snapshot snapshot() {
        return new Snapshot(CALLS.sum(), NANOS.sum(), FLOPS.sum(), BATCHED_CALLS.sum(), BATCHED_NANOS.sum(), BATCHED_FLOPS.sum());
    }

    static void recordGemm(long m, long n, long k, long nanos) {
        CALLS.increment();
        NANOS.add(nanos);
        FLOPS.add(2 * m * n * k);
    }

    static void recordBatched(long batch, long m, long n, long k, long nanos) {
        BATCHED_CALLS.increment();
        BATCHED_NANOS.add(nanos);
        BATCHED_FLOPS.add(2 * batch * m * n * k);
    }
}
