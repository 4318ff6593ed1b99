package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertModel;

/** peft4j train --method adalora end to end on a tiny BERT: the ranks are allocated, saved, reloaded, evaluated and merged. */
class AdaLoraCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void adaloraTrainsAllocatesRanksAndReloads(@TempDir Path dir) throws Exception {
        BertConfig config = BertConfig.builder().vocabSize(256).hiddenSize(16).numHiddenLayers(2).numAttentionHeads(2).intermediateSize(32)
                .maxPositionEmbeddings(32).dropout(0.0).build();
        Path base = dir.resolve("base");
        HfCheckpoint.save(BertModel.random(config, true, 5, DataType.FLOAT, KernelChoice.AUTO), base);
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            boolean yes = i % 2 == 0;
            train.add("{\"text\":\"" + String.valueOf(yes ? 'a' : 'z').repeat(3 + i % 5) + "\",\"label\":\"" + (yes ? "yes" : "no") + "\"}");
        }
        Path data = dir.resolve("train.jsonl");
        Files.write(data, train);
        Path out = dir.resolve("adapter");
        JsonNode trained = TrainAndEvalCommandTest.lastJsonLine(InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task",
                "classification", "--train", data.toString(), "--eval", data.toString(), "--method", "adalora", "--init-r", "4", "--target-r", "2",
                "--tinit", "2", "--tfinal", "4", "--delta-t", "2", "--orth-reg-weight", "0.1", "--lora-dropout", "0", "--epochs", "4",
                "--batch-size", "8", "--lr", "2e-2", "--out", out.toString()));
        assertEquals("adalora", trained.get("method").asText());
        JsonNode adapterConfig = JSON.readTree(out.resolve("adapter_config.json").toFile());
        assertEquals("ADALORA", adapterConfig.get("peft_type").asText());
        assertEquals(16, adapterConfig.get("total_step").asInt(), "4 epochs of 4 batches: total_step from the trainer");
        assertEquals(4, adapterConfig.get("init_r").asInt());
        JsonNode pattern = adapterConfig.get("rank_pattern");
        assertEquals(4, pattern.size(), "query and value of two layers");
        int kept = 0;
        for (JsonNode flags : pattern) {
            for (JsonNode f : flags) {
                kept += f.asBoolean() ? 1 : 0;
            }
        }
        assertEquals(8, kept, "target_r 2 × 4 modules");
        JsonNode evaluated = TrainAndEvalCommandTest.lastJsonLine(InfoAndLogitsCommandTest.run("eval", "--model", base.toString(), "--adapter",
                out.toString(), "--task", "classification", "--data", data.toString()));
        assertEquals(trained.get("eval_loss").asDouble(), evaluated.get("eval_loss").asDouble(), 1e-6, "the saved adapter is the trained one");
        Path merged = dir.resolve("merged");
        assertEquals(0, InfoAndLogitsCommandTest.run("merge", "--model", base.toString(), "--adapter", out.toString(), "--out", merged.toString())[0]);
        JsonNode fromMerged = TrainAndEvalCommandTest.lastJsonLine(InfoAndLogitsCommandTest.run("eval", "--model", merged.toString(), "--task",
                "classification", "--data", data.toString()));
        assertEquals(evaluated.get("eval_loss").asDouble(), fromMerged.get("eval_loss").asDouble(), 1e-5, "merged = unmerged");
        Object[] bad = InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "classification", "--train", data.toString(),
                "--method", "adalora", "--init-r", "4", "--target-r", "6", "--out", dir.resolve("bad").toString());
        assertTrue(((String) bad[2]).contains("target_r must be in 1..init_r"), (String) bad[2]);
    }
}
