package org.peft4j.examples.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.Workspaces;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.param.ParamRegistry.NamedParam;
import org.peft4j.core.train.Optimizer;
import org.peft4j.core.train.TrainableTask;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.LoraConfig;

/**
 * Times training steps (forward, backward, Adam) of the GPT config under several freezing
 * setups, alternating between them round by round so that machine noise hits all alike. Memory is
 * what ND4J holds for each setup: params, gradient buffers, optimizer state, and the activation
 * workspace one step needs.
 */
public final class EngineBenchmark {
    /** One setup: which params train. */
    public enum Setup {
        /** Every param trainable. */
        FULL,
        /** Everything frozen except the last transformer block. */
        LAST_BLOCK,
        /** LoRA r 8, alpha 16 on every block's c_attn; the base frozen. */
        LORA
    }

    /** Shape of the benchmark. */
    public record Spec(int vocab, int hidden, int layers, int heads, int seqLen, int batch, int warmup, int steps, int rounds,
            KernelChoice kernels) {
        /** The config: vocab 256, d 256, 4 layers, 4 heads, seq 128, batch 8. */
        public static Spec standard() {
            return new Spec(256, 256, 4, 4, 128, 8, 3, 10, 3, KernelChoice.AUTO);
        }
    }

    /** Result of one setup. */
    public record Result(Setup setup, double medianMs, double[] stepMs, long trainableParams, long totalParams, long paramBytes,
            long gradBytes, long optimizerBytes, long workspaceBytes) {
        /** All memory ND4J holds for training this setup. */
        public long totalBytes() {
            return paramBytes + gradBytes + optimizerBytes + workspaceBytes;
        }
    }

    private EngineBenchmark() {
    }

    /** Runs every setup {@code rounds} times, alternating, and returns one result per setup. */
    public static List<Result> run(Spec spec, Setup... setups) {
        Gpt2Config config = Gpt2Config.builder().vocabSize(spec.vocab()).nPositions(Math.max(1024, spec.seqLen())).nEmbd(spec.hidden())
                .nLayer(spec.layers()).nHead(spec.heads()).dropout(0.0).build();
        TokenBatch batch = randomBatch(spec, 7);
        List<Bench> benches = new ArrayList<>();
        for (Setup setup : setups) {
            benches.add(new Bench(setup, config, spec));
        }
        try {
            for (int round = 0; round < spec.rounds(); round++) {
                boolean first = round == 0;
                for (Bench b : benches) {
                    b.onOwnThread(() -> {
                        b.round(batch, spec, first);
                        return null;
                    });
                }
            }
            List<Result> out = new ArrayList<>();
            for (Bench b : benches) {
                out.add(b.onOwnThread(b::result));
            }
            return out;
        } finally {
            benches.forEach(b -> b.thread.shutdown());
        }
    }

    private static TokenBatch randomBatch(Spec spec, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[][] rows = new int[spec.batch()][spec.seqLen()];
        for (int[] row : rows) {
            for (int t = 0; t < row.length; t++) {
                row[t] = rng.nextInt(spec.vocab());
            }
        }
        return TokenBatch.causalLm(rows);
    }

    /** The state of one setup across rounds. */
    private static final class Bench {
        final Setup setup;
        final Gpt2Model model;
        final TrainableTask<TokenBatch> task;
        final List<NamedParam> trainable;
        final Optimizer optimizer = new Optimizer(new Adam(1e-4), 0.0, np -> false);
        final String workspaceName;   // the trainer's name for a micro-batch's workspace
        final List<Double> times = new ArrayList<>();
        /** ND4J workspaces belong to a thread: each setup runs on its own, so their sizes are its own. */
        final java.util.concurrent.ExecutorService thread = java.util.concurrent.Executors.newSingleThreadExecutor();
        int iteration;

        <T> T onOwnThread(java.util.concurrent.Callable<T> work) {
            try {
                return thread.submit(work).get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("benchmark interrupted", e);
            } catch (java.util.concurrent.ExecutionException e) {
                throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
            }
        }

