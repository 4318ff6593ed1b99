package org.peft4j.core.kernel;

import java.util.stream.IntStream;

/**
 * Splits the rows of a CPU kernel over the machine's cores. Between two GEMMs the cores that OpenBLAS
 * uses are idle, so the element-wise kernels can use them all; inputs too small to pay for the hand-off
 * run on the calling thread. Work goes to the common fork-join pool plus the caller.
 */
final class Parallel {
    /** Below this many elements per task a split costs more than it saves. */
    static final int MIN_ELEMENTS_PER_TASK = 1 << 15;
    private static final int CORES = Runtime.getRuntime().availableProcessors();

    /** Runs {@code body} on row ranges [from, to) that together cover [0, rows). */
    interface RowRange {
        void run(int from, int to);
    }

    /** Like {@link RowRange}, also given the task's index (for per-task partial sums). */
    interface Task {
        void run(int task, int from, int to);
    }

    private Parallel() {
    }

    /** Number of tasks for {@code rows} rows of {@code width} elements each. */
    static int tasks(int rows, int width) {
        long elements = (long) rows * width;
        return (int) Math.max(1, Math.min(Math.min(CORES, rows), elements / MIN_ELEMENTS_PER_TASK));
    }

    /** Number of tasks for work that splits into {@code units} pieces each large enough to pay for a hand-off. */
    static int tasksFor(int units) {
        return Math.max(1, Math.min(CORES, units));
    }

    /** Runs {@code body} over all rows, split into {@link #tasks} contiguous ranges. */
    static void rows(int rows, int width, RowRange body) {
        int tasks = tasks(rows, width);
        if (tasks == 1) {
            body.run(0, rows);
            return;
        }
        IntStream.range(0, tasks).parallel().forEach(t -> body.run(from(t, tasks, rows), from(t + 1, tasks, rows)));
    }

    /** Runs {@code body} for each of {@code tasks} contiguous row ranges covering [0, rows). */
    static void tasks(int tasks, int rows, Task body) {
        if (tasks == 1) {
            body.run(0, 0, rows);
            return;
        }
        IntStream.range(0, tasks).parallel().forEach(t -> body.run(t, from(t, tasks, rows), from(t + 1, tasks, rows)));
    }

    /** The first row of task {@code t} of {@code tasks} over {@code rows} rows. */
    static int from(int t, int tasks, int rows) {
        return (int) ((long) rows * t / tasks);
    }
}
