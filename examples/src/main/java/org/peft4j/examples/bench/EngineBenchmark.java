package org.peft4j.examples.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.peft4j.examples.bench.Workload.Setup;
import org.peft4j.examples.bench.Workload.Spec;

/**
 * Times training steps of the GPT config under several freezing setups, alternating between them
 * round by round so that machine noise hits all alike. Memory is what ND4J holds for each setup:
 * params, gradient buffers, optimizer state, and the activation workspaces one step needs.
 */
public final class EngineBenchmark {
    /** The result of one setup. */
    public record Result(Setup setup, StepTimer.Result timing) {
    }

    private EngineBenchmark() {
    }

    /** Runs every setup {@code spec.rounds()} times, alternating, and returns one result per setup. */
    public static List<Result> run(Spec spec, Setup... setups) {
        List<StepTimer> timers = new ArrayList<>();
        try {
            for (Setup setup : setups) {
                timers.add(new StepTimer(() -> Workload.gpt(spec, setup)));
            }
            for (int round = 0; round < spec.rounds(); round++) {
                for (StepTimer timer : timers) {
                    timer.steps(round == 0 ? spec.warmup() : 0, spec.steps());
                }
            }
            List<Result> out = new ArrayList<>();
            for (int i = 0; i < setups.length; i++) {
                out.add(new Result(setups[i], timers.get(i).result()));
            }
            return out;
        } finally {
            timers.forEach(StepTimer::close);
        }
    }

    /** A Markdown table of the results, with the ratio of each setup's median and memory to the first's. */
    public static String table(List<Result> results) {
        StringBuilder sb = new StringBuilder();
        sb.append("| setup | trainable params | median step (ms) | vs first | params | grads | Adam state | activations | total |\n");
        sb.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        StepTimer.Result base = results.get(0).timing();
        for (Result r : results) {
            StepTimer.Result t = r.timing();
            sb.append(String.format(Locale.ROOT, "| %s | %,d | %.1f | %.2f× time, %.2f× memory | %s | %s | %s | %s | %s |%n",
                    r.setup().label(), t.trainableParams(), t.medianMs(), t.medianMs() / base.medianMs(),
                    (double) t.totalBytes() / base.totalBytes(), mb(t.paramBytes()), mb(t.gradBytes()), mb(t.optimizerBytes()),
                    mb(t.workspaceBytes()), mb(t.totalBytes())));
        }
        return sb.toString();
    }

    static String mb(long bytes) {
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }
}
