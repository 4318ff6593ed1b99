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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertModel;

/** peft4j train --method adapter|bitfit end to end on a tiny BERT: the saved adapter evaluates to the trained metrics. */
class AdapterMethodCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode lastJsonLine(Object[] result) throws Exception {
        assertEquals(0, result[0], (String) result[2]);
        List<String> lines = ((String) result[1]).lines().toList();
        return JSON.readTree(lines.get(lines.size() - 1));
    }

    private static Path setUp(Path dir) throws Exception {
        BertConfig config = BertConfig.builder().vocabSize(256).hiddenSize(16).numHiddenLayers(2).numAttentionHeads(2).intermediateSize(32)
                .maxPositionEmbeddings(32).dropout(0.0).build();
        Path base = dir.resolve("base");
        HfCheckpoint.save(BertModel.random(config, true, 5, DataType.FLOAT, KernelChoice.AUTO), base);
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            boolean yes = i % 2 == 0;
            train.add("{\"text\":\"" + String.valueOf(yes ? 'a' : 'z').repeat(3 + i % 5) + "\",\"label\":\"" + (yes ? "yes" : "no") + "\"}");
        }
        Files.write(dir.resolve("train.jsonl"), train);
        return base;
    }

    @ParameterizedTest
    @CsvSource({"adapter,houlsby,BOTTLENECK_ADAPTER", "adapter,pfeiffer,BOTTLENECK_ADAPTER", "adapter,parallel,BOTTLENECK_ADAPTER",
            "bitfit,houlsby,BITFIT"})
    void trainsAnAdapterThatEvaluatesToTheSameMetrics(String method, String placement, String peftType, @TempDir Path dir) throws Exception {
        Path base = setUp(dir);
        Path out = dir.resolve("adapter");
        String data = dir.resolve("train.jsonl").toString();
        JsonNode trained = lastJsonLine(InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "classification",
                "--train", data, "--eval", data, "--method", method, "--adapter-placement", placement, "--reduction-factor", "4",
                "--epochs", "4", "--batch-size", "8", "--lr", "2e-2", "--out", out.toString()));
        assertTrue(trained.get("eval_loss").asDouble() < trained.get("before_eval_loss").asDouble(), "training lowers the loss: " + trained);
        assertTrue(trained.get("trainable_params").asLong() < trained.get("params").asLong() / 4, trained.toString());
        JsonNode adapterConfig = JSON.readTree(out.resolve("adapter_config.json").toFile());
        assertEquals(peftType, adapterConfig.get("peft_type").asText());
        assertEquals("SEQ_CLS", adapterConfig.get("task_type").asText());
        if (method.equals("adapter")) {
            assertEquals(placement, adapterConfig.get("placement").asText());
        }
        JsonNode evaluated = lastJsonLine(InfoAndLogitsCommandTest.run("eval", "--model", base.toString(), "--adapter", out.toString(),
                "--task", "classification", "--data", data));
        assertEquals(trained.get("eval_loss").asDouble(), evaluated.get("eval_loss").asDouble(), 1e-6, "the saved adapter is the trained one");
        JsonNode logits = JSON.readTree((String) InfoAndLogitsCommandTest.run("logits", "--model", base.toString(), "--adapter", out.toString(),
                "--ids", "97,97,97")[1]);
        assertEquals("[1,1,2]", logits.get("shape").toString(), "logits --adapter runs the classifier with the adapter");
    }

    @Test
    void badOptionsGiveOneLineNamingTheProblem(@TempDir Path dir) throws Exception {
        Path base = setUp(dir);
        String data = dir.resolve("train.jsonl").toString();
        Object[] r = InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "classification", "--train", data,
                "--method", "adapter", "--adapter-placement", "sideways", "--out", dir.resolve("o").toString());
        assertEquals(Peft4jCli.EXIT_USAGE, r[0]);
        assertTrue(((String) r[2]).contains("adapter options: placement must be one of [houlsby, pfeiffer, parallel], got 'sideways'"), (String) r[2]);
        Object[] f = InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "classification", "--train", data,
                "--method", "adapter", "--adapter-non-linearity", "softmax", "--out", dir.resolve("o").toString());
        assertTrue(((String) f[2]).contains("non_linearity must be one of relu, gelu, swish, tanh, got 'softmax'"), (String) f[2]);
        Object[] m = InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "classification", "--train", data,
                "--method", "houlsby", "--out", dir.resolve("o").toString());
        assertTrue(((String) m[2]).contains("--method must be full, lora, qlora, adalora, adapter, bitfit, prompt, ptuning, prefix or ptuning-v2, "
                + "got 'houlsby'"), (String) m[2]);
    }
}
