package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.model.llama.LlamaModel;
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.testing.TinyDecoders;
import org.peft4j.core.tuner.ModuleDict;
import org.peft4j.core.tuner.ModulesToSave;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.core.tuner.TunerLayer;

/** Scaling (L-02), rank and alpha patterns (L-03), target matching (L-04 to L-06) and their errors. */
class TargetingTest {
    private static Linear lin(int in, int out, SplittableRandom rng) {
        return ToyModels.linear(in, out, true, WeightLayout.OUT_IN, DataType.FLOAT, rng);
    }

    /** {linear: Linear(10, 10), embed: Embedding(10, 10)}. */
    private static ToyModels.Tree linearAndEmbedding() {
        SplittableRandom rng = new SplittableRandom(1);
        ModuleDict root = new ModuleDict();
        root.put("linear", lin(10, 10, rng));
        root.put("embed", Embedding.normal(10, 10, 1.0, DataType.FLOAT, rng));
        return new ToyModels.Tree(root, "toy");
    }

    private static double scaling(PeftModel<?> peft, String path) {
        TunerLayer layer = peft.tunerLayers().get(path);
        return layer instanceof LoraLinear l ? l.scaling("default") : ((LoraEmbedding) layer).scaling("default");
    }

    @Test
    void scalingIsAlphaOverRankOrOverItsRootWithRsLora() {
        LoraConfig.Builder b = LoraConfig.builder().r(16).loraAlpha(3).targetModules("linear", "embed");
        try (PeftModel<?> peft = PeftModel.builder(linearAndEmbedding()).adapter("default", b.build()).build()) {
            assertEquals(0.1875, scaling(peft, "linear"), 1e-12);
            assertEquals(0.1875, scaling(peft, "embed"), 1e-12);
        }
        try (PeftModel<?> peft = PeftModel.builder(linearAndEmbedding()).adapter("default", b.useRslora(true).build()).build()) {
            assertEquals(0.75, scaling(peft, "linear"), 1e-12);
            assertEquals(0.75, scaling(peft, "embed"), 1e-12);
        }
        LoraConfig.Builder patterns = LoraConfig.builder().r(25).loraAlpha(17).targetModules("linear", "embed")
                .rankPattern(Map.of("embed", 9)).alphaPattern(Map.of("linear", 11.0));
        try (PeftModel<?> peft = PeftModel.builder(linearAndEmbedding()).adapter("default", patterns.build()).build()) {
            assertEquals(11.0 / 25, scaling(peft, "linear"), 1e-12);
            assertEquals(17.0 / 9, scaling(peft, "embed"), 1e-12);
        }
        try (PeftModel<?> peft = PeftModel.builder(linearAndEmbedding()).adapter("default", patterns.useRslora(true).build()).build()) {
            assertEquals(11.0 / 5, scaling(peft, "linear"), 1e-12);
            assertEquals(17.0 / 3, scaling(peft, "embed"), 1e-12);
        }
    }

    @Test
    void aSecondAdaptersRankPatternLeavesTheFirstAlone() {
        ToyModels.Mlp mlp = new ToyModels.Mlp(10, 20, 2, DataType.FLOAT, 2);
        try (PeftModel<ToyModels.Mlp> peft = PeftModel.builder(mlp).adapter("default", LoraConfig.builder().targetModules("lin0").build()).build()) {
            peft.addAdapter("other", LoraConfig.builder().targetModules("lin0").rankPattern(Map.of("lin0", 4)).build());
            LoraLinear lin0 = (LoraLinear) peft.tunerLayers().get("lin0");
            assertEquals(8, lin0.loraA("default").shape()[0]);
            assertEquals(4, lin0.loraA("other").shape()[0]);
        }
    }

    /** Outer{foo, bar, module: Middle{foo, foobar, module: Inner{foo, barfoo}}} with "all-linear" and r = 8. */
    private static ToyModels.Tree nested() {
        SplittableRandom rng = new SplittableRandom(3);
        ModuleDict inner = new ModuleDict();
        inner.put("foo", lin(4, 4, rng));
        inner.put("barfoo", lin(4, 4, rng));
        ModuleDict middle = new ModuleDict();
        middle.put("foo", lin(4, 4, rng));
        middle.put("foobar", lin(4, 4, rng));
        middle.put("module", inner);
        ModuleDict outer = new ModuleDict();
        outer.put("foo", lin(4, 4, rng));
        outer.put("bar", lin(4, 4, rng));
        outer.put("module", middle);
        return new ToyModels.Tree(outer, "toy");
    }

