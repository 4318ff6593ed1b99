package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.AtomicFiles;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.nn.Init;
import org.peft4j.core.param.Param;
import org.peft4j.core.train.BatchSource;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.LoraConfig;
import org.peft4j.lora.LoraInit;
import org.peft4j.lora.adalora.AdaLoraConfig;
import org.peft4j.lora.adalora.AdaLoraLayer;

/**
 * The peft4j side of the peft4j → HF PEFT check (scripts/hf-interop-lora.sh): writes LoRA-family adapters made by
 * peft4j, with non-trivial weights, onto the tiny reference checkpoints, plus an AdaLoRA adapter whose ranks
 * peft4j's trainer allocated, HF's AdaLoRA fixture with rank-0 modules as peft4j re-saves it, and two
 * {@code peft4j merge} exports; beside each goes {@code peft4j.json} with
 * peft4j's own logits (float32, and float64 from the saved files reloaded on a DOUBLE base), unmerged and merged, and
 * the float64 merged-module probes (merged minus original output of every adapted module for x_i = sin(i + 1)).
 * docs/scripts/hf_peft_check_peft4j_adapters.py then loads them with the real HF PEFT and compares.
 *
 * <p>Not a unit test: it runs only when the system property {@value #OUT} names an output directory, e.g.
 * {@code mvn -o test -pl examples -am -Dtest=Peft4jAdaptersForHfExport -Dsurefire.failIfNoSpecifiedTests=false -Dpeft4j.hfInteropOut=DIR}.
 */
@EnabledIfSystemProperty(named = Peft4jAdaptersForHfExport.OUT, matches = ".+")
class Peft4jAdaptersForHfExport {
    static final String OUT = "peft4j.hfInteropOut";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path REFERENCE = HfPeftLoraFixturesTest.REFERENCE;

    @Test
    void writeAdaptersAndLogits() throws Exception {
        Path out = Path.of(System.getProperty(OUT)).toAbsolutePath();
        Files.createDirectories(out);
        lora(out, "gpt2-lora", "gpt2", LoraConfig.builder().r(4).loraAlpha(8).targetModules("c_attn", "c_fc"), 11);
        lora(out, "gpt2-dora", "gpt2", LoraConfig.builder().r(4).loraAlpha(8).targetModules("c_attn", "c_proj").useDora(true), 12);
        lora(out, "llama-lora", "llama-tied-theta10000", LoraConfig.builder().r(4).loraAlpha(16).targetModules("q_proj", "v_proj"), 13);
        lora(out, "llama-rslora-all-linear", "llama-untied-theta500000-bf16", LoraConfig.builder().r(8).loraAlpha(8).allLinear().useRslora(true)
                .rankPattern(Map.of("down_proj", 2)).alphaPattern(Map.of("gate_proj", 5.0)).modulesToSave("lm_head"), 14);
        lora(out, "llama-dora", "llama-tied-theta10000", LoraConfig.builder().r(4).loraAlpha(8).targetModules("q_proj", "v_proj", "down_proj")
                .useDora(true), 15);
        lora(out, "qwen2-lora", "qwen2-tied-theta1000000-f16", LoraConfig.builder().r(4).loraAlpha(8).targetModules("k_proj", "v_proj")
                .rankPattern(Map.of("v_proj", 2)), 16);
        adalora(out, "llama-adalora", "llama-tied-theta10000");
        resave(out, "llama-adalora-rank0", "llama-tied-theta10000");
        merge(out, "gpt2-lora");
        merge(out, "llama-dora");
    }

    private static CausalLm base(String base, DataType type) throws Exception {
        return (CausalLm) HfCheckpoint.load(REFERENCE.resolve(base), new LoadOptions(type, org.peft4j.core.kernel.KernelChoice.AUTO,
                ModelHead.CAUSAL_LM, 0, 42));
    }

