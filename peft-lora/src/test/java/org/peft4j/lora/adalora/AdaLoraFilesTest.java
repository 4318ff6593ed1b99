package org.peft4j.lora.adalora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.peft4j.core.testing.TestResources;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.testing.TinyModels;
import org.peft4j.core.tuner.AdapterFiles;
import org.peft4j.core.tuner.PeftModel;

/**
 * AdaLoRA files in HF PEFT's layout: an adapter written by the independent reference script
 * ({@code docs/scripts/reference_adalora.py}, HF's semantics: only kept triplets saved, keys without
 * {@code .weight}, scaling lora_alpha/init_r after loading) gives the reference logits unmerged and merged;
 * peft4j's own save → load gives identical outputs and the same layout.
 */
class AdaLoraFilesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static TokenBatch batch(JsonNode expected) {
        int b = expected.get("input_ids").size();
        int t = expected.get("input_ids").get(0).size();
        int[] ids = new int[b * t];
        int[] mask = new int[b * t];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t; j++) {
                ids[i * t + j] = expected.get("input_ids").get(i).get(j).asInt();
                mask[i * t + j] = expected.get("attention_mask").get(i).get(j).asInt();
            }
        }
        return new TokenBatch(b, t, ids, mask, null);
    }

    private static INDArray logits(CausalLm model, TokenBatch batch) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, tape).dup();
        }
    }

    private static double worst(JsonNode expected, INDArray logits, TokenBatch batch) {
        double worst = 0;
        for (int r = 0; r < batch.batch() * batch.seqLen(); r++) {
            if (batch.attentionMask()[r] == 0) {
                continue;
            }
            JsonNode row = expected.get("logits").get(r / batch.seqLen()).get(r % batch.seqLen());
            for (int v = 0; v < logits.columns(); v++) {
                worst = Math.max(worst, Math.abs(row.get(v).asDouble() - logits.getDouble(r, v)));
            }
        }
        return worst;
    }

    @Test
    void hfAdapterGivesTheReferenceLogitsUnmergedAndMerged(@TempDir Path tmp) throws Exception {
        Path base = TestResources.copy(tmp.resolve("gpt2"), "/reference/gpt2", "config.json", "model.safetensors");
        Path adapter = TestResources.copy(tmp.resolve("adapter"), "/adalora-reference", "adapter_config.json", "adapter_model.safetensors", "expected.json");
        JsonNode expected = JSON.readTree(adapter.resolve("expected.json").toFile());
        TokenBatch batch = batch(expected);
        CausalLm model = (CausalLm) HfCheckpoint.load(base, new LoadOptions(DataType.FLOAT, KernelChoice.AUTO, ModelHead.CAUSAL_LM, 0, 42));
        try (PeftModel<CausalLm> peft = PeftModel.load(model, adapter)) {
            AdaLoraConfig config = (AdaLoraConfig) peft.config("default");
            assertEquals(20, config.totalStep());
            Map<String, Integer> ranks = Map.of("transformer.h.0.attn.c_attn", 3, "transformer.h.0.mlp.c_fc", 1,
                    "transformer.h.1.attn.c_attn", 4, "transformer.h.1.mlp.c_fc", 2);
            ranks.forEach((path, r) -> {
                AdaLoraLinear layer = (AdaLoraLinear) peft.tunerLayers().get(path);
                assertEquals(r, layer.rank("default"), path);
                assertEquals((long) r, layer.loraA("default").shape()[0], path + ": only the kept triplets are held");
                assertEquals(expected.get("scaling").asDouble(), layer.scaling("default"), 1e-15, "lora_alpha/(init_r + 1e-5) after loading");
            });
            double unmerged = worst(expected, logits(model, batch), batch);
            assertTrue(unmerged < 1e-4, "unmerged logits differ from the reference by " + unmerged);
            Map<String, AdaLoraLayer> layers = new LinkedHashMap<>();
            peft.tunerLayers().forEach((path, layer) -> layers.put(path, (AdaLoraLayer) layer));
            assertEquals(expected.get("orth_reg").asDouble(), new RankAllocator("default", config, layers, c -> { }).regularization(), 1e-5,
                    "orth_reg_weight · mean of the unsquared Frobenius norms over every A and B");
            CausalLm merged = peft.mergeAndUnload();
            double mergedWorst = worst(expected, logits(merged, batch), batch);
            assertTrue(mergedWorst < 1e-4, "merged logits differ from the reference by " + mergedWorst);
            JsonNode w = expected.get("merged").get("transformer.h.0.attn.c_attn.weight");
            INDArray weight = ((Linear) ModuleTree.get(merged.module(), "transformer.h.0.attn.c_attn")).weight().value();
            for (int i = 0; i < w.size(); i += 5) {
                for (int j = 0; j < w.get(i).size(); j += 7) {
                    assertEquals(w.get(i).get(j).asDouble(), weight.getDouble(i, j), 1e-5, "merged W[" + i + ", " + j + "]");
                }
            }
        }
    }

    /** Masks triplets through the PeftModel's own allocator, saves, and loads the file onto a fresh copy of the base model. */
    @Test
    void saveLoadGivesIdenticalOutputsWithOnlyKeptTriplets(@TempDir Path dir) throws Exception {
        Gpt2Model gpt2 = TinyModels.gpt2(TinyModels.tinyGpt2(), 51, DataType.FLOAT, KernelChoice.AUTO);
        Gpt2Model fresh = TinyModels.gpt2(TinyModels.tinyGpt2(), 51, DataType.FLOAT, KernelChoice.AUTO);
        AdaLoraConfig config = AdaLoraConfig.builder().initR(4).targetR(2).loraAlpha(8).targetModules("c_attn", "c_fc").initLoraWeights(false)
                .build();
        TokenBatch batch = TinyModels.paddedBatch();
        INDArray before;
        Map<String, Integer> ranks = new LinkedHashMap<>();
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", config).seed(3).build()) {
            RankAllocator allocator = (RankAllocator) peft.trainableTask(new CausalLmTask(gpt2)).trainingHook();
            allocator.onStart(10);
            SplittableRandom rng = new SplittableRandom(9);
            peft.registry().trainable().forEach(np -> np.param().grad().assign(Init.normal(DataType.FLOAT, 1.0, rng, np.param().shape())));
            allocator.beforeUpdate(0);
            allocator.updateImportance();
            allocator.maskToBudget(5, 8);                                   // 16 triplets down to 8
            peft.tunerLayers().forEach((path, l) -> ranks.put(path, ((AdaLoraLinear) l).rank("default")));
            assertEquals(8, ranks.values().stream().mapToInt(Integer::intValue).sum());
            before = logits(gpt2, batch);
            peft.save(dir);
        }
        JsonNode json = JSON.readTree(dir.resolve(AdapterFiles.CONFIG).toFile());
        assertEquals("ADALORA", json.get("peft_type").asText());
        assertEquals(10, json.get("total_step").asInt(), "filled in from the schedule");
        assertEquals(4, json.get("rank_pattern").size());
        Map<String, INDArray> tensors = AdapterFiles.readWeights(dir);
        assertEquals(12, tensors.size());
        ranks.forEach((path, r) -> {
            String key = "base_model.model." + path;
            assertEquals(4, json.get("rank_pattern").get(path + ".lora_E").size(), "init_r booleans");
            assertArrayEquals(new long[] {r, 8}, tensors.get(key + ".lora_A").shape(), key);
            assertArrayEquals(new long[] {r, 1}, tensors.get(key + ".lora_E").shape(), key);
            assertEquals((long) r, tensors.get(key + ".lora_B").shape()[1], key);
            assertTrue(tensors.get(key + ".lora_E").neq(0).all(), "the saved λ are the kept, non-zero ones");
        });
        assertFalse(tensors.keySet().stream().anyMatch(k -> k.endsWith(".weight")), "HF saves A, E and B without .weight: " + tensors.keySet());
        try (PeftModel<Gpt2Model> loaded = PeftModel.load(fresh, dir)) {
            assertArrayEquals(before.ravel().toFloatVector(), logits(fresh, batch).ravel().toFloatVector(), "save → load gives identical outputs");
            AdaLoraLinear layer = (AdaLoraLinear) loaded.tunerLayers().values().iterator().next();
            assertEquals(8 / (4 + 1e-5), layer.scaling("default"), 0.0, "the scaling stays lora_alpha/init_r");
            loaded.save(dir.resolve("again"));
            assertEquals(json, JSON.readTree(dir.resolve("again").resolve(AdapterFiles.CONFIG).toFile()), "a loaded adapter saves the same config");
        }
    }

    /**
     * A rank_pattern that keeps no triplet of a module (HF's allocator leaves such modules, and HF saves them as empty
     * tensors): the module adds nothing, merging leaves its weight as it was, the file holds HF's empty shapes,
     * loading it reproduces the outputs, and only further training is refused, naming the module.
     */
    @Test
    void aModulePrunedToRankZeroAddsNothingAndRoundTripsWithHfShapes(@TempDir Path dir) throws Exception {
        Gpt2Model gpt2 = TinyModels.gpt2(TinyModels.tinyGpt2(), 61, DataType.DOUBLE, KernelChoice.AUTO);
        String pruned = "transformer.h.1.mlp.c_fc";
        Map<String, List<Boolean>> pattern = Map.of(pruned + ".lora_E", List.of(false, false, false, false),
                "transformer.h.0.mlp.c_fc.lora_E", List.of(true, false, true, false));
        AdaLoraConfig config = AdaLoraConfig.builder().initR(4).targetR(2).loraAlpha(8).targetModules("c_fc").initLoraWeights(false)
                .totalStep(10).rankPattern(pattern).build();
        TokenBatch batch = TinyModels.paddedBatch();
        INDArray x = Init.normal(DataType.DOUBLE, 1.0, new SplittableRandom(5), 3, 8);
        INDArray baseWeight = ((Linear) ModuleTree.get(gpt2.module(), pruned)).weight().value().dup();
        INDArray before;
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", config).seed(3).build()) {
            AdaLoraLinear layer = (AdaLoraLinear) peft.tunerLayers().get(pruned);
            assertEquals(0, layer.rank("default"));
            assertArrayEquals(new long[] {0, 8}, layer.loraA("default").shape());
            try (Tape tape = Tape.inference(gpt2.kernels())) {
                assertEquals(layer.baseLayer().forward(x, tape), layer.forward(x, tape), "rank 0: the base layer's output exactly");
            }
            IllegalStateException train = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> peft.trainableTask(new CausalLmTask(gpt2)).trainingHook());
            assertTrue(train.getMessage().contains(pruned) && train.getMessage().contains("no triplet"), train.getMessage());
            before = logits(gpt2, batch);
            peft.save(dir);
        }
        Map<String, INDArray> tensors = AdapterFiles.readWeights(dir);
        String key = "base_model.model." + pruned;
        assertArrayEquals(new long[] {0, 8}, tensors.get(key + ".lora_A").shape(), "HF's shapes for rank 0");
        assertArrayEquals(new long[] {0, 1}, tensors.get(key + ".lora_E").shape());
        assertArrayEquals(new long[] {16, 0}, tensors.get(key + ".lora_B").shape(), "c_fc: [out = n_inner, 0]");
        assertArrayEquals(new long[] {2, 8}, tensors.get("base_model.model.transformer.h.0.mlp.c_fc.lora_A").shape());
        Gpt2Model fresh = TinyModels.gpt2(TinyModels.tinyGpt2(), 61, DataType.DOUBLE, KernelChoice.AUTO);
        try (PeftModel<Gpt2Model> loaded = PeftModel.load(fresh, dir)) {
            assertEquals(before, logits(fresh, batch), "save → load gives identical outputs");
            Gpt2Model merged = loaded.mergeAndUnload();
            assertEquals(baseWeight, ((Linear) ModuleTree.get(merged.module(), pruned)).weight().value(), "merging a rank-0 module changes nothing");
            INDArray mergedLogits = logits(merged, batch);
            assertTrue(before.equalsWithEps(mergedLogits, 1e-12), "merged logits equal the unmerged ones");
        }
    }
}
