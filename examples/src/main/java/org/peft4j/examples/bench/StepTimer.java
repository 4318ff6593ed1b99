package org.peft4j.examples.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.peft4j.core.kernel.GemmStatistics;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.Workspaces;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.param.ParamRegistry.NamedParam;
import org.peft4j.core.train.Optimizer;

/**
 * Times training steps (forward, backward, Adam update, zeroing) of one {@link Workload} on a thread of
 * its own: ND4J workspaces belong to a thread, so each workload's memory figures are its own. Build it,
 * call {@link #steps} round by round, alternating with other timers, then read {@link #result}.
 */
public final class StepTimer implements AutoCloseable {
    private final ExecutorService thread = Executors.newSingleThreadExecutor();
    private final Workload workload;
    private final List<NamedParam> trainable;
    private final Optimizer optimizer = new Optimizer(new Adam(1e-4), 0.0, np -> false);
    private final List<Double> times = new ArrayList<>();
    private long passNanos;
    private long optimizerNanos;
    private long timedSteps;
    private GemmStatistics.Snapshot products = GemmStatistics.Snapshot.NONE;
    private int iteration;

    /**
     * Where the time of the timed steps went, per step: forward and backward, of which the matrix products
     * of each kind, and the optimizer (update and zeroing).
     */
    public record Breakdown(double passMs, double optimizerMs, GemmStatistics.Snapshot products, long steps) {
        /** Milliseconds per step in products of this kind. */
        public double ms(GemmStatistics.Kind kind) {
            return products.of(kind).millis() / Math.max(1, steps);
        }

        /** GFLOP/s of the products of this kind. */
        public double gflops(GemmStatistics.Kind kind) {
            return products.of(kind).gflops();
        }

        /** Forward and backward time outside the matrix products: kernels, other ND4J ops, data movement. */
        public double otherMs() {
            double products = 0;
            for (GemmStatistics.Kind kind : GemmStatistics.Kind.values()) {
                products += ms(kind);
            }
            return passMs - products;
        }
    }

    /** Memory and time of one workload. */
    public record Result(double medianMs, double[] stepMs, long trainableParams, long totalParams, long paramBytes, long gradBytes,
            long optimizerBytes, long workspaceBytes, Breakdown breakdown) {
        /** All memory ND4J holds for training this workload. */
        public long totalBytes() {
            return paramBytes + gradBytes + optimizerBytes + workspaceBytes;
        }
    }

    /** Builds the workload on the timer's own thread. */
    public StepTimer(Supplier<Workload> build) {
        this.workload = onOwnThread(build::get);
        this.trainable = new ParamRegistry(workload.model().module()).trainable();
    }

    public Workload workload() {
        return workload;
    }

    /** Runs {@code untimed} steps, then {@code timed} steps whose times are kept. */
    public void steps(int untimed, int timed) {
        onOwnThread(() -> {
            for (int i = 0; i < untimed + timed; i++) {
                boolean kept = i >= untimed;
                GemmStatistics.Snapshot before = GemmStatistics.snapshot();
                long t0 = System.nanoTime();
                step(kept);
                if (kept) {
                    times.add((System.nanoTime() - t0) / 1e6);
                    products = products.plus(GemmStatistics.snapshot().minus(before));
                    timedSteps++;
                }
            }
            return null;
        });
    }

    private void step(boolean kept) {
        long t0 = System.nanoTime();
        try (MemoryWorkspace ws = Workspaces.open(Workspaces.TRAIN); Tape tape = Tape.training(workload.task().kernels(), iteration)) {
            workload.task().forward(workload.batch(), tape);
            workload.task().backward(tape, 1.0);
        }
        long t1 = System.nanoTime();
        try (MemoryWorkspace ws = Workspaces.open(Workspaces.OPTIMIZER)) {
            optimizer.step(trainable, iteration++);
        }
        trainable.forEach(np -> np.param().zeroGrad());
        if (kept) {
            passNanos += t1 - t0;
            optimizerNanos += System.nanoTime() - t1;
        }
    }

    /** Median and all kept step times, and the memory ND4J holds. */
    public Result result() {
        return onOwnThread(() -> {
            double[] ms = times.stream().mapToDouble(Double::doubleValue).toArray();
            ParamRegistry registry = new ParamRegistry(workload.model().module());
            long trainableParams = registry.trainableCount();
            long total = registry.totalCount();
            long optimizerBytes = optimizer.state(trainable).values().stream().mapToLong(a -> a.length() * 4).sum();
            // the pass's own workspace plus the per-layer scratch workspace it opens inside
            long workspaceBytes = workspaceBytes(Workspaces.TRAIN) + workspaceBytes(Workspaces.LAYER_SCRATCH);
            double steps = Math.max(1, timedSteps);
            Breakdown breakdown = new Breakdown(passNanos / 1e6 / steps, optimizerNanos / 1e6 / steps, products, timedSteps);
            return new Result(median(ms), ms, trainableParams, total, total * 4, trainableParams * 4, optimizerBytes, workspaceBytes,
                    breakdown);
        });
    }

    /** Runs {@code work} on this timer's thread (where its workspaces live). */
    public <T> T onOwnThread(Callable<T> work) {
        try {
            return thread.submit(work).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("benchmark interrupted", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
        }
    }

    static double median(double[] values) {
        if (values.length == 0) {
            return Double.NaN;
        }
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int mid = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static long workspaceBytes(String name) {
        return Nd4j.getWorkspaceManager().checkIfWorkspaceExists(name)
                ? Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(Workspaces.CONFIG, name).getCurrentSize() : 0;
    }

    @Override
    public void close() {
        thread.shutdown();
    }
}
