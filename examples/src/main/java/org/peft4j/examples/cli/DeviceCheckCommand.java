package org.peft4j.examples.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.SafetensorsWeights;
import org.peft4j.core.io.SafetensorsWriter;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.examples.bench.DeviceCheck;
import org.peft4j.examples.bench.DeviceCheck.Row;
import org.peft4j.examples.bench.StepTimer;
import org.peft4j.examples.bench.Workload;
import org.peft4j.examples.bench.Workload.Setup;
import org.peft4j.examples.bench.Workload.Spec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code peft4j bench device-check}: the one-call check of a backend (scripts/gpu-check.sh runs it on the
 * CPU with {@code --save}, then on the GPU with {@code --compare}). Prints a Markdown table of checks and
 * step times, then one JSON line; exits 1 if a check fails.
 */
@Command(name = "device-check", sortOptions = false, showDefaultValues = true,
        description = {"Check the ND4J backend in use: all-MiniLM-L6-v2's hidden states (plain, with LoRA, over an NF4 base) and a",
            "LoRA step's gradients against a reference saved by another backend; merged against unmerged LoRA and NF4",
            "dequantization paths on this backend; then LoRA step times of the MiniLM shape and a LLaMA-style decoder."})
public final class DeviceCheckCommand extends CliCommand {
    @Option(names = "--save", paramLabel = "FILE", description = "Write this backend's outputs (safetensors) as the reference of a later --compare.")
    Path save;

    @Option(names = "--compare", paramLabel = "FILE", description = "Compare this backend's outputs with a reference written by --save.")
    Path compare;

    @Option(names = "--kernels", defaultValue = "auto", description = "Kernels: auto, portable or cpu.")
    String kernels;

    @Option(names = "--timings", split = ",", defaultValue = "minilm,llama",
            description = "Step times to measure: minilm (batch 16, seq 128), llama (see --llama-*), or none.")
    List<String> timings;

    @Option(names = "--llama-hidden", defaultValue = "2048", description = "Hidden size of the LLaMA-style decoder.")
    int llamaHidden;

    @Option(names = "--llama-layers", defaultValue = "16", description = "Layers of the LLaMA-style decoder.")
    int llamaLayers;

    @Option(names = "--llama-seq-len", defaultValue = "512", description = "Tokens per sequence of the LLaMA-style decoder (batch 1).")
    int llamaSeqLen;

    @Option(names = "--warmup", defaultValue = "2", description = "Untimed steps per timing.")
    int warmup;

    @Option(names = "--steps", defaultValue = "5", description = "Timed steps per timing.")
    int steps;

    @Override
    public Integer call() throws Exception {
        KernelChoice choice = kernelsOption(kernels);
        for (String t : timings) {
            if (!List.of("minilm", "llama", "none").contains(t)) {
                throw usageError("--timings: unknown timing '" + t + "'; allowed: minilm, llama, none");
            }
        }
        if (warmup < 0 || steps <= 0 || llamaHidden <= 0 || llamaLayers <= 0 || llamaSeqLen <= 0 || llamaHidden % 128 != 0) {
            throw usageError("--warmup must be >= 0; --steps and the --llama-* sizes > 0, --llama-hidden a multiple of 128 (heads of 128)");
        }
        Map<String, INDArray> reference = compare == null ? null : readReference(compare);
        DeviceCheck check = new DeviceCheck(choice);
        String kernelName = choice.resolve().name();
        out().printf(Locale.ROOT, "peft4j device check: ND4J %s, kernels %s%s%n", BenchCommand.Engine.backend(), kernelName,
                compare == null ? "" : ", reference " + compare);
        Map<String, INDArray> outputs = check.outputs();
        List<Row> rows = new ArrayList<>(check.selfChecks(outputs));
        if (reference != null) {
            rows.addAll(DeviceCheck.compare(outputs, reference));
        }
        if (save != null) {
            writeReference(save, outputs, kernelName);
        }
        out().println();
        out().println("| check | max abs diff / max abs expected | tolerance | result |");
        out().println("|---|---:|---:|---|");
        for (Row r : rows) {
            out().printf(Locale.ROOT, "| %s | %.3g | %.3g | %s |%n", r.check(), r.relativeDiff(), r.tolerance(), r.passed() ? "ok" : "FAIL");
        }
        Map<String, Double> times = stepTimes(choice);
        if (!times.isEmpty()) {
            out().println();
            out().println("| LoRA step, fp32 | median (ms) |");
            out().println("|---|---:|");
            times.forEach((name, ms) -> out().printf(Locale.ROOT, "| %s | %.1f |%n", name, ms));
        }
        long failed = rows.stream().filter(r -> !r.passed()).count();
        out().printf(Locale.ROOT, "{\"backend\":\"%s\",\"kernels\":\"%s\",\"checks\":%d,\"failed\":%d}%n", KernelChoice.backendName(), kernelName,
                rows.size(), failed);
        out().flush();
        return failed == 0 ? Peft4jCli.EXIT_OK : Peft4jCli.EXIT_FAILURE;
    }

    private Map<String, Double> stepTimes(KernelChoice choice) {
        Map<String, Double> times = new LinkedHashMap<>();
        if (timings.contains("minilm")) {
            Spec s = new Spec(30522, 384, 6, 12, 128, 16, warmup, steps, 1, choice);
            times.put("all-MiniLM-L6-v2 shape (d 384, 6 layers), batch 16, seq 128", time(() -> Workload.bert(s, Setup.LORA)));
        }
        if (timings.contains("llama")) {
            Spec s = new Spec(32000, llamaHidden, llamaLayers, llamaHidden / 128, llamaSeqLen, 1, warmup, steps, 1, choice);
            times.put(String.format(Locale.ROOT, "LLaMA-style (d %d, %d layers), batch 1, seq %d", llamaHidden, llamaLayers, llamaSeqLen),
                    time(() -> Workload.llama(s, Setup.LORA)));
        }
        return times;
    }

    private double time(java.util.function.Supplier<Workload> build) {
        try (StepTimer timer = new StepTimer(build)) {
            timer.steps(warmup, steps);
            return timer.result().medianMs();
        }
    }

    private Map<String, INDArray> readReference(Path file) throws Exception {
        if (!Files.isRegularFile(file)) {
            throw usageError("--compare: no such file: " + file + " (write it with --save on the reference backend)");
        }
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        try (SafetensorsWeights weights = SafetensorsWeights.openFile(file)) {
            for (String name : weights.names()) {
                tensors.put(name, weights.read(name));
            }
        }
        return tensors;
    }

    private static void writeReference(Path file, Map<String, INDArray> outputs, String kernelName) throws Exception {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        SafetensorsWriter.write(file, outputs, Map.of("backend", KernelChoice.backendName(), "kernels", kernelName));
    }
}
