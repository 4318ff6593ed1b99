package org.peft4j.examples.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.Workspaces;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.examples.bench.Workload.Setup;
import org.peft4j.examples.bench.Workload.Spec;

/**
 * peft4j against PyTorch on the same models, shapes and optimizer ({@code benchmarks/pytorch/step_bench.py}),
 * in one run: for every (model, setup) each round times peft4j's steps in this process, then PyTorch's in a
 * child process, so the two share the machine's state. Also times the forward pass of a model with a merged
 * LoRA adapter against the base model's and the unmerged adapter's, in this process.
 */
public final class CompareBenchmark {
    /** One compared pair. */
    public record Row(String model, Setup setup, long trainableParams, double peft4jMs, double pytorchMs, List<Double> pytorchRounds) {
        /** peft4j's median step time over PyTorch's. */
        public double ratio() {
            return peft4jMs / pytorchMs;
        }
    }

    /** Forward times of the base model, the unmerged adapter and the merged model. */
    public record ForwardRow(String model, double baseMs, double unmergedMs, double mergedMs) {
    }

    /**
     * Where the reference is and how to run it.
     *
     * @param python  the Python interpreter with torch (Debian's /usr/bin/python3 with python3-torch)
     * @param script  benchmarks/pytorch/step_bench.py
     * @param threads threads for PyTorch (ND4J uses the machine's cores)
     */
    public record Reference(Path python, Path script, int threads) {
    }

    /** Forward passes of each kind per timed training step of the comparison. */
    static final int FORWARDS_PER_STEP = 3;

    private CompareBenchmark() {
    }

    /** Runs every model × setup for {@code rounds} rounds, alternating peft4j and PyTorch. */
    public static List<Row> steps(List<String> models, List<Setup> setups, int warmup, int steps, int rounds, Reference reference) {
        List<Row> rows = new ArrayList<>();
        for (String model : models) {
            Spec spec = spec(model, warmup, steps, rounds);
            for (Setup setup : setups) {
                try (StepTimer timer = new StepTimer(() -> build(model).apply(spec, setup))) {
                    List<Double> pytorch = new ArrayList<>();
                    for (int round = 0; round < rounds; round++) {
                        timer.steps(round == 0 ? warmup : 0, steps);
                        pytorch.add(runPytorch(reference, model, setup, warmup, steps));
                    }
                    StepTimer.Result r = timer.result();
                    double[] p = pytorch.stream().mapToDouble(Double::doubleValue).toArray();
                    rows.add(new Row(model, setup, r.trainableParams(), r.medianMs(), StepTimer.median(p), List.copyOf(pytorch)));
                }
            }
        }
        return rows;
    }

    /**
     * Forward passes (inference) of the base model, the model with an unmerged LoRA adapter, and the merged
     * model. The three alternate pass by pass (merging and unmerging between passes, untimed), so that a
     * burst of load on the machine hits all three alike, {@value #FORWARDS_PER_STEP} passes each per timed
     * training step: forward passes are short, and 40 of them left the ratio ±5 % from run to run.
     */
    public static ForwardRow mergedForward(String model, int warmup, int steps, int rounds) {
        Spec spec = spec(model, warmup, steps, rounds);
        try (StepTimer holder = new StepTimer(() -> build(model).apply(spec, Setup.LORA))) {
            return holder.onOwnThread(() -> {
                Workload w = holder.workload();
                PeftModel<?> peft = w.peft();
                peft.tunerLayers().values().forEach(layer -> randomizeB(layer));
                List<Double> base = new ArrayList<>();
                List<Double> unmerged = new ArrayList<>();
                List<Double> merged = new ArrayList<>();
                for (int i = 0; i < warmup + FORWARDS_PER_STEP * rounds * steps; i++) {
                    boolean kept = i >= warmup;
                    try (var disabled = peft.disableAdapters()) {
                        timeForward(w, kept ? base : null);
                    }
                    timeForward(w, kept ? unmerged : null);
                    peft.merge();
                    timeForward(w, kept ? merged : null);
                    peft.unmerge();
                }
                return new ForwardRow(model, median(base), median(unmerged), median(merged));
            });
        }
    }