    /** A LoRA/rsLoRA/DoRA adapter with random A and B (HF's init_lora_weights=False), moved further by seeded noise. */
    private static void lora(Path out, String name, String base, LoraConfig.Builder builder, long seed) throws Exception {
        CausalLm model = base(base, DataType.FLOAT);
        PeftConfig config = builder.initLoraWeights(LoraInit.RANDOM).taskType(TaskType.CAUSAL_LM).baseModelNameOrPath(base).build();
        try (PeftModel<CausalLm> peft = PeftModel.builder(model).adapter("default", config).seed(seed).build()) {
            perturb(peft, seed);
            save(out, name, base, peft);
        }
    }

    /** Moves every adapter tensor off its init: DoRA magnitudes by a factor in [0.8, 1.4], the rest by N(0, 0.1). */
    private static void perturb(PeftModel<CausalLm> peft, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        for (Map.Entry<String, Param> e : peft.adapterState("default").entrySet()) {
            INDArray v = e.getValue().value();
            INDArray noise = Init.normal(v.dataType(), 1.0, rng, v.shape());
            if (e.getKey().endsWith("lora_magnitude_vector")) {
                v.muli(noise.muli(0.1).addi(1.1));
            } else {
                v.addi(noise.muli(0.1));
            }
        }
    }

