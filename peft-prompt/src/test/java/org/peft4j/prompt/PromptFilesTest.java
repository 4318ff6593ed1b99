package org.peft4j.prompt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.train.BatchSource;
import org.peft4j.core.train.TrainResult;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;
import org.peft4j.core.tuner.AdapterFiles;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.prompt.prefix.PrefixTuningConfig;
import org.peft4j.prompt.prompttuning.PromptTuningConfig;
import org.peft4j.prompt.ptuning.PTuningConfig;

/**
 * Training moves only the prompt (base weights bit-identical), the loss falls, and the adapter files are HF
 * PEFT's: peft_type, sizes as HF's _prepare_prompt_learning_config fills them (grouped-query attention
 * included), one tensor {@code prompt_embeddings} (the encoder's output, the projected flat prefix), heads
 * under {@code base_model.}; loading them gives the trained model's outputs exactly. Float models: the Trainer
 * trains in float.
 */
class PromptFilesTest {
    private static BatchSource<TokenBatch> repeat(TokenBatch batch) {
        return BatchSource.of(java.util.List.of(batch));
    }

    private static void trainSaveAndReload(PretrainedModel model, java.util.function.Supplier<PretrainedModel> fresh, PromptLearningConfig config,
            Path dir, int expectedWidth) throws Exception {
        TokenBatch batch = PromptFixtures.batch(model);
        INDArray before = PromptFixtures.logits(model, batch);
        Map<String, INDArray> base = PromptFixtures.snapshot(model.module());
        INDArray trained;
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", config).build()) {
            TrainResult result = new Trainer(TrainerConfig.builder().adamW(2e-2, 0.0).maxSteps(10).seed(3).build())
                    .fit(peft.trainableTask(PromptFixtures.task(model)), repeat(batch), null);
            assertTrue(result.lastLoss() < result.losses().get(0), config.peftType() + " loss " + result.losses());
            Map<String, INDArray> after = PromptFixtures.snapshot(model.module());
            base.forEach((path, v) -> {
                int dot = path.lastIndexOf('.');
                String wrapped = path.substring(0, dot) + ".original_module" + path.substring(dot);     // a head copied as a module to save
                PromptFixtures.assertBitIdentical(v, after.containsKey(path) ? after.get(path) : after.get(wrapped), path + " stays as it was");
            });
            trained = PromptFixtures.logits(model, batch);
            try (PeftModel.Scope off = peft.disableAdapters()) {
                PromptFixtures.assertBitIdentical(before, PromptFixtures.logits(model, batch), "disabled: the base model");
            }
            peft.save(dir);
        }
        PromptFixtures.assertBitIdentical(before, PromptFixtures.logits(model, batch), "closed: the base model again");
        Map<String, INDArray> saved = AdapterFiles.readWeights(dir);
        assertEquals(List.of(expectedWidth), List.of((int) saved.get("prompt_embeddings").columns()), "prompt_embeddings width");
        assertEquals(config.base().numVirtualTokens(), saved.get("prompt_embeddings").rows());
        PretrainedModel other = fresh.get();
        try (PeftModel<PretrainedModel> loaded = PeftModel.load(other, dir)) {
            PromptFixtures.assertBitIdentical(trained, PromptFixtures.logits(other, batch), config.peftType() + " reloads");
            assertTrue(loaded.registry().trainable().isEmpty(), "loaded frozen");
        }
    }

    @Test
    void promptTuningOnGpt2(@TempDir Path dir) throws Exception {
        trainSaveAndReload(PromptFixtures.gpt2(1, DataType.FLOAT), () -> PromptFixtures.gpt2(1, DataType.FLOAT), PromptTuningConfig.of(4).withInit(PromptTuningConfig.Init.SAMPLE_VOCAB),
                dir, 8);
        ObjectNode json = AdapterFiles.readConfig(dir);
        assertEquals("PROMPT_TUNING", json.get("peft_type").asText());
        assertEquals("SAMPLE_VOCAB", json.get("prompt_tuning_init").asText());
        assertEquals(8, json.get("token_dim").intValue());
        assertEquals(2, json.get("num_layers").intValue());
        assertEquals(2, json.get("num_attention_heads").intValue());
        assertTrue(json.get("inference_mode").asBoolean());
    }

    @Test
    void pTuningLstmSavesTheEncoderOutput(@TempDir Path dir) throws Exception {
        trainSaveAndReload(PromptFixtures.llama(2, DataType.FLOAT), () -> PromptFixtures.llama(2, DataType.FLOAT),
                PTuningConfig.of(3, PTuningConfig.EncoderType.LSTM).withEncoderHiddenSize(5), dir, 12);
        ObjectNode json = AdapterFiles.readConfig(dir);
        assertEquals("P_TUNING", json.get("peft_type").asText());
        assertEquals("LSTM", json.get("encoder_reparameterization_type").asText());
        assertEquals(4, json.get("num_attention_heads").intValue(), "prompt methods keep the query heads");
    }

    @Test
    void prefixWithProjectionSavesTheProjectedPrefixForGroupedQueryAttention(@TempDir Path dir) throws Exception {
        // LLaMA: 2 layers, 2 kv heads of 4 -> token_dim 8, flat width 2 * 2 * 8
        trainSaveAndReload(PromptFixtures.llama(3, DataType.FLOAT), () -> PromptFixtures.llama(3, DataType.FLOAT), PrefixTuningConfig.prefixTuning(3, 6), dir, 32);
        ObjectNode json = AdapterFiles.readConfig(dir);
        assertEquals("PREFIX_TUNING", json.get("peft_type").asText());
        assertEquals(8, json.get("token_dim").intValue(), "head_dim * num_key_value_heads");
        assertEquals(2, json.get("num_attention_heads").intValue(), "num_key_value_heads");
        assertTrue(json.get("prefix_projection").asBoolean());
        assertEquals(6, json.get("encoder_hidden_size").intValue());
    }

    @Test
    void pTuningV2ClassifiesWithATrainedHead(@TempDir Path dir) throws Exception {
        PrefixTuningConfig config = PrefixTuningConfig.pTuningV2(2);
        config = config.withBase(config.base().withTaskType(TaskType.SEQ_CLS));
        trainSaveAndReload(PromptFixtures.bert(4, DataType.FLOAT), () -> PromptFixtures.bert(4, DataType.FLOAT), config, dir, 2 * 2 * 8);
        assertEquals(Set.of("prompt_embeddings", "base_model.classifier.weight", "base_model.classifier.bias"), AdapterFiles.readWeights(dir).keySet(),
                "HF's keys: the model is not wrapped, so heads are under base_model.");
        ObjectNode json = AdapterFiles.readConfig(dir);
        assertFalse(json.get("prefix_projection").asBoolean());
        assertEquals("SEQ_CLS", json.get("task_type").asText());
    }

    @Test
    void badConfigurationsAreRejectedWithTheReason() {
        CausalLm gpt2 = PromptFixtures.gpt2(5, DataType.FLOAT);
        PrefixTuningConfig wrongLayers = PrefixTuningConfig.pTuningV2(2);
        PrefixTuningConfig bad = wrongLayers.withBase(wrongLayers.base().withSizes(8, 3, 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PeftModel.builder(gpt2).adapter("default", bad).build());
        assertTrue(e.getMessage().contains("3 layers"), e.getMessage());
        PromptTuningConfig text = PromptTuningConfig.of(2).withTextInit("hello", null, null);
        e = assertThrows(IllegalArgumentException.class, () -> PeftModel.builder(gpt2).adapter("default", text).build());
        assertTrue(e.getMessage().contains("token ids"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PromptTuningConfig.of(0));
        try (PeftModel<CausalLm> peft = PeftModel.builder(gpt2).adapter("a", PromptTuningConfig.of(2)).build()) {
            peft.addAdapter("b", PromptTuningConfig.of(3));
            e = assertThrows(IllegalArgumentException.class, () -> peft.setActiveAdapters(List.of("a", "b")));
            assertTrue(e.getMessage().contains("only one"), e.getMessage());
            IllegalStateException m = assertThrows(IllegalStateException.class, peft::merge);
            assertTrue(m.getMessage().contains("no weight update to merge"), m.getMessage());
            peft.setActiveAdapter("b");
            INDArray logits = PromptFixtures.logits(gpt2, PromptFixtures.lmBatch());
            assertArrayEquals(new long[] {2 * (3 + 5), 13}, logits.shape(), "adapter b's 3 virtual tokens");
            peft.deleteAdapter("b");
            assertEquals(2 * (2 + 5), PromptFixtures.logits(gpt2, PromptFixtures.lmBatch()).rows(), "adapter a again");
        }
    }

    /** HF PEFT 0.21's {@code init_weights: "zero"}: the prefix starts as zero keys and values, with or without the projection. */
    @Test
    void zeroInitWeightsGiveAZeroPrefixAndRoundTrip(@TempDir Path dir) throws Exception {
        for (boolean projection : new boolean[] {true, false}) {
            ObjectNode json = PromptLearning.object();
            json.put("peft_type", "PREFIX_TUNING").put("num_virtual_tokens", 3).put("prefix_projection", projection).put("encoder_hidden_size", 5)
                    .put("init_weights", "zero");
            PrefixTuningConfig config = PrefixTuningConfig.fromHfJson(json);
            assertTrue(config.zeroInit());
            assertEquals("zero", config.toHfJson().get("init_weights").asText());
            CausalLm gpt2 = PromptFixtures.gpt2(6, DataType.FLOAT);
            Path out = dir.resolve("p" + projection);
            try (PeftModel<CausalLm> peft = PeftModel.builder(gpt2).adapter("default", config).build()) {
                peft.save(out);
                INDArray table = peft.adapterState("default").get("prompt_embeddings").value();
                assertEquals(projection, table.amaxNumber().doubleValue() > 0, "with the projection only its last Linear is zero");
            }
            INDArray saved = AdapterFiles.readWeights(out).get("prompt_embeddings");
            assertArrayEquals(new long[] {3, 2 * 2 * 8}, saved.shape());
            assertEquals(0.0, saved.amaxNumber().doubleValue(), "the prefix keys and values start at zero");
            assertEquals("zero", AdapterFiles.readConfig(out).get("init_weights").asText());
        }
        assertTrue(PrefixTuningConfig.pTuningV2(2).toHfJson().get("init_weights").isNull());
        ObjectNode bad = PromptLearning.object();
        bad.put("peft_type", "PREFIX_TUNING").put("num_virtual_tokens", 3).put("init_weights", "gaussian");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PrefixTuningConfig.fromHfJson(bad));
        assertTrue(e.getMessage().contains("init_weights must be null (random) or \"zero\", got \"gaussian\""), e.getMessage());
    }
}
