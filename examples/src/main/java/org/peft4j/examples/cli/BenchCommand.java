package org.peft4j.examples.cli;

import java.util.List;
import java.util.Locale;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.examples.bench.EngineBenchmark;
import org.peft4j.examples.bench.EngineBenchmark.Result;
import org.peft4j.examples.bench.EngineBenchmark.Setup;
import org.peft4j.examples.bench.EngineBenchmark.Spec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code peft4j bench}: speed and memory measurements; each is a subcommand. */
@Command(name = "bench",
        description = {"Measure speed and memory. Timings belong in docs/benchmarks.md with the command and the machine,",
            "never in tests."},
        subcommands = {BenchCommand.Engine.class})
public final class BenchCommand extends CliCommand {
    @Override
    public Integer call() {
        spec.commandLine().usage(err());
        return Peft4jCli.EXIT_USAGE;
    }

    /** {@code peft4j bench engine}: full fine-tuning against a frozen base with only the last block trainable. */
    @Command(name = "engine", sortOptions = false, showDefaultValues = true,
            description = {"Time training steps (forward, backward, Adam) of a GPT-2 style decoder: every param trainable,",
                "everything frozen but the last block, and LoRA r 8 on c_attn. The setups alternate round by round.",
                "Prints a Markdown table, then one JSON line per setup."})
    public static final class Engine extends CliCommand {
        @Option(names = "--vocab", defaultValue = "256", description = "Vocabulary size.")
        int vocab;

        @Option(names = "--hidden", defaultValue = "256", description = "Hidden size.")
        int hidden;

        @Option(names = "--layers", defaultValue = "4", description = "Transformer blocks.")
        int layers;

        @Option(names = "--heads", defaultValue = "4", description = "Attention heads.")
        int heads;

        @Option(names = "--seq-len", defaultValue = "128", description = "Tokens per sequence.")
        int seqLen;

        @Option(names = "--batch-size", defaultValue = "8", description = "Sequences per step.")
        int batch;

        @Option(names = "--warmup", defaultValue = "3", description = "Untimed steps per setup before the first round.")
        int warmup;

        @Option(names = "--steps", defaultValue = "10", description = "Timed steps per setup and round.")
        int steps;

        @Option(names = "--rounds", defaultValue = "3", description = "Rounds; each runs every setup once.")
        int rounds;

        @Option(names = "--kernels", defaultValue = "auto", description = "Kernels: auto, portable or cpu.")
        String kernels;

        @Override
        public Integer call() {
            for (int v : new int[] {vocab, hidden, layers, heads, seqLen, batch, steps, rounds}) {
                if (v <= 0) {
                    throw usageError("sizes, --steps and --rounds must be > 0");
                }
            }
            if (hidden % heads != 0) {
                throw usageError("--heads (" + heads + ") must divide --hidden (" + hidden + ")");
            }
            if (warmup < 0) {
                throw usageError("--warmup must be >= 0, got " + warmup);
            }
            KernelChoice choice;
            try {
                choice = KernelChoice.parse(kernels);
            } catch (IllegalArgumentException e) {
                throw usageError("--kernels: " + e.getMessage());
            }
            Spec s = new Spec(vocab, hidden, layers, heads, seqLen, batch, warmup, steps, rounds, choice);
            List<Result> results = EngineBenchmark.run(s, Setup.FULL, Setup.LAST_BLOCK, Setup.LORA);
            out().printf(Locale.ROOT, "GPT-2 style decoder: vocab %d, hidden %d, %d layers, %d heads, seq %d, batch %d, Adam; kernels %s on %s%n",
                    vocab, hidden, layers, heads, seqLen, batch, choice.resolve().name(), backend());
            out().print(EngineBenchmark.table(results));
            for (Result r : results) {
                out().printf(Locale.ROOT, "{\"setup\":\"%s\",\"median_step_ms\":%.2f,\"trainable_params\":%d,\"params\":%d,"
                        + "\"nd4j_bytes\":%d,\"activation_bytes\":%d,\"steps_timed\":%d}%n",
                        r.setup().name().toLowerCase(Locale.ROOT), r.medianMs(), r.trainableParams(), r.totalParams(), r.totalBytes(),
                        r.workspaceBytes(), r.stepMs().length);
            }
            out().flush();
            return Peft4jCli.EXIT_OK;
        }

        private static String backend() {
            String extension = System.getProperty("org.bytedeco.javacpp.platform.extension", "");
            return KernelChoice.backendName() + (extension.isEmpty() ? "" : " (" + extension + ")") + ", "
                    + Nd4j.getEnvironment().maxThreads() + " threads";
        }
    }
}