    /** A non-zero adapter, so that merging changes the weights as a trained one would. */
    private static void randomizeB(org.peft4j.core.tuner.TunerLayer layer) {
        layer.adapterParams("default").values().forEach(p -> {
            if (p.value().rank() == 2) {
                p.value().assign(org.nd4j.linalg.factory.Nd4j.rand(p.value().dataType(), p.value().shape()).subi(0.5).muli(0.02));
            }
        });
    }

    /** One forward pass; its milliseconds go into {@code times} unless that is null (warm-up). */
    private static void timeForward(Workload w, List<Double> times) {
        long t0 = System.nanoTime();
        try (MemoryWorkspace ws = Workspaces.open(Workspaces.EVAL); Tape tape = Tape.inference(w.model().kernels())) {
            forward(w.model(), w.batch(), tape);
        }
        if (times != null) {
            times.add((System.nanoTime() - t0) / 1e6);
        }
    }

    private static void forward(PretrainedModel model, TokenBatch batch, Tape tape) {
        if (model instanceof org.peft4j.core.model.CausalLm lm) {
            lm.forward(batch, tape);
        } else if (model instanceof org.peft4j.core.model.SequenceClassifier c) {
            c.forward(batch, tape);
        } else {
            throw new IllegalArgumentException("no forward for " + model.modelType());
        }
    }

    private static double median(List<Double> values) {
        return StepTimer.median(values.stream().mapToDouble(Double::doubleValue).toArray());
    }

    private static Spec spec(String model, int warmup, int steps, int rounds) {
        Spec s = switch (model) {
            case "gpt" -> Spec.gptStandard();
            case "bert" -> Spec.bertStandard();
            default -> throw new IllegalArgumentException("unknown benchmark model '" + model + "'; known: gpt, bert");
        };
        return new Spec(s.vocab(), s.hidden(), s.layers(), s.heads(), s.seqLen(), s.batch(), warmup, steps, rounds, s.kernels());
    }

    private static BiFunction<Spec, Setup, Workload> build(String model) {
        return model.equals("gpt") ? Workload::gpt : Workload::bert;
    }

    /** One PyTorch run in a child process; returns its median step time. */
    static double runPytorch(Reference reference, String model, Setup setup, int warmup, int steps) {
        if (setup == Setup.LAST_BLOCK) {
            throw new IllegalArgumentException("the PyTorch reference has the setups full, lora and qlora");
        }
        List<String> command = List.of(reference.python().toString(), reference.script().toString(), "--model", model, "--setup", setup.label(),
                "--warmup", Integer.toString(warmup), "--steps", Integer.toString(steps), "--threads", Integer.toString(reference.threads()));
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
            pb.environment().putIfAbsent("OMP_WAIT_POLICY", "PASSIVE");
            Process p = pb.start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
                throw new IllegalStateException("the PyTorch reference failed (" + String.join(" ", command) + "):\n" + output);
            }
            String last = output.strip().lines().reduce((a, b) -> b).orElse("");
            JsonNode json = new ObjectMapper().readTree(last);
            return json.get("median_step_ms").asDouble();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run the PyTorch reference " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** A Markdown table of the step comparison. */
    public static String table(List<Row> rows) {
        StringBuilder sb = new StringBuilder("| model | setup | trainable params | peft4j (ms) | PyTorch (ms) | peft4j / PyTorch |\n"
                + "|---|---|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %,d | %.1f | %.1f | %.2f |%n", r.model(), r.setup().label(), r.trainableParams(),
                    r.peft4jMs(), r.pytorchMs(), r.ratio()));
        }
        Map<String, Map<Setup, Double>> byModel = new LinkedHashMap<>();
        rows.forEach(r -> byModel.computeIfAbsent(r.model(), k -> new LinkedHashMap<>()).put(r.setup(), r.peft4jMs()));
        byModel.forEach((model, times) -> {
            if (times.containsKey(Setup.FULL) && times.containsKey(Setup.LORA)) {
                sb.append(String.format(Locale.ROOT, "%n%s: peft4j LoRA step / peft4j full step = %.2f%n", model,
                        times.get(Setup.LORA) / times.get(Setup.FULL)));
            }
        });
        return sb.toString();
    }
}