        Bench(Setup setup, Gpt2Config config, Spec spec) {
            this.setup = setup;
            this.model = Gpt2Model.random(config, 1, DataType.FLOAT, spec.kernels());
            ParamRegistry registry = new ParamRegistry(model);
            CausalLmTask causal = new CausalLmTask(model);
            TrainableTask<TokenBatch> trainable = causal;
            switch (setup) {
                case FULL -> registry.unfreezeAll();
                case LAST_BLOCK -> registry.unfreezeMatching(java.util.regex.Pattern.compile("transformer\\.h\\." + (config.nLayer() - 1) + "\\..*"));
                case LORA -> {
                    LoraConfig lora = LoraConfig.builder().r(8).loraAlpha(16).targetModules("c_attn").taskType(TaskType.CAUSAL_LM).build();
                    trainable = PeftModel.builder(model).adapter("default", lora).seed(1).build().trainableTask(causal);
                }
                default -> throw new IllegalArgumentException("unknown setup " + setup);
            }
            this.task = trainable;
            this.trainable = registry.trainable();
            this.workspaceName = Workspaces.TRAIN;
        }

        void round(TokenBatch batch, Spec spec, boolean warm) {
            int n = (warm ? spec.warmup() : 0) + spec.steps();
            for (int i = 0; i < n; i++) {
                long t0 = System.nanoTime();
                step(batch);
                long t1 = System.nanoTime();
                if (!warm || i >= spec.warmup()) {
                    times.add((t1 - t0) / 1e6);
                }
            }
        }

        void step(TokenBatch batch) {
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(Workspaces.CONFIG, workspaceName);
                    Tape tape = Tape.training(task.kernels(), iteration)) {
                task.forward(batch, tape);
                task.backward(tape, 1.0);
            }
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(Workspaces.CONFIG, Workspaces.OPTIMIZER)) {
                optimizer.step(trainable, iteration++);
            }
            trainable.forEach(np -> np.param().zeroGrad());
        }

        Result result() {
            double[] ms = times.stream().mapToDouble(Double::doubleValue).toArray();
            double[] sorted = ms.clone();
            Arrays.sort(sorted);
            ParamRegistry registry = new ParamRegistry(model);
            long trainableParams = registry.trainableCount();
            long total = registry.totalCount();
            long optimizerBytes = optimizer.state(trainable).values().stream().mapToLong(a -> a.length() * 4).sum();
            // the pass's own workspace plus the per-layer scratch workspace it opens inside
            long workspaceBytes = Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(Workspaces.CONFIG, workspaceName).getCurrentSize()
                    + scratchBytes(Workspaces.LAYER_SCRATCH);
            return new Result(setup, sorted[sorted.length / 2], ms, trainableParams, total, total * 4, trainableParams * 4, optimizerBytes,
                    workspaceBytes);
        }
    }

    private static long scratchBytes(String name) {
        return Nd4j.getWorkspaceManager().checkIfWorkspaceExists(name)
                ? Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(Workspaces.CONFIG, name).getCurrentSize() : 0;
    }

    /** A Markdown table of the results, with the ratio of each setup's median to the first's. */
    public static String table(List<Result> results) {
        StringBuilder sb = new StringBuilder();
        sb.append("| setup | trainable params | median step (ms) | vs full | params | grads | Adam state | activations | total |\n");
        sb.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        double base = results.get(0).medianMs();
        long baseBytes = results.get(0).totalBytes();
        for (Result r : results) {
            sb.append(String.format(Locale.ROOT, "| %s | %,d | %.1f | %.2f× time, %.2f× memory | %s | %s | %s | %s | %s |%n",
                    r.setup().name().toLowerCase(Locale.ROOT).replace('_', ' '), r.trainableParams(), r.medianMs(), r.medianMs() / base,
                    (double) r.totalBytes() / baseBytes, mb(r.paramBytes()), mb(r.gradBytes()), mb(r.optimizerBytes()), mb(r.workspaceBytes()),
                    mb(r.totalBytes())));
        }
        return sb.toString();
    }

    private static String mb(long bytes) {
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }

    /** Runs the standard benchmark and prints the table. */
    public static void main(String[] args) {
        List<Result> results = run(Spec.standard(), Setup.FULL, Setup.LAST_BLOCK);
        for (Result r : results) {
            System.out.println(r.setup() + " steps ms " + Arrays.toString(r.stepMs()));
        }
        System.out.print(table(results));
    }
}
