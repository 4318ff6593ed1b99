package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.nn.Tape;

/**
 * peft4j's decoders against an independent PyTorch re-implementation of HF's GPT2LMHeadModel and
 * LlamaForCausalLM/Qwen2ForCausalLM: each directory under {@code reference/} is an HF checkpoint
 * (config.json + model.safetensors) with the logits docs/scripts/reference_decoders.py computed for a padded
 * batch; it is loaded through the model factories and must give the same logits at every real token.
 */
class HfReferenceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] FIXTURES = {"gpt2", "llama-tied-theta10000", "llama-untied-theta500000-bf16", "qwen2-tied-theta1000000-f16"};

    static Stream<Arguments> fixtures() {
        return Stream.of(FIXTURES).flatMap(f -> Stream.of(Arguments.of(f, KernelChoice.CPU), Arguments.of(f, KernelChoice.PORTABLE)));
    }

    private static Path directory(String name) throws Exception {
        return Path.of(HfReferenceTest.class.getResource("/reference/" + name + "/config.json").toURI()).getParent();
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void logitsMatchTheReference(String fixture, KernelChoice kernels) throws Exception {
        Path dir = directory(fixture);
        JsonNode config = JSON.readTree(dir.resolve("config.json").toFile());
        JsonNode expected = JSON.readTree(dir.resolve("expected.json").toFile());
        int batch = expected.get("input_ids").size();
        int seq = expected.get("input_ids").get(0).size();
        int[] ids = new int[batch * seq];
        int[] mask = new int[batch * seq];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < seq; t++) {
                ids[b * seq + t] = expected.get("input_ids").get(b).get(t).asInt();
                mask[b * seq + t] = expected.get("attention_mask").get(b).get(t).asInt();
            }
        }
        // the whole loading path: config.json → the factory registered for its model_type → the safetensors weights
        CausalLm model = (CausalLm) HfCheckpoint.load(dir, new LoadOptions(DataType.FLOAT, kernels, ModelHead.CAUSAL_LM, 0, 42));
        assertEquals(config.get("model_type").asText(), model.modelType());
        INDArray logits;
        try (Tape tape = Tape.inference(model.kernels())) {
            logits = model.forward(new TokenBatch(batch, seq, ids, mask, null), tape);
        }
        int vocab = model.vocabSize();
        assertEquals(batch * seq, logits.rows());
        double worst = 0;
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < seq; t++) {
                if (mask[b * seq + t] == 0) {
                    continue;   // HF gives padding positions arbitrary values
                }
                JsonNode row = expected.get("logits").get(b).get(t);
                for (int v = 0; v < vocab; v++) {
                    worst = Math.max(worst, Math.abs(row.get(v).asDouble() - logits.getDouble(b * seq + t, v)));
                }
            }
        }
        assertTrue(worst <= 1e-4, fixture + " with " + kernels + " kernels: logits differ from the reference by " + worst);
        System.out.printf("%s %s: max |peft4j - reference| = %.2e%n", fixture, kernels, worst);
    }
}