    private static Map<String, Integer> ranks(Map<String, Integer> rankPattern) {
        try (PeftModel<?> peft = PeftModel.builder(nested()).adapter("default", LoraConfig.builder().allLinear().rankPattern(rankPattern).build()).build()) {
            Map<String, Integer> out = new java.util.TreeMap<>();
            peft.tunerLayers().forEach((path, layer) -> out.put(path, ((LoraLinear) layer).rank("default")));
            return out;
        }
    }

    @Test
    void rankPatternKeysMatchTheEndOfThePathAtADotAndCaretAnchorsThem() {
        Map<String, Integer> all = ranks(Map.of("foo", 16));
        assertEquals(Map.of("bar", 8, "foo", 16, "module.foo", 16, "module.foobar", 8, "module.module.barfoo", 8, "module.module.foo", 16), all);
        assertEquals(16, ranks(Map.of("^foo", 16)).get("foo"));
        assertEquals(8, ranks(Map.of("^foo", 16)).get("module.foo"));
        assertEquals(8, ranks(Map.of("^foo", 16)).get("module.module.foo"));
        Map<String, Integer> middle = ranks(Map.of("^module.foo", 16));
        assertEquals(List.of(8, 16, 8), List.of(middle.get("foo"), middle.get("module.foo"), middle.get("module.module.foo")));
        Map<String, Integer> middleInner = ranks(Map.of("module.foo", 16));
        assertEquals(List.of(8, 16, 16), List.of(middleInner.get("foo"), middleInner.get("module.foo"), middleInner.get("module.module.foo")));
        assertTrue(ranks(Map.of("nothing", 16)).values().stream().allMatch(r -> r == 8), "keys that match nothing change nothing");
        try (PeftModel<?> peft = PeftModel.builder(nested()).adapter("default", LoraConfig.builder().allLinear().alphaPattern(Map.of("^foo", 32.0)).build()).build()) {
            assertEquals(4.0, ((LoraLinear) peft.tunerLayers().get("foo")).scaling("default"), 1e-12);
            assertEquals(1.0, ((LoraLinear) peft.tunerLayers().get("module.foo")).scaling("default"), 1e-12, "defaults r = alpha = 8");
        }
    }

    @Test
    void targetedModulesAreListedOnceInModelOrder() {
        ToyModels.Mlp mlp = new ToyModels.Mlp(10, 20, 2, DataType.FLOAT, 4);
        try (PeftModel<?> peft = PeftModel.builder(mlp).adapter("default", LoraConfig.builder().targetModules("lin0").build()).build()) {
            assertEquals(List.of("lin0"), peft.targetedModules("default"));
        }
        try (PeftModel<?> peft = PeftModel.builder(mlp).adapter("default", LoraConfig.builder().targetModulesRegex("lin.*").build()).build()) {
            assertEquals(List.of("lin0", "lin1"), peft.targetedModules("default"));
        }
        try (PeftModel<?> peft = PeftModel.builder(mlp).adapter("default", LoraConfig.builder().targetModulesRegex("lin.*").excludeModules("lin0").build()).build()) {
            assertEquals(List.of("lin1"), peft.targetedModules("default"));
        }
    }