    /** AdaLoRA trained by peft4j's own Trainer for 10 steps: its RankAllocator masks triplets; the file keeps the others. */
    private static void adalora(Path out, String name, String base) throws Exception {
        CausalLm model = base(base, DataType.FLOAT);
        AdaLoraConfig config = AdaLoraConfig.builder().initR(4).targetR(2).tinit(2).tfinal(3).deltaT(1).orthRegWeight(0.1).loraAlpha(8)
                .targetModules("q_proj", "v_proj", "up_proj").initLoraWeights(false).taskType(TaskType.CAUSAL_LM).baseModelNameOrPath(base).build();
        SplittableRandom rng = new SplittableRandom(17);
        int[] ids = new int[4 * 8];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rng.nextInt(model.vocabSize());
        }
        TokenBatch batch = new TokenBatch(4, 8, ids, null, ids.clone());                       // labels: the ids (the task shifts them)
        BatchSource<TokenBatch> data = BatchSource.of(List.of(batch));
        try (PeftModel<CausalLm> peft = PeftModel.builder(model).adapter("default", config).seed(17).build()) {
            new Trainer(TrainerConfig.builder().adamW(2e-2, 0.0).maxSteps(10).seed(17).build()).fit(peft.trainableTask(new CausalLmTask(model)), data,
                    null);
            List<Integer> ranks = new ArrayList<>();
            peft.tunerLayers().values().forEach(l -> ranks.add(((AdaLoraLayer) l).rank("default")));
            assertEquals(2 * ranks.size(), ranks.stream().mapToInt(Integer::intValue).sum(), "target_r × modules after the final allocation: " + ranks);
            assertTrue(ranks.stream().anyMatch(r -> r != 2), "the allocation moved ranks between modules: " + ranks);
            save(out, name, base, peft);
        }
    }

    /** HF's AdaLoRA fixture with modules at rank 0, loaded by peft4j and saved again by peft4j (empty tensors for those modules). */
    private static void resave(Path out, String name, String base) throws Exception {
        CausalLm model = base(base, DataType.FLOAT);
        try (PeftModel<CausalLm> peft = PeftModel.load(model, Path.of("src", "test", "resources", "hf-peft", name))) {
            assertTrue(peft.tunerLayers().values().stream().anyMatch(l -> ((AdaLoraLayer) l).rank("default") == 0), name + " has a module at rank 0");
            save(out, name + "-resaved", base, peft);
        }
    }

    /** Saves the adapter and peft4j.json: the batch, peft4j's logits (float32 in memory, float64 reloaded), unmerged and merged. */
    private static void save(Path out, String name, String base, PeftModel<CausalLm> peft) throws Exception {
        Path dir = out.resolve(name);
        peft.save(dir);
        JsonNode reference = JSON.readTree(REFERENCE.resolve(base).resolve("expected.json").toFile());
        TokenBatch batch = HfPeftLoraFixturesTest.batch(reference);
        ObjectNode json = JSON.createObjectNode();
        json.put("base", REFERENCE.resolve(base).toAbsolutePath().normalize().toString());
        json.set("input_ids", reference.get("input_ids"));
        json.set("attention_mask", reference.get("attention_mask"));
        json.set("logits", array(HfPeftLoraFixturesTest.logits(peft.base(), batch), batch));
        try (PeftModel<CausalLm> reloaded = PeftModel.load(base(base, DataType.DOUBLE), dir)) {
            json.set("logits_f64", array(HfPeftLoraFixturesTest.logits(reloaded.base(), batch), batch));
            List<String> paths = new ArrayList<>(reloaded.tunerLayers().keySet());
            paths.addAll(reloaded.modulesToSave().keySet());
            CausalLm merged = reloaded.mergeAndUnload();
            json.set("merged_logits_f64", array(HfPeftLoraFixturesTest.logits(merged, batch), batch));
            CausalLm original = base(base, DataType.DOUBLE);
            ObjectNode probes = json.putObject("merge_probes");
            for (String path : paths) {
                INDArray delta = HfPeftLoraFixturesTest.mergeProbe(original, merged, path);
                ArrayNode row = probes.putArray(path).addArray();
                for (int j = 0; j < delta.columns(); j++) {
                    row.add(delta.getDouble(0, j));
                }
            }
        }
        json.set("merged_logits", array(HfPeftLoraFixturesTest.logits(peft.mergeAndUnload(), batch), batch));
        AtomicFiles.writeString(dir.resolve("peft4j.json"), JSON.writeValueAsString(json));
    }

    /** {@code peft4j merge} of a saved adapter into merged-NAME, with the merged checkpoint's own logits as peft4j reads it back. */
    private static void merge(Path out, String name) throws Exception {
        Path adapter = out.resolve(name);
        JsonNode own = JSON.readTree(adapter.resolve("peft4j.json").toFile());
        Path merged = out.resolve("merged-" + name);
        Object[] r = InfoAndLogitsCommandTest.run("merge", "--model", own.get("base").asText(), "--adapter", adapter.toString(), "--out", merged.toString());
        assertEquals(0, r[0], (String) r[2]);
        PretrainedModel model = HfCheckpoint.load(merged, ModelLoader.describedOptions(merged.toString()));
        TokenBatch batch = HfPeftLoraFixturesTest.batch(own);
        ObjectNode json = JSON.createObjectNode();
        json.put("merged_from", name);
        json.set("input_ids", own.get("input_ids"));
        json.set("attention_mask", own.get("attention_mask"));
        json.set("logits", array(HfPeftLoraFixturesTest.logits(model, batch), batch));
        AtomicFiles.writeString(merged.resolve("peft4j.json"), JSON.writeValueAsString(json));
    }

    /** [batch][seq][vocab]; float32 values as their float (shortest round trip), float64 as doubles. */
    private static ArrayNode array(INDArray logits, TokenBatch batch) {
        ArrayNode out = JSON.createArrayNode();
        boolean f32 = logits.dataType() == DataType.FLOAT;
        for (int b = 0; b < batch.batch(); b++) {
            ArrayNode seq = out.addArray();
            for (int t = 0; t < batch.seqLen(); t++) {
                ArrayNode row = seq.addArray();
                for (int v = 0; v < logits.columns(); v++) {
                    if (f32) {
                        row.add(logits.getFloat(b * batch.seqLen() + t, v));
                    } else {
                        row.add(logits.getDouble(b * batch.seqLen() + t, v));
                    }
                }
            }
        }
        return out;
    }
}
