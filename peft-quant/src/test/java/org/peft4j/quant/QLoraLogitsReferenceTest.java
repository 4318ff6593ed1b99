package org.peft4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.Workspaces;
import org.peft4j.core.testing.TestResources;

/**
 * NF4 models (blocks of 64, no double quantization) against an independent reference: transformers running
 * the same checkpoints with each block Linear replaced by its bitsandbytes NF4 round trip
 * (docs/scripts/qlora_logits_reference.py writes the fixture). GPT-2's Conv1D weights, LLaMA and Qwen2
 * (grouped-query attention, q/k/v biases, float16 weights).
 */
class QLoraLogitsReferenceTest {
    private static JsonNode fixture() throws Exception {
        try (InputStream in = QLoraLogitsReferenceTest.class.getResourceAsStream("/quant/qlora_logits.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama-tied-theta10000", "qwen2-tied-theta1000000-f16"})
    void nf4LogitsEqualTransformersOverBitsandbytesDequantizedWeights(String name, @TempDir Path tmp) throws Exception {
        JsonNode fixture = fixture();
        JsonNode expected = fixture.get("models").get(name);
        CausalLm model = (CausalLm) HfCheckpoint.load(TestResources.referenceCheckpoint(tmp, name),
                new LoadOptions(DataType.FLOAT, KernelChoice.AUTO, ModelHead.CAUSAL_LM, 0, 42));
        Quantization.Report report = Quantization.of(QuantType.NF4, false).apply(model);
        List<String> quantized = new ArrayList<>();
        expected.get("quantized").forEach(n -> quantized.add(n.asText()));
        assertEquals(quantized.size(), report.paths().size(), "the same block Linears as transformers: " + quantized + " vs " + report.paths());

        JsonNode ids = fixture.get("input_ids");
        int[][] sequences = new int[ids.size()][];
        for (int b = 0; b < ids.size(); b++) {
            sequences[b] = new int[ids.get(b).size()];
            for (int t = 0; t < sequences[b].length; t++) {
                sequences[b][t] = ids.get(b).get(t).asInt();
            }
        }
        INDArray logits;
        try (MemoryWorkspace ws = Workspaces.open(Workspaces.EVAL); Tape tape = Tape.inference(model.kernels())) {
            logits = model.forward(TokenBatch.causalLm(sequences), tape).detach().reshape(-1);
        }
        JsonNode values = expected.get("logits");
        assertEquals(values.size(), logits.length());
        double worst = 0;
        double largest = 0;
        for (int i = 0; i < values.size(); i++) {
            worst = Math.max(worst, Math.abs(values.get(i).asDouble() - logits.getDouble(i)));
            largest = Math.max(largest, Math.abs(values.get(i).asDouble()));
        }
        // float32 through two layers: summation order differs from torch's, the dequantized weights do not
        assertTrue(worst <= 1e-5 * Math.max(1, largest), name + ": max |Δ logits| " + worst + " (largest logit " + largest + ")");
    }
}
