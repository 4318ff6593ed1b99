package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.io.SafetensorsFile;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;

/**
 * {@code train --save-every N} and {@code train --resume DIR}: a LoRA run whose last checkpoint is lost
 * (as after a crash) continues from the one before and saves the same adapter, bit for bit, as an
 * uninterrupted run; its loss.csv holds every step once.
 */
class ResumeCommandTest {
    @Test
    void resumedRunSavesTheSameAdapterAsAnUninterruptedRun(@TempDir Path dir) throws Exception {
        Gpt2Config config = Gpt2Config.builder().vocabSize(256).nPositions(32).nEmbd(16).nLayer(1).nHead(2).dropout(0.1).build();
        Path base = dir.resolve("base");
        HfCheckpoint.save(Gpt2Model.random(config, 7, DataType.FLOAT, KernelChoice.AUTO), base);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            texts.add("{\"text\":\"abc" + "xyz".repeat(i % 4) + "\"}");
        }
        Path data = Files.write(dir.resolve("lm.jsonl"), texts);
        List<String> common = List.of("train", "--model", base.toString(), "--task", "causal-lm", "--train", data.toString(), "--method", "lora",
                "--target-modules", "c_attn", "--epochs", "2", "--batch-size", "4", "--lr", "1e-2", "--save-every", "3");
        Path whole = dir.resolve("whole");
        JsonNode uninterrupted = TrainAndEvalCommandTest.lastJsonLine(run(common, "--out", whole.toString()));
        assertEquals(12, uninterrupted.get("steps").asInt());
        try (Stream<Path> kept = Files.list(whole.resolve(TrainCommand.CHECKPOINTS))) {
            assertEquals(List.of("checkpoint-12", "checkpoint-9"), kept.map(p -> p.getFileName().toString()).sorted().toList());
        }

        Path crashed = dir.resolve("crashed");
        run(common, "--out", crashed.toString());
        Path lost = crashed.resolve(TrainCommand.CHECKPOINTS).resolve("checkpoint-12");
        try (Stream<Path> files = Files.walk(lost)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        Files.delete(crashed.resolve("adapter_model.safetensors"));
        JsonNode resumed = TrainAndEvalCommandTest.lastJsonLine(run(common, "--out", crashed.toString(), "--resume", crashed.toString()));
        assertEquals(uninterrupted.get("train_loss").asDouble(), resumed.get("train_loss").asDouble(), 0.0);
        try (SafetensorsFile a = SafetensorsFile.open(whole.resolve("adapter_model.safetensors"));
                SafetensorsFile b = SafetensorsFile.open(crashed.resolve("adapter_model.safetensors"))) {
            assertEquals(a.names(), b.names());
            for (String name : a.names()) {
                assertEquals(a.rawBytes(name), b.rawBytes(name), name);
            }
        }
        List<String> csv = Files.readAllLines(crashed.resolve("loss.csv"));
        List<String> steps = csv.stream().skip(1).map(l -> l.substring(0, l.indexOf(','))).toList();
        assertEquals(List.of("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"), steps, "each step once: " + csv);
        assertEquals(Files.readAllLines(whole.resolve("loss.csv")).get(12).split(",")[2], csv.get(12).split(",")[2], "step 12's loss");
    }

    @Test
    void resumeFromNothingIsOneClearLine(@TempDir Path dir) throws Exception {
        Gpt2Config config = Gpt2Config.builder().vocabSize(256).nPositions(32).nEmbd(16).nLayer(1).nHead(2).build();
        Path base = dir.resolve("base");
        HfCheckpoint.save(Gpt2Model.random(config, 7, DataType.FLOAT, KernelChoice.AUTO), base);
        Path data = Files.write(dir.resolve("lm.jsonl"), List.of("{\"text\":\"abc\"}"));
        Path empty = Files.createDirectories(dir.resolve("empty"));
        Peft4jCliTest.Run run = Peft4jCliTest.run("train", "--model", base.toString(), "--task", "causal-lm", "--train", data.toString(),
                "--resume", empty.toString(), "--out", dir.resolve("out").toString());
        assertEquals(1, run.exitCode(), run.err());
        assertEquals(1, run.errLines().size(), run.err());
        assertTrue(run.err().contains(empty + ": no training checkpoint"), run.err());
    }

    private static Object[] run(List<String> common, String... more) {
        List<String> args = new ArrayList<>(common);
        args.addAll(List.of(more));
        return InfoAndLogitsCommandTest.run(args.toArray(new String[0]));
    }
}
