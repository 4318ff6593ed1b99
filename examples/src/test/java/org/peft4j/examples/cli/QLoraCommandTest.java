package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;

/** peft4j train --method qlora, and --quantize on logits, eval and merge, end to end on a tiny byte-level GPT-2. */
class QLoraCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode lastJsonLine(Object[] result) throws Exception {
        assertEquals(0, result[0], (String) result[2]);
        List<String> lines = ((String) result[1]).lines().toList();
        return JSON.readTree(lines.get(lines.size() - 1));
    }

    private static double[] data(JsonNode logits) {
        JsonNode d = logits.get("data");
        double[] out = new double[d.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = d.get(i).asDouble();
        }
        return out;
    }

    private static double maxDiff(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    @Test
    void qloraTrainsAnAdapterThatLogitsEvalAndMergeUseOverTheQuantizedBase(@TempDir Path dir) throws Exception {
        Gpt2Config config = Gpt2Config.builder().vocabSize(256).nPositions(32).nEmbd(32).nLayer(2).nHead(2).nInner(64)
                .activation(Activation.GELU_TANH).dropout(0.0).build();
        Path base = dir.resolve("base");
        HfCheckpoint.save(Gpt2Model.random(config, 3, DataType.FLOAT, KernelChoice.AUTO), base);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            texts.add("{\"text\":\"abcabcabc" + "xyz".repeat(1 + i % 3) + "\"}");
        }
        Files.write(dir.resolve("train.jsonl"), texts);
        Path out = dir.resolve("qlora");
        JsonNode trained = lastJsonLine(InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "causal-lm",
                "--method", "qlora", "--lora-r", "4", "--lora-alpha", "8", "--target-modules", "c_attn,c_fc", "--train",
                dir.resolve("train.jsonl").toString(), "--eval", dir.resolve("train.jsonl").toString(), "--epochs", "3", "--batch-size", "4",
                "--lr", "1e-2", "--out", out.toString()));
        assertEquals("qlora", trained.get("method").asText());
        assertTrue(trained.get("eval_loss").asDouble() < trained.get("before_eval_loss").asDouble(), trained.toString());
        assertTrue(Files.exists(out.resolve("adapter_model.safetensors")), "the adapter is a plain LoRA adapter in HF PEFT's layout");
        assertEquals("LORA", JSON.readTree(out.resolve("adapter_config.json").toFile()).get("peft_type").asText());

        String ids = "97,98,99,97,98;120,121,122,120";
        double[] quantizedWithAdapter = data(lastJsonLine(InfoAndLogitsCommandTest.run("logits", "--model", base.toString(), "--adapter",
                out.toString(), "--quantize", "nf4", "--ids", ids)));
        double[] quantizedBase = data(lastJsonLine(InfoAndLogitsCommandTest.run("logits", "--model", base.toString(), "--quantize", "nf4",
                "--ids", ids)));
        double[] floatBase = data(lastJsonLine(InfoAndLogitsCommandTest.run("logits", "--model", base.toString(), "--ids", ids)));
        double[] nf4NoDq = data(lastJsonLine(InfoAndLogitsCommandTest.run("logits", "--model", base.toString(), "--quantize", "nf4",
                "--double-quant", "false", "--ids", ids)));
        assertTrue(maxDiff(quantizedBase, floatBase) > 1e-4, "quantization changes the logits");
        assertTrue(maxDiff(quantizedBase, floatBase) < 0.5, "but not by much");
        assertNotEquals(0.0, maxDiff(quantizedBase, nf4NoDq), "double quantization is on by default");
        assertTrue(maxDiff(quantizedWithAdapter, quantizedBase) > 1e-3, "the adapter trained");

        JsonNode eval = lastJsonLine(InfoAndLogitsCommandTest.run("eval", "--model", base.toString(), "--adapter", out.toString(),
                "--quantize", "nf4", "--task", "causal-lm", "--data", dir.resolve("train.jsonl").toString()));
        assertEquals(trained.get("eval_loss").asDouble(), eval.get("eval_loss").asDouble(), 1e-5, "eval over the quantized base: the trained loss");

        Path merged = dir.resolve("merged");
        lastJsonLine(InfoAndLogitsCommandTest.run("merge", "--model", base.toString(), "--adapter", out.toString(), "--quantize", "nf4",
                "--out", merged.toString()));
        assertEquals("float32", HfCheckpoint.readConfig(merged).path("torch_dtype").asText("float32"));
        double[] mergedLogits = data(lastJsonLine(InfoAndLogitsCommandTest.run("logits", "--model", merged.toString(), "--ids", ids)));
        assertTrue(maxDiff(mergedLogits, quantizedWithAdapter) < 1e-4, "the float32 merge of the dequantized base computes what QLoRA computed: "
                + maxDiff(mergedLogits, quantizedWithAdapter));

        JsonNode generated = lastJsonLine(InfoAndLogitsCommandTest.run("generate", "--model", base.toString(), "--quantize", "int8",
                "--prompt", "abc", "--max-new-tokens", "4"));
        assertEquals(4, generated.get("ids").size(), "generate runs over an INT8 base: " + generated);

        Object[] bad = InfoAndLogitsCommandTest.run("logits", "--model", base.toString(), "--quantize", "nf5", "--ids", ids);
        assertNotEquals(0, bad[0]);
        assertTrue(((String) bad[2]).contains("nf4, fp4, int8"), (String) bad[2]);
        bad = InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "causal-lm", "--method", "full", "--quantize", "nf4",
                "--train", dir.resolve("train.jsonl").toString(), "--out", dir.resolve("x").toString());
        assertNotEquals(0, bad[0]);
        assertTrue(((String) bad[2]).contains("--method lora or qlora"), (String) bad[2]);
    }
}
