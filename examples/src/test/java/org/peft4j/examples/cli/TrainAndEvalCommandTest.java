package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.data.LabelSet;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertModel;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;

/** peft4j train and eval end to end on tiny models with byte-level vocabularies (no tokenizer.json needed). */
class TrainAndEvalCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode lastJsonLine(Object[] result) throws Exception {
        assertEquals(0, result[0], (String) result[2]);
        List<String> lines = ((String) result[1]).lines().toList();
        return JSON.readTree(lines.get(lines.size() - 1));
    }

    private static void writeJsonl(Path file, List<String> lines) throws Exception {
        Files.write(file, lines);
    }

    @Test
    void classificationTrainsSavesAndEvaluatesToTheSameMetrics(@TempDir Path dir) throws Exception {
        BertConfig config = BertConfig.builder().vocabSize(256).hiddenSize(16).numHiddenLayers(1).numAttentionHeads(2).intermediateSize(32)
                .maxPositionEmbeddings(32).dropout(0.0).build();
        Path base = dir.resolve("base");
        HfCheckpoint.save(BertModel.random(config, true, 5, DataType.FLOAT, KernelChoice.AUTO), base);
        // a separable task: sentences of "a…" are "yes", of "z…" are "no"
        SplittableRandom rng = new SplittableRandom(6);
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            boolean yes = i % 2 == 0;
            train.add("{\"text\":\"" + String.valueOf(yes ? 'a' : 'z').repeat(3 + rng.nextInt(5)) + "\",\"label\":\"" + (yes ? "yes" : "no") + "\"}");
        }
        writeJsonl(dir.resolve("train.jsonl"), train);
        writeJsonl(dir.resolve("dev.jsonl"), List.of("{\"text\":\"aaaa\",\"label\":\"yes\"}", "{\"text\":\"zzz\",\"label\":\"no\"}",
                "{\"text\":\"aaaaaa\",\"label\":\"yes\"}", "{\"text\":\"zzzzzzz\",\"label\":\"no\"}"));
        Path out = dir.resolve("out");
        JsonNode trained = lastJsonLine(InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "classification",
                "--train", dir.resolve("train.jsonl").toString(), "--eval", dir.resolve("dev.jsonl").toString(), "--epochs", "6",
                "--batch-size", "8", "--lr", "5e-3", "--out", out.toString()));
        assertEquals(1.0, trained.get("accuracy").asDouble(), "the task is separable");
        assertEquals(1.0, trained.get("mcc").asDouble(), 1e-12);
        assertEquals(48, trained.get("steps").asInt(), "6 epochs of 8 batches");
        assertTrue(Files.exists(out.resolve("model.safetensors")) && Files.exists(out.resolve("config.json"))
                && Files.exists(out.resolve("loss.csv")) && Files.exists(out.resolve("metrics.json")));
        assertEquals(List.of("no", "yes"), LabelSet.load(out.resolve(LabelSet.FILE_NAME)).names());
        JsonNode evaluated = lastJsonLine(InfoAndLogitsCommandTest.run("eval", "--model", out.toString(), "--task", "classification",
                "--data", dir.resolve("dev.jsonl").toString()));
        assertEquals(trained.get("eval_loss").asDouble(), evaluated.get("eval_loss").asDouble(), 1e-6, "the saved model is the trained one");
        assertEquals(1.0, evaluated.get("accuracy").asDouble());
    }

    @Test
    void loraTrainsAnAdapterThatEvaluatesMergesAndReloadsToTheSameMetrics(@TempDir Path dir) throws Exception {
        BertConfig config = BertConfig.builder().vocabSize(256).hiddenSize(16).numHiddenLayers(1).numAttentionHeads(2).intermediateSize(32)
                .maxPositionEmbeddings(32).dropout(0.0).build();
        Path base = dir.resolve("base");
        HfCheckpoint.save(BertModel.random(config, true, 5, DataType.FLOAT, KernelChoice.AUTO), base);
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            boolean yes = i % 2 == 0;
            train.add("{\"text\":\"" + String.valueOf(yes ? 'a' : 'z').repeat(3 + i % 5) + "\",\"label\":\"" + (yes ? "yes" : "no") + "\"}");
        }
        writeJsonl(dir.resolve("train.jsonl"), train);
        Path out = dir.resolve("adapter");
        JsonNode trained = lastJsonLine(InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "classification",
                "--train", dir.resolve("train.jsonl").toString(), "--eval", dir.resolve("train.jsonl").toString(), "--method", "lora",
                "--lora-r", "4", "--lora-dropout", "0", "--epochs", "8", "--batch-size", "8", "--lr", "2e-2", "--out", out.toString()));
        assertEquals(1.0, trained.get("accuracy").asDouble(), "the task is separable: " + trained);
        assertTrue(trained.get("trainable_params").asLong() < trained.get("params").asLong() / 4, trained.toString());
        JsonNode adapterConfig = JSON.readTree(out.resolve("adapter_config.json").toFile());
        assertEquals("LORA", adapterConfig.get("peft_type").asText());
        assertEquals("SEQ_CLS", adapterConfig.get("task_type").asText());
        assertTrue(Files.exists(out.resolve("adapter_model.safetensors")) && Files.exists(out.resolve(LabelSet.FILE_NAME)));
        JsonNode evaluated = lastJsonLine(InfoAndLogitsCommandTest.run("eval", "--model", base.toString(), "--adapter", out.toString(),
                "--task", "classification", "--data", dir.resolve("train.jsonl").toString()));
        assertEquals(trained.get("eval_loss").asDouble(), evaluated.get("eval_loss").asDouble(), 1e-6, "the saved adapter is the trained one");
        Path merged = dir.resolve("merged");
        assertEquals(0, InfoAndLogitsCommandTest.run("merge", "--model", base.toString(), "--adapter", out.toString(), "--out", merged.toString())[0]);
        JsonNode fromMerged = lastJsonLine(InfoAndLogitsCommandTest.run("eval", "--model", merged.toString(), "--task", "classification",
                "--data", dir.resolve("train.jsonl").toString()));
        assertEquals(evaluated.get("eval_loss").asDouble(), fromMerged.get("eval_loss").asDouble(), 1e-5, "merged = unmerged");
        JsonNode unmergedLogits = JSON.readTree((String) InfoAndLogitsCommandTest.run("logits", "--model", base.toString(), "--adapter",
                out.toString(), "--ids", "97,97,97")[1]);
        JsonNode mergedLogits = JSON.readTree((String) InfoAndLogitsCommandTest.run("logits", "--model", merged.toString(), "--ids", "97,97,97")[1]);
        assertEquals("[1,1,2]", mergedLogits.get("shape").toString());
        for (int i = 0; i < 2; i++) {
            assertEquals(unmergedLogits.get("data").get(i).asDouble(), mergedLogits.get("data").get(i).asDouble(), 1e-5);
        }
    }

    @Test
    void causalLmTrainsAndEvaluates(@TempDir Path dir) throws Exception {
        Gpt2Config config = Gpt2Config.builder().vocabSize(256).nPositions(32).nEmbd(16).nLayer(1).nHead(2).dropout(0.0).build();
        Path base = dir.resolve("base");
        HfCheckpoint.save(Gpt2Model.random(config, 7, DataType.FLOAT, KernelChoice.AUTO), base);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            texts.add("{\"text\":\"abcabcabcabc\"}");
        }
        writeJsonl(dir.resolve("lm.jsonl"), texts);
        Path out = dir.resolve("out");
        JsonNode trained = lastJsonLine(InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "causal-lm", "--train",
                dir.resolve("lm.jsonl").toString(), "--eval", dir.resolve("lm.jsonl").toString(), "--epochs", "10", "--batch-size", "8",
                "--lr", "1e-2", "--out", out.toString()));
        assertTrue(trained.get("eval_loss").asDouble() < trained.get("before_eval_loss").asDouble() / 3,
                "a repeated text is learned: " + trained);
        assertEquals(Math.exp(trained.get("eval_loss").asDouble()), trained.get("perplexity").asDouble(), 1e-9);
        JsonNode evaluated = lastJsonLine(InfoAndLogitsCommandTest.run("eval", "--model", out.toString(), "--task", "causal-lm", "--data",
                dir.resolve("lm.jsonl").toString()));
        assertEquals(trained.get("eval_loss").asDouble(), evaluated.get("eval_loss").asDouble(), 1e-6);
    }

    @Test
    void badArgumentsGiveOneLineNamingTheOption(@TempDir Path dir) {
        Object[] r = InfoAndLogitsCommandTest.run("train", "--model", "builtin:all-MiniLM-L6-v2", "--task", "regression", "--train",
                dir.resolve("x.jsonl").toString(), "--out", dir.toString());
        assertEquals(Peft4jCli.EXIT_USAGE, r[0]);
        assertTrue(((String) r[2]).contains("--task must be classification or causal-lm"), (String) r[2]);
        Object[] missing = InfoAndLogitsCommandTest.run("eval", "--model", "builtin:all-MiniLM-L6-v2", "--task", "classification", "--data",
                dir.resolve("none.jsonl").toString());
        assertTrue(((String) missing[2]).contains("--data: no such file"), (String) missing[2]);
    }
}