    @Test
    void matchingNothingOrExcludingEverythingFailsListingTheModules() {
        ToyModels.Mlp mlp = new ToyModels.Mlp(10, 20, 2, DataType.FLOAT, 5);
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(mlp).adapter("default", LoraConfig.builder().targetModules("q_proj").build()).build());
        assertTrue(none.getMessage().contains("[q_proj] matched no module") && none.getMessage().contains("[lin0, lin1]"), none.getMessage());
        IllegalArgumentException excluded = assertThrows(IllegalArgumentException.class, () -> PeftModel.builder(mlp)
                .adapter("default", LoraConfig.builder().targetModules("lin0", "lin1").excludeModules("lin0", "lin1").build()).build());
        assertTrue(excluded.getMessage().contains("all modules were excluded"), excluded.getMessage());
        assertTrue(ModuleTreeCheck.unwrapped(mlp), "a failed build leaves the model as it was");
        try (PeftModel<?> peft = PeftModel.builder(mlp).adapter("default", LoraConfig.builder().targetModules("lin0").build()).build()) {
            IllegalArgumentException second = assertThrows(IllegalArgumentException.class,
                    () -> peft.addAdapter("other", LoraConfig.builder().targetModules("nothing").modulesToSave("lin1").build()));
            assertTrue(second.getMessage().contains("matched no module"), second.getMessage());
            assertEquals(List.of("default"), peft.adapterNames(), "the rejected adapter left no trace");
            assertTrue(peft.modulesToSave().isEmpty());
        }
    }

    /** model.layers.{0..3}.{self_attn.q_proj, mlp.experts.{0,1}.up_proj}: layer 1 gives 3 modules, the expert index is not a layer. */
    @Test
    void layersToTransformReadsTheLayerIndexNotTheExpertIndex() {
        SplittableRandom rng = new SplittableRandom(6);
        ModuleDict layers = new ModuleDict();
        for (int i = 0; i < 4; i++) {
            ModuleDict attn = new ModuleDict();
            attn.put("q_proj", lin(4, 4, rng));
            ModuleDict experts = new ModuleDict();
            for (int e = 0; e < 2; e++) {
                ModuleDict expert = new ModuleDict();
                expert.put("up_proj", lin(4, 4, rng));
                experts.put(Integer.toString(e), expert);
            }
            ModuleDict mlp = new ModuleDict();
            mlp.put("experts", experts);
            ModuleDict layer = new ModuleDict();
            layer.put("self_attn", attn);
            layer.put("mlp", mlp);
            layers.put(Integer.toString(i), layer);
        }
        ModuleDict model = new ModuleDict();
        model.put("layers", layers);
        ModuleDict root = new ModuleDict();
        root.put("model", model);
        LoraConfig config = LoraConfig.builder().targetModules("q_proj", "up_proj").layersToTransform(List.of(1)).build();
        try (PeftModel<?> peft = PeftModel.builder(new ToyModels.Tree(root, "toy")).adapter("default", config).build()) {
            assertEquals(List.of("model.layers.1.self_attn.q_proj", "model.layers.1.mlp.experts.0.up_proj", "model.layers.1.mlp.experts.1.up_proj"),
                    peft.targetedModules("default"));
        }
        LoraConfig pattern = LoraConfig.builder().targetModules("q_proj").layersToTransform(List.of(0, 3), "layers").build();
        try (PeftModel<?> peft = PeftModel.builder(new ToyModels.Tree(root, "toy")).adapter("default", pattern).build()) {
            assertEquals(List.of("model.layers.0.self_attn.q_proj", "model.layers.3.self_attn.q_proj"), peft.targetedModules("default"));
        }
    }

    @Test
    void allLinearTakesEveryLinearButTheOutputHeadAndDoesNotNest() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 7);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", LoraConfig.builder().allLinear().build()).build()) {
            List<String> expected = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                for (String m : List.of("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")) {
                    expected.add("transformer.h." + i + "." + m);
                }
            }
            assertEquals(expected, peft.targetedModules("default"));
            peft.addAdapter("other", LoraConfig.builder().allLinear().build());
            assertEquals(expected, peft.targetedModules("other"), "the second all-linear adapter joins the same wrappers");
            assertEquals(8, peft.tunerLayers().size(), "no LoRA inside LoRA");
            assertTrue(peft.tunerLayers().values().stream().allMatch(l -> l.adapterNames().size() == 2));
            LoraConfig saved = (LoraConfig) peft.config("default");
            assertEquals(Boolean.TRUE, saved.fanInFanOut(), "GPT-2's Conv1D weights are [in, out]");
        }
    }

    @Test
    void architectureDefaultsApplyAndAnUnknownModelAsksForTargets() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 8);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", LoraConfig.builder().build()).build()) {
            assertEquals(List.of("transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"), peft.targetedModules("default"));
        }
        ToyModels.Mlp mlp = new ToyModels.Mlp(10, 20, 2, DataType.FLOAT, 9);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(mlp).adapter("default", LoraConfig.builder().build()).build());
        assertTrue(e.getMessage().contains("set target_modules") && e.getMessage().contains("'mlp'") && e.getMessage().contains("lin0"), e.getMessage());
    }

    /** L-06 and TR-07: a classifier's head becomes modules_to_save, so LoRA takes one Linear less. */
    @Test
    void sequenceClassificationTrainsTheHeadAsAModuleToSave() {
        ToyModels.Classifier model = new ToyModels.Classifier(11, 6, 3, DataType.FLOAT, 10);
        LoraConfig config = LoraConfig.builder().allLinear().taskType(TaskType.SEQ_CLS).build();
        try (PeftModel<ToyModels.Classifier> peft = PeftModel.builder(model).adapter("default", config).build()) {
            assertEquals(List.of("dense"), peft.targetedModules("default"), "2 Linears - the classifier head");
            assertEquals(List.of("classifier"), new ArrayList<>(peft.modulesToSave().keySet()));
            peft.addAdapter("other", config);
            assertEquals(java.util.Set.of("default", "other"), peft.modulesToSave().get("classifier").adapterNames());
            assertEquals(List.of("classifier", "score"), peft.config("default").modulesToSave());
        }
    }

    @Test
    void wrongModuleTypesSlotsAndLayoutsFailWithTheirNames() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 11);
        IllegalArgumentException type = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(gpt2).adapter("default", LoraConfig.builder().targetModules("attn").build()).build());
        assertTrue(type.getMessage().contains("transformer.h.0.attn") && type.getMessage().contains("MultiHeadAttention")
                && type.getMessage().contains("Linear, Embedding"), type.getMessage());
        IllegalArgumentException slot = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(gpt2).adapter("default", LoraConfig.builder().targetModules("lm_head").build()).build());
        assertTrue(slot.getMessage().contains("lm_head") && slot.getMessage().contains("slot of type Linear"), slot.getMessage());
        IllegalArgumentException layout = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(gpt2).adapter("default", LoraConfig.builder().targetModules("c_attn").fanInFanOut(false).build()).build());
        assertTrue(layout.getMessage().contains("fan_in_fan_out=false") && layout.getMessage().contains("[in, out]"), layout.getMessage());
        IllegalArgumentException head = assertThrows(IllegalArgumentException.class, () -> PeftModel.builder(gpt2)
                .adapter("default", LoraConfig.builder().targetModules("c_attn").modulesToSave("ln_f").build()).build());
        assertTrue(head.getMessage().contains("ln_f") && head.getMessage().contains("LayerNorm"), head.getMessage());
        assertTrue(ModuleTreeCheck.unwrapped(gpt2));
    }

    @Test
    void configValidationNamesTheFieldAndTheValue() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoraConfig.builder().r(0).build()).getMessage().contains("r must be > 0, got 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoraConfig.builder().loraDropout(1.0).build()).getMessage()
                .contains("lora_dropout must be in [0, 1), got 1.0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoraConfig.builder().rankPattern(Map.of("x", -1)).build()).getMessage()
                .contains("rank_pattern['x']"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoraConfig.builder().targetModulesRegex(".*q").layersToTransform(List.of(1)).build())
                .getMessage().contains("layers_to_transform cannot be used when target_modules is a regex"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoraConfig.parseBias("some")).getMessage().contains("\"lora_only\""));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TaskType.parse("invalid-task-type")).getMessage().contains("CAUSAL_LM"));
    }

    /** Helpers about whether a tree holds wrappers. */
    static final class ModuleTreeCheck {
        private ModuleTreeCheck() {
        }

        static boolean unwrapped(Module root) {
            return ModuleTree.modules(root).values().stream().noneMatch(m -> m instanceof TunerLayer || m instanceof ModulesToSave);
        }
    }

    /**
     * LLaMA's lm_head sits in a slot that takes a wrapper, so HF's common modules_to_save=["lm_head"] and LoRA on the
     * head work (GPT-2's tied head keeps its Linear slot, checked above). The trained copy changes the logits; the
     * original head, and the tied embedding it shares, stay as they were.
     */
    @Test
    void llamaLmHeadTakesModulesToSaveAndLora() {
        for (boolean tied : new boolean[] {false, true}) {
            LlamaModel llama = LlamaModel.random(
                    TinyDecoders.tinyLlama().tieWordEmbeddings(tied).build(), 5, DataType.DOUBLE,
                    KernelChoice.AUTO);
            TokenBatch batch = TokenBatch.causalLm(new int[][] {{1, 4, 7, 2}});
            INDArray base = logits(llama, batch);
            INDArray embedding = ((Embedding) ModuleTree.get(llama.module(), "model.embed_tokens"))
                    .weight().value().dup();
            LoraConfig copyHead = LoraConfig.builder().targetModules("q_proj").modulesToSave("lm_head").build();
            try (PeftModel<LlamaModel> peft = PeftModel.builder(llama).adapter("default", copyHead).build()) {
                ModulesToSave head = peft.modulesToSave().get("lm_head");
                assertTrue(head != null, "lm_head is a modules_to_save copy; tied " + tied);
                peft.adapterState("default").entrySet().stream().filter(e -> e.getKey().contains("lm_head"))
                        .forEach(e -> e.getValue().value().addi(0.5));
                assertTrue(!base.equalsWithEps(logits(llama, batch), 1e-3), "the copy is what runs; tied " + tied);
                assertEquals(embedding, ((Embedding) ModuleTree.get(llama.module(), "model.embed_tokens")).weight().value(),
                        "the embedding (the tied head's weight) is untouched");
            }
            try (PeftModel<LlamaModel> peft = PeftModel.builder(llama)
                    .adapter("default", LoraConfig.builder().targetModules("lm_head").initLoraWeights(LoraInit.RANDOM).build()).build()) {
                assertEquals(List.of("lm_head"), peft.targetedModules("default"));
                assertTrue(!base.equalsWithEps(logits(llama, batch), 1e-3), "LoRA on the head changes the logits; tied " + tied);
            }
            assertEquals(base, logits(llama, batch), "closing both restores the base model exactly; tied " + tied);
        }
    }

    private static INDArray logits(CausalLm model, TokenBatch batch) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, tape).dup();
        }
    }
}
