package org.peft4j.core.kernel;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Process-wide counters of the matrix products: calls, nanoseconds and floating-point operations, for
 * each {@link Kind} of product. Benchmarks read them to state how fast the products of a step run;
 * counting costs two clock reads per product (tens of nanoseconds against tens of microseconds or more
 * for the product).
 */
public final class GemmStatistics {
    /** Which engine ran a product. */
    public enum Kind {
        /** A single product through ND4J's GEMM (OpenBLAS on the CPU backend). */
        ND4J,
        /** A single product through the Java GEMM of the CPU kernels. */
        JAVA,
        /** Attention's per-head products; on the CPU path their time also covers the softmax fused with them. */
        ATTENTION
    }

    /** Calls, nanoseconds and floating-point operations of one kind of product. */
    public record Counts(long calls, long nanos, long flops) {
        /** No products. */
        public static final Counts NONE = new Counts(0, 0, 0);

        public Counts plus(Counts o) {
            return new Counts(calls + o.calls, nanos + o.nanos, flops + o.flops);
        }

        public Counts minus(Counts o) {
            return new Counts(calls - o.calls, nanos - o.nanos, flops - o.flops);
        }

        /** GFLOP/s over these products, 0 if none ran. */
        public double gflops() {
            return nanos == 0 ? 0 : flops / (double) nanos;
        }

        public double millis() {
            return nanos / 1e6;
        }
    }

    /** The counts of every kind at one moment (or between two moments). */
    public record Snapshot(Map<Kind, Counts> counts) {
        /** No products of any kind. */
        public static final Snapshot NONE = new Snapshot(Map.of());

        public Snapshot {
            counts = Map.copyOf(counts);
        }

        /** The counts of one kind. */
        public Counts of(Kind kind) {
            return counts.getOrDefault(kind, Counts.NONE);
        }

        /** The counts from {@code earlier} to this snapshot. */
        public Snapshot minus(Snapshot earlier) {
            return combine(earlier, false);
        }

        /** The counts of both snapshots added. */
        public Snapshot plus(Snapshot other) {
            return combine(other, true);
        }

        private Snapshot combine(Snapshot other, boolean add) {
            Map<Kind, Counts> out = new EnumMap<>(Kind.class);
            for (Kind kind : Kind.values()) {
                out.put(kind, add ? of(kind).plus(other.of(kind)) : of(kind).minus(other.of(kind)));
            }
            return new Snapshot(out);
        }
    }

    private static final Map<Kind, LongAdder[]> COUNTERS = new EnumMap<>(Kind.class);

    static {
        for (Kind kind : Kind.values()) {
            COUNTERS.put(kind, new LongAdder[] {new LongAdder(), new LongAdder(), new LongAdder()});
        }
    }

    private GemmStatistics() {
    }

    /** The counts now. */
    public static Snapshot snapshot() {
        Map<Kind, Counts> out = new EnumMap<>(Kind.class);
        COUNTERS.forEach((kind, c) -> out.put(kind, new Counts(c[0].sum(), c[1].sum(), c[2].sum())));
        return new Snapshot(out);
    }

    /** Counts one product of {@code batch} matrix products [m, k]·[k, n] that took {@code nanos}. */
    static void record(Kind kind, long batch, long m, long n, long k, long nanos) {
        LongAdder[] c = COUNTERS.get(kind);
        c[0].increment();
        c[1].add(nanos);
        c[2].add(2 * batch * m * n * k);
    }
}
