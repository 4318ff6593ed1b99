package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.peft4j.lora.Fixtures.assertBitIdentical;
import static org.peft4j.lora.Fixtures.assertClose;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.io.SafetensorsFile;
import org.peft4j.core.io.SafetensorsWriter;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TaskType;

/** Adapter directories in HF PEFT's layout: saving, loading, keys, config fields, hand-written HF files and load errors (SL-01 to SL-08). */
class AdapterFilesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static LoraConfig gpt2Config() {
        return LoraConfig.builder().r(4).loraAlpha(8).targetModules("c_attn", "c_proj").rankPattern(Map.of("h.1.attn.c_attn", 2))
                .alphaPattern(Map.of("c_proj", 3.0)).modulesToSave("wte").initLoraWeights(LoraInit.RANDOM).taskType(TaskType.CAUSAL_LM).build();
    }

    @Test
    void saveThenLoadOntoAFreshBaseGivesIdenticalOutputs(@TempDir Path dir) throws IOException {
        for (boolean dora : new boolean[] {false, true}) {
            Path out = dir.resolve("dora-" + dora);
            Gpt2Model trained = Fixtures.gpt2(DataType.FLOAT, 1);
            INDArray expected;
            try (PeftModel<Gpt2Model> peft = PeftModel.builder(trained).adapter("default", gpt2Config().toBuilder().useDora(dora).build())
                    .baseModelName("tiny-gpt2").seed(3).build()) {
                peft.modulesToSave().get("transformer.wte").copyOf("default").params().get("weight").value().addi(0.01);
                if (dora) {
                    peft.tunerLayers().values().forEach(l -> ((LoraLinear) l).magnitude("default").value().muli(1.1));
                }
                expected = Fixtures.logits(trained);
                peft.save(out);
            }
            Gpt2Model fresh = Fixtures.gpt2(DataType.FLOAT, 1);
            try (PeftModel<Gpt2Model> loaded = PeftModel.load(fresh, out)) {
                assertBitIdentical(expected, Fixtures.logits(fresh), "reloaded adapter (dora " + dora + ")");
                assertEquals(0, loaded.registry().trainableCount(), "loaded adapters are frozen by default (inference mode)");
                assertEquals(List.of("default"), loaded.activeAdapters());
            }
        }
    }

    @Test
    void filesUseHfPeftKeysAndConfigFields(@TempDir Path dir) throws IOException {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 2);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", gpt2Config().toBuilder().useDora(true).build())
                .adapter("v_proj", LoraConfig.builder().targetModules("c_attn").build()).baseModelName("tiny-gpt2").build()) {
            peft.save(dir);
        }
        Set<String> keys;
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            keys = new TreeSet<>(f.names());
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertEquals(List.of(24L, 2L), List.of(f.info("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight").shape()[0],
                    f.info("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight").shape()[1]), "rank_pattern: r = 2 in block 1");
        }
        Set<String> expected = new TreeSet<>();
        for (int i = 0; i < 2; i++) {
            for (String m : List.of("attn.c_attn", "attn.c_proj", "mlp.c_proj")) {          // "c_proj" is a suffix of both
                String p = "base_model.model.transformer.h." + i + "." + m + ".";
                expected.addAll(List.of(p + "lora_A.weight", p + "lora_B.weight", p + "lora_magnitude_vector"));
            }
        }
        expected.add("base_model.model.transformer.wte.weight");
        assertEquals(expected, keys, "adapter names removed, DoRA magnitudes without .weight, modules_to_save under the module's own path");

        JsonNode config = JSON.readTree(dir.resolve("adapter_config.json").toFile());
        assertEquals("LORA", config.get("peft_type").asText());
        assertEquals("CAUSAL_LM", config.get("task_type").asText());
        assertEquals("tiny-gpt2", config.get("base_model_name_or_path").asText());
        assertEquals(4, config.get("r").asInt());
        assertEquals(8, config.get("lora_alpha").asInt());
        assertTrue(config.get("lora_alpha").isIntegralNumber());
        assertTrue(config.get("fan_in_fan_out").asBoolean(), "derived from GPT-2's Conv1D layout");
        assertTrue(config.get("inference_mode").asBoolean());
        assertTrue(config.get("use_dora").asBoolean());
        assertFalse(config.get("init_lora_weights").asBoolean());
        assertEquals(2, config.get("rank_pattern").get("h.1.attn.c_attn").asInt());
        assertEquals("[\"c_attn\",\"c_proj\"]", config.get("target_modules").toString());
        assertEquals("[\"wte\"]", config.get("modules_to_save").toString());
        List<String> fields = new java.util.ArrayList<>();
        config.fieldNames().forEachRemaining(fields::add);
        assertEquals(new java.util.ArrayList<>(new TreeSet<>(fields)), fields, "keys sorted as json.dumps(sort_keys=True)");

        assertTrue(Files.isRegularFile(dir.resolve("v_proj").resolve("adapter_config.json")), "other adapters in a subfolder");
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("v_proj").resolve("adapter_model.safetensors"))) {
            assertTrue(f.names().contains("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"));
            assertTrue(f.names().stream().noneMatch(k -> k.endsWith("lora_A.v_proj.weight")), "only the adapter-name segment is removed");
            assertEquals(4, f.names().size());
        }
    }

    /** HF's MLP with in 3, hidden 2, out 2; LoRA r 2, alpha 4 on lin0 and lin1 as modules_to_save; every value given here. */
    @Test
    void aHandWrittenHfAdapterGivesTheOutputsItsMathImplies(@TempDir Path dir) throws IOException {
        String config = """
                {
                  "alpha_pattern": {},
                  "auto_mapping": {"base_model_class": "MLP", "parent_library": "__main__"},
                  "base_model_name_or_path": null,
                  "bias": "none",
                  "corda_config": null,
                  "eva_config": null,
                  "exclude_modules": null,
                  "fan_in_fan_out": false,
                  "inference_mode": true,
                  "init_lora_weights": true,
                  "layer_replication": null,
                  "layers_pattern": null,
                  "layers_to_transform": null,
                  "loftq_config": {},
                  "lora_alpha": 4,
                  "lora_bias": false,
                  "lora_dropout": 0.0,
                  "megatron_config": null,
                  "megatron_core": "megatron.core",
                  "modules_to_save": ["lin1"],
                  "peft_type": "LORA",
                  "peft_version": "0.17.1",
                  "qalora_group_size": 16,
                  "r": 2,
                  "rank_pattern": {},
                  "revision": null,
                  "target_modules": ["lin0"],
                  "target_parameters": null,
                  "task_type": null,
                  "trainable_token_indices": null,
                  "use_dora": false,
                  "use_qalora": false,
                  "use_rslora": false
                }
                """;
        Files.writeString(dir.resolve("adapter_config.json"), config);
        float[][] a = {{0.5f, -1f, 0.25f}, {1f, 0.5f, -0.5f}};          // lora_A [r, in]
        float[][] b = {{0.2f, -0.4f}, {0.6f, 0.1f}};                    // lora_B [out, r]
        float[][] w1 = {{1.5f, -0.5f}, {0.25f, 2f}};                     // lin1 copy [out, in]
        float[] b1 = {0.1f, -0.2f};
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("base_model.model.lin0.lora_A.weight", Nd4j.createFromArray(a));
        tensors.put("base_model.model.lin0.lora_B.weight", Nd4j.createFromArray(b));
        tensors.put("base_model.model.lin1.weight", Nd4j.createFromArray(w1));
        tensors.put("base_model.model.lin1.bias", Nd4j.createFromArray(b1));
        SafetensorsWriter.write(dir.resolve("adapter_model.safetensors"), tensors, Map.of("format", "pt"));

        ToyModels.Mlp mlp = new ToyModels.Mlp(3, 2, 2, DataType.DOUBLE, 4);
        double[][] w0 = ((Linear) ModuleTree.get(mlp, "lin0")).weight().value().toDoubleMatrix();
        double[] b0 = ((Linear) ModuleTree.get(mlp, "lin0")).bias().value().toDoubleVector();
        double[][] x = {{1, 2, 3}, {-1, 0.5, 2}, {0, 0, 1}, {0.3, -0.7, 0.1}};
        double s = 4.0 / 2;
        double[][] expected = new double[x.length][2];
        for (int n = 0; n < x.length; n++) {
            double[] ax = new double[2];
            for (int k = 0; k < 2; k++) {
                for (int i = 0; i < 3; i++) {
                    ax[k] += a[k][i] * x[n][i];
                }
            }
            double[] h = new double[2];
            for (int j = 0; j < 2; j++) {
                h[j] = b0[j];
                for (int i = 0; i < 3; i++) {
                    h[j] += w0[j][i] * x[n][i];
                }
                for (int k = 0; k < 2; k++) {
                    h[j] += s * b[j][k] * ax[k];
                }
                h[j] = Math.max(0, h[j]);
            }
            for (int o = 0; o < 2; o++) {
                expected[n][o] = b1[o] + w1[o][0] * h[0] + w1[o][1] * h[1];
            }
        }
        try (PeftModel<ToyModels.Mlp> peft = PeftModel.load(mlp, dir)) {
            INDArray out = Fixtures.out(mlp, Nd4j.createFromArray(x));
            assertClose(Nd4j.createFromArray(expected), out, 1e-12, "y = W1'·relu(W0·x + b0 + s·B·A·x) + b1'");
            LoraConfig loaded = (LoraConfig) peft.config("default");
            assertEquals(new TargetSpec.Listed(List.of("lin0")), loaded.targets().targets());
            assertEquals(List.of("lin1"), loaded.modulesToSave());
        }
    }

    /** A hand-written adapter on GPT-2's c_attn (a Conv1D, fan_in_fan_out): merging adds s·(B·A)ᵀ to the [in, out] weight. */
    @Test
    void aHandWrittenFanInFanOutAdapterMergesTransposed(@TempDir Path dir) throws IOException {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.DOUBLE, 5);
        INDArray w = ((Linear) ModuleTree.get(gpt2, "transformer.h.0.attn.c_attn")).weight().value().dup();    // [8, 24]
        INDArray a = Nd4j.linspace(-1, 1, 16, DataType.FLOAT).reshape(2, 8);                                     // [r, in]
        INDArray b = Nd4j.linspace(0.5, -0.5, 48, DataType.FLOAT).reshape(24, 2);                                // [out, r]
        Files.writeString(dir.resolve("adapter_config.json"), """
                {"peft_type": "LORA", "r": 2, "lora_alpha": 1, "target_modules": ["c_attn"], "fan_in_fan_out": true,
                 "layers_to_transform": [0], "layers_pattern": "h", "use_rslora": true, "task_type": "CAUSAL_LM"}
                """);
        SafetensorsWriter.write(dir.resolve("adapter_model.safetensors"), Map.of(
                "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", a,
                "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight", b));
        try (PeftModel<Gpt2Model> peft = PeftModel.load(gpt2, dir)) {
            assertEquals(List.of("transformer.h.0.attn.c_attn"), peft.targetedModules("default"));
            INDArray unmerged = Fixtures.logits(gpt2);
            peft.merge();
            double s = 1 / Math.sqrt(2);
            INDArray expected = w.add(b.castTo(DataType.DOUBLE).mmul(a.castTo(DataType.DOUBLE)).transpose().mul(s));
            assertClose(expected, ((Linear) ((LoraLinear) peft.tunerLayers().get("transformer.h.0.attn.c_attn")).baseLayer()).weight().value(), 1e-12,
                    "W + s·(B·A)ᵀ with rsLoRA's s = alpha/√r");
            assertClose(unmerged, Fixtures.logits(gpt2), 1e-10, "merged = unmerged");
        }
    }

    @Test
    void theAdapterNameDoesNotMatterAndResavingReproducesTheFile(@TempDir Path dir) throws IOException {
        Path first = dir.resolve("first");
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 6);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", gpt2Config()).build()) {
            peft.save(first);
        }
        Gpt2Model asDefault = Fixtures.gpt2(DataType.FLOAT, 6);
        Gpt2Model asOther = Fixtures.gpt2(DataType.FLOAT, 6);
        try (PeftModel<Gpt2Model> a = PeftModel.load(asDefault, first); PeftModel<Gpt2Model> b = PeftModel.load(asOther, first, "other", true)) {
            assertBitIdentical(Fixtures.logits(asDefault), Fixtures.logits(asOther), "loaded as 'default' or as 'other'");
            assertTrue(b.registry().trainableCount() > 0, "is_trainable");
            b.save(dir.resolve("second"));
        }
        Path second = dir.resolve("second").resolve("other");
        try (SafetensorsFile f1 = SafetensorsFile.open(first.resolve("adapter_model.safetensors"));
                SafetensorsFile f2 = SafetensorsFile.open(second.resolve("adapter_model.safetensors"))) {
            assertEquals(f1.names(), f2.names());
            for (String k : f1.names()) {
                assertBitIdentical(f1.read(k), f2.read(k), k);
            }
        }
    }

    @Test
    void loadingChecksKeysShapesAndFields(@TempDir Path dir) throws IOException {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 7);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", LoraConfig.builder().targetModules("c_attn").build()).build()) {
            peft.save(dir);
        }
        Path weights = dir.resolve("adapter_model.safetensors");
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(weights)) {
            for (String k : f.names()) {
                tensors.put(k, f.read(k));
            }
        }
        Map<String, INDArray> missing = new LinkedHashMap<>(tensors);
        missing.remove("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight");
        SafetensorsWriter.write(weights, missing);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PeftModel.load(Fixtures.gpt2(DataType.FLOAT, 7), dir));
        assertTrue(e.getMessage().contains("missing [base_model.model.transformer.h.1.attn.c_attn.lora_B.weight]"), e.getMessage());

        Map<String, INDArray> extra = new LinkedHashMap<>(tensors);
        extra.put("base_model.model.transformer.h.0.attn.c_attn.lora_C.weight", Nd4j.zeros(DataType.FLOAT, 2, 2));
        SafetensorsWriter.write(weights, extra);
        Gpt2Model target = Fixtures.gpt2(DataType.FLOAT, 7);
        e = assertThrows(IllegalArgumentException.class, () -> PeftModel.load(target, dir));
        assertTrue(e.getMessage().contains("unexpected [base_model.model.transformer.h.0.attn.c_attn.lora_C.weight]"), e.getMessage());
        assertTrue(TargetingTest.ModuleTreeCheck.unwrapped(target), "a failed load leaves the base model as it was");
        try (PeftModel<Gpt2Model> lenient = PeftModel.builder(Fixtures.gpt2(DataType.FLOAT, 7)).adapter("x", LoraConfig.builder().targetModules("c_fc").build()).build()) {
            PeftModel.LoadReport report = lenient.loadAdapter(dir, "loaded", false, false);
            assertEquals(List.of("base_model.model.transformer.h.0.attn.c_attn.lora_C.weight"), report.unexpected());
            assertTrue(report.missing().isEmpty());
        }

        Map<String, INDArray> wrongShape = new LinkedHashMap<>(tensors);
        wrongShape.put("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", Nd4j.zeros(DataType.FLOAT, 8, 9));
        SafetensorsWriter.write(weights, wrongShape);
        e = assertThrows(IllegalArgumentException.class, () -> PeftModel.load(Fixtures.gpt2(DataType.FLOAT, 7), dir));
        assertTrue(e.getMessage().contains("lora_A.weight' has shape [8, 9] but the model expects [8, 8]"), e.getMessage());
        SafetensorsWriter.write(weights, tensors);

        Path config = dir.resolve("adapter_config.json");
        String json = Files.readString(config);
        Files.writeString(config, json.replace("\"peft_type\": \"LORA\",", ""));
        e = assertThrows(IllegalArgumentException.class, () -> PeftModel.load(Fixtures.gpt2(DataType.FLOAT, 7), dir));
        assertTrue(e.getMessage().contains("has no peft_type"), e.getMessage());
        Files.writeString(config, json.replace("\"lora_bias\": false", "\"lora_bias\": true"));
        e = assertThrows(IllegalArgumentException.class, () -> PeftModel.load(Fixtures.gpt2(DataType.FLOAT, 7), dir));
        assertTrue(e.getMessage().contains("lora_bias = true") && e.getMessage().contains("does not support"), e.getMessage());
        Files.writeString(config, json.replace("\"r\": 8,", "\"r\": 8, \"foobar\": 1, \"spam\": [],"));
        try (PeftModel<Gpt2Model> ok = PeftModel.load(Fixtures.gpt2(DataType.FLOAT, 7), dir)) {
            assertEquals(8, ((LoraConfig) ok.config("default")).r(), "unknown keys are ignored (with a warning)");
        }
        Files.delete(weights);
        e = assertThrows(IllegalArgumentException.class, () -> PeftModel.load(Fixtures.gpt2(DataType.FLOAT, 7), dir));
        assertTrue(e.getMessage().contains("no adapter_model.safetensors"), e.getMessage());
    }

    @Test
    void configsSurviveTheirJson() {
        for (LoraConfig c : List.of(gpt2Config(), LoraConfig.builder().build(),
                LoraConfig.builder().targetModulesRegex(".*\\.(q|v)_proj").excludeModulesRegex(".*0.*").useDora(true).loraDropout(0.05).build(),
                LoraConfig.builder().targetModules("q").layersToTransform(List.of(0, 2), "layers").initLoraWeights(LoraInit.pissaFast(16))
                        .bias(org.peft4j.core.tuner.BiasTraining.ADAPTED_ONLY).fanInFanOut(true).taskType(TaskType.SEQ_CLS).build())) {
            assertEquals(c.toBuilder().fanInFanOut(c.fanInFanOut() == null ? false : c.fanInFanOut()).build(), LoraConfig.fromHfJson(c.toHfJson()));
        }
    }
}
