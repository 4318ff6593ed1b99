package org.peft4j.examples.cli;

import java.util.List;
import java.util.Locale;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.examples.bench.EngineBenchmark;
import org.peft4j.examples.bench.EngineBenchmark.Result;
import org.peft4j.examples.bench.Workload.Setup;
import org.peft4j.examples.bench.Workload.Spec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code peft4j bench}: speed and memory measurements; each is a subcommand. */
@Command(name = "bench",
        description = {"Measure speed and memory. Timings belong in docs/benchmarks.md with the command and the machine,",
            "never in tests."},
        subcommands = {BenchCommand.Engine.class, BenchCommand.Compare.class, BenchCommand.Profile.class, BenchCommand.Scaling.class,
            DeviceCheckCommand.class})
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

        @Option(names = "--setups", split = ",", defaultValue = "full,last-block,lora",
                description = "Setups, the first the reference of the ratios: full, last-block, lora, qlora (LoRA over an NF4 base).")
        List<String> setups;

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
            KernelChoice choice = kernelsOption(kernels);
            Spec s = new Spec(vocab, hidden, layers, heads, seqLen, batch, warmup, steps, rounds, choice);
            List<Setup> chosen = new java.util.ArrayList<>();
            for (String name : setups) {
                chosen.add(java.util.Arrays.stream(Setup.values()).filter(v -> v.label().equals(name.trim())).findFirst()
                        .orElseThrow(() -> usageError("--setups: unknown setup '" + name + "'; allowed: full, last-block, lora, qlora")));
            }
            List<Result> results = EngineBenchmark.run(s, chosen.toArray(Setup[]::new));
            out().printf(Locale.ROOT, "GPT-2 style decoder: vocab %d, hidden %d, %d layers, %d heads, seq %d, batch %d, Adam; kernels %s on %s%n",
                    vocab, hidden, layers, heads, seqLen, batch, choice.resolve().name(), backend());
            out().print(EngineBenchmark.table(results));
            for (Result r : results) {
                out().printf(Locale.ROOT, "{\"setup\":\"%s\",\"median_step_ms\":%.2f,\"trainable_params\":%d,\"params\":%d,"
                        + "\"nd4j_bytes\":%d,\"activation_bytes\":%d,\"steps_timed\":%d}%n",
                        r.setup().name().toLowerCase(Locale.ROOT), r.timing().medianMs(), r.timing().trainableParams(), r.timing().totalParams(),
                        r.timing().totalBytes(), r.timing().workspaceBytes(), r.timing().stepMs().length);
            }
            out().flush();
            return Peft4jCli.EXIT_OK;
        }

        static String backend() {
            String extension = System.getProperty("org.bytedeco.javacpp.platform.extension", "");
            return KernelChoice.backendName() + (extension.isEmpty() ? "" : " (" + extension + ")") + ", "
                    + Nd4j.getEnvironment().maxThreads() + " threads";
        }
    }

    /** {@code peft4j bench compare}: peft4j against the PyTorch reference, side by side in one run. */
    @Command(name = "compare", sortOptions = false, showDefaultValues = true,
            description = {"Time training steps of peft4j and of benchmarks/pytorch/step_bench.py on the same models (gpt: vocab 256,",
                "d 256, 4 layers, seq 128, batch 8; bert: the shape of all-MiniLM-L6-v2, seq 128, batch 16) and setups (full",
                "fine-tuning, LoRA r 8 on the attention projections, QLoRA: that LoRA over NF4 transformer blocks), alternating round",
                "by round; then the forward pass with a merged LoRA adapter against the base model's. Needs Debian's python3-torch and",
                "libopenblas0-pthread."})
    public static final class Compare extends CliCommand {
        @Option(names = "--models", split = ",", defaultValue = "gpt,bert", description = "Models: gpt, bert.")
        java.util.List<String> models;

        @Option(names = "--setups", split = ",", defaultValue = "full,lora,qlora", description = "Setups: full, lora, qlora.")
        java.util.List<String> setups;

        @Option(names = "--warmup", defaultValue = "3", description = "Untimed steps before the first round.")
        int warmup;

        @Option(names = "--steps", defaultValue = "10", description = "Timed steps per round.")
        int steps;

        @Option(names = "--rounds", defaultValue = "3", description = "Rounds; each runs peft4j, then PyTorch.")
        int rounds;

        @Option(names = "--python", defaultValue = "/usr/bin/python3", description = "The Python with torch.")
        java.nio.file.Path python;

        @Option(names = "--script", defaultValue = "benchmarks/pytorch/step_bench.py", description = "The PyTorch reference.")
        java.nio.file.Path script;

        @Option(names = "--threads", defaultValue = "2", description = "PyTorch's threads.")
        int threads;

        @Override
        public Integer call() {
            if (warmup < 0 || steps <= 0 || rounds <= 0 || threads <= 0) {
                throw usageError("--warmup must be >= 0 and --steps, --rounds, --threads > 0");
            }
            java.util.List<org.peft4j.examples.bench.Workload.Setup> parsed = new java.util.ArrayList<>();
            for (String s : setups) {
                switch (s) {
                    case "full" -> parsed.add(Setup.FULL);
                    case "lora" -> parsed.add(Setup.LORA);
                    case "qlora" -> parsed.add(Setup.QLORA);
                    default -> throw usageError("--setups: unknown setup '" + s + "'; allowed: full, lora, qlora");
                }
            }
            for (String m : models) {
                if (!m.equals("gpt") && !m.equals("bert")) {
                    throw usageError("--models: unknown model '" + m + "'; allowed: gpt, bert");
                }
            }
            if (!java.nio.file.Files.isRegularFile(script)) {
                throw usageError("--script: no such file: " + script + " (run from the repository root)");
            }
            var reference = new org.peft4j.examples.bench.CompareBenchmark.Reference(python, script, threads);
            var rows = org.peft4j.examples.bench.CompareBenchmark.steps(models, parsed, warmup, steps, rounds, reference);
            out().printf(Locale.ROOT, "peft4j (%s, ND4J on %s) against PyTorch (%d threads), %d rounds of %d steps%n",
                    KernelChoice.AUTO.resolve().name(), Engine.backend(), threads, rounds, steps);
            out().print(org.peft4j.examples.bench.CompareBenchmark.table(rows));
            out().println();
            out().println("| model | base forward (ms) | unmerged LoRA | merged LoRA | merged / base |");
            out().println("|---|---:|---:|---:|---:|");
            for (String m : models) {
                var f = org.peft4j.examples.bench.CompareBenchmark.mergedForward(m, warmup, steps, rounds);
                out().printf(Locale.ROOT, "| %s | %.1f | %.1f | %.1f | %.3f |%n", m, f.baseMs(), f.unmergedMs(), f.mergedMs(), f.mergedMs() / f.baseMs());
            }
            for (var r : rows) {
                out().printf(Locale.ROOT, "{\"model\":\"%s\",\"setup\":\"%s\",\"peft4j_ms\":%.2f,\"pytorch_ms\":%.2f,\"ratio\":%.3f}%n",
                        r.model(), r.setup().label(), r.peft4jMs(), r.pytorchMs(), r.ratio());
            }
            out().flush();
            return Peft4jCli.EXIT_OK;
        }
    }

    /** {@code peft4j bench profile}: where the time of a training step goes. */
    @Command(name = "profile", sortOptions = false, showDefaultValues = true,
            description = {"Time training steps and print where the time goes: GEMM (with its GFLOP/s against an SGEMM of the",
                "step's shape in the same run), attention (its per-head products and softmax), the optimizer, and the rest of",
                "forward and backward.",
                "Models and setups as in 'bench compare'."})
    public static final class Profile extends CliCommand {
        @Option(names = "--model", defaultValue = "gpt", description = "gpt or bert.")
        String model;

        @Option(names = "--setup", defaultValue = "full", description = "full, last-block, lora or qlora.")
        String setup;

        @Option(names = "--warmup", defaultValue = "3", description = "Untimed steps first.")
        int warmup;

        @Option(names = "--steps", defaultValue = "20", description = "Profiled steps.")
        int steps;

        @Option(names = "--kernels", defaultValue = "auto", description = "auto, portable or cpu.")
        String kernels;

        @Override
        public Integer call() {
            Setup parsed = switch (setup) {
                case "full" -> Setup.FULL;
                case "last-block" -> Setup.LAST_BLOCK;
                case "lora" -> Setup.LORA;
                case "qlora" -> Setup.QLORA;
                default -> throw usageError("--setup must be full, last-block, lora or qlora, got '" + setup + "'");
            };
            if (warmup < 0 || steps <= 0) {
                throw usageError("--warmup must be >= 0 and --steps > 0");
            }
            KernelChoice choice = kernelsOption(kernels);
            Spec base = switch (model) {
                case "gpt" -> Spec.gptStandard();
                case "bert" -> Spec.bertStandard();
                default -> throw usageError("--model must be gpt or bert, got '" + model + "'");
            };
            Spec spec = new Spec(base.vocab(), base.hidden(), base.layers(), base.heads(), base.seqLen(), base.batch(), warmup, steps, 1, choice);
            try (org.peft4j.examples.bench.StepTimer timer = new org.peft4j.examples.bench.StepTimer(
                    () -> model.equals("gpt") ? org.peft4j.examples.bench.Workload.gpt(spec, parsed) : org.peft4j.examples.bench.Workload.bert(spec, parsed))) {
                timer.steps(warmup, steps);
                var result = timer.result();
                int rows = spec.batch() * spec.seqLen();
                var reference = timer.onOwnThread(() -> org.peft4j.examples.bench.StepProfile.sgemmReference(timer.workload().task().kernels(), rows,
                        spec.hidden(), 4 * spec.hidden(), 5));
                out().printf(Locale.ROOT, "%s, %s: median step %.1f ms over %d steps; kernels %s on %s; SGEMM reference [%d, %d]·[%d, %d]%n",
                        model, setup, result.medianMs(), steps, choice.resolve().name(), Engine.backend(), rows, spec.hidden(), spec.hidden(),
                        4 * spec.hidden());
                out().print(org.peft4j.examples.bench.StepProfile.table(result, reference));
            }
            out().flush();
            return Peft4jCli.EXIT_OK;
        }
    }

    /** {@code peft4j bench scaling}: step time against sequence length, batch and layers. */
    @Command(name = "scaling", sortOptions = false, showDefaultValues = true,
            description = {"Time full fine-tuning steps of the GPT config while one size changes at a time (sequence length,",
                "batch, layers) and compare with the FLOPs of the step: the time should grow as the FLOPs do."})
    public static final class Scaling extends CliCommand {
        @Option(names = "--seq-lens", split = ",", defaultValue = "64,128,256,512", description = "Sequence lengths (batch 8, 4 layers).")
        java.util.List<Integer> seqLens;

        @Option(names = "--batches", split = ",", defaultValue = "4,8,16", description = "Batch sizes (seq 128, 4 layers).")
        java.util.List<Integer> batches;

        @Option(names = "--layer-counts", split = ",", defaultValue = "2,4,8", description = "Layer counts (seq 128, batch 8).")
        java.util.List<Integer> layerCounts;

        @Option(names = "--warmup", defaultValue = "2", description = "Untimed steps per size.")
        int warmup;

        /** Untimed steps of the default size before the table, so that no row pays for the JIT. */
        private static final int JIT_WARMUP_STEPS = 8;

        @Option(names = "--steps", defaultValue = "5", description = "Timed steps per size.")
        int steps;

        @Override
        public Integer call() {
            if (warmup < 0 || steps <= 0) {
                throw usageError("--warmup must be >= 0 and --steps > 0");
            }
            // compile the hot loops first: otherwise the first row also times the JIT
            try (org.peft4j.examples.bench.StepTimer jit = new org.peft4j.examples.bench.StepTimer(
                    () -> org.peft4j.examples.bench.Workload.gpt(spec(128, 8, 4), Setup.FULL))) {
                jit.steps(JIT_WARMUP_STEPS, 1);
            }
            out().println("| varied | seq | batch | layers | median step (ms) | GFLOP per step | GFLOP/s | ms per GFLOP |");
            out().println("|---|---:|---:|---:|---:|---:|---:|---:|");
            for (int seq : seqLens) {
                row("seq", seq, 8, 4);
            }
            for (int batch : batches) {
                row("batch", 128, batch, 4);
            }
            for (int layers : layerCounts) {
                row("layers", 128, 8, layers);
            }
            out().flush();
            return Peft4jCli.EXIT_OK;
        }

        private void row(String varied, int seq, int batch, int layers) {
            if (seq <= 0 || batch <= 0 || layers <= 0) {
                throw usageError("sizes must be > 0, got seq " + seq + ", batch " + batch + ", layers " + layers);
            }
            Spec spec = spec(seq, batch, layers);
            try (org.peft4j.examples.bench.StepTimer timer = new org.peft4j.examples.bench.StepTimer(
                    () -> org.peft4j.examples.bench.Workload.gpt(spec, Setup.FULL))) {
                timer.steps(warmup, steps);
                double ms = timer.result().medianMs();
                double gflop = stepGflop(spec);
                out().printf(Locale.ROOT, "| %s | %d | %d | %d | %.1f | %.2f | %.0f | %.1f |%n", varied, seq, batch, layers, ms, gflop, gflop / ms * 1000,
                        ms / gflop);
                out().flush();
            }
        }

        private Spec spec(int seq, int batch, int layers) {
            return new Spec(256, 256, layers, 4, seq, batch, warmup, steps, 1, KernelChoice.AUTO);
        }

        /**
         * The matrix-product FLOPs of one full fine-tuning step of the GPT config: forward per token and layer
         * 24·d² (q, k, v, output, MLP of 4d) plus 4·T·d (scores and context), the tied head 2·d·V; backward
         * twice the forward (input and weight gradients).
         */
        static double stepGflop(Spec s) {
            double tokens = (double) s.batch() * s.seqLen();
            double d = s.hidden();
            double forward = tokens * (s.layers() * (24 * d * d + 4.0 * s.seqLen() * d) + 2 * d * s.vocab());
            return 3 * forward / 1e9;
        }
    }
}
