package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.peft4j.lora.Fixtures.assertBitIdentical;
import static org.peft4j.lora.Fixtures.assertClose;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.tuner.ModuleDict;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TunerLayer;

/** Identity at init, disabling, merging (LoRA and DoRA), merge_and_unload and PiSSA on GPT-2 and toy models. */
class LoraBehaviourTest {
    private static LoraConfig.Builder cAttn() {
        return LoraConfig.builder().r(4).loraAlpha(8).targetModules("c_attn", "c_proj");
    }

    @Test
    void aFreshAdapterLeavesOutputsBitIdentical() {
        for (LoraConfig config : List.of(cAttn().build(), cAttn().useDora(true).build(), cAttn().useRslora(true).build(),
                LoraConfig.builder().allLinear().initLoraWeights(LoraInit.GAUSSIAN).build(),
                LoraConfig.builder().targetModules("wte").build())) {
            Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 1);
            INDArray before = Fixtures.logits(gpt2);
            try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", config).seed(7).build()) {
                assertFalse(peft.tunerLayers().isEmpty());
                assertBitIdentical(before, Fixtures.logits(gpt2), "identity init of " + config.targets().targets());
            }
        }
    }

    @Test
    void randomInitChangesOutputsAndDisablingRestoresTheBaseExactly() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 2);
        INDArray base = Fixtures.logits(gpt2);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", cAttn().initLoraWeights(LoraInit.RANDOM).build()).build()) {
            INDArray adapted = Fixtures.logits(gpt2);
            assertFalse(Fixtures.close(adapted, base, 1e-4, 0), "B is random: the output changes");
            try (PeftModel.Scope off = peft.disableAdapters()) {
                assertBitIdentical(base, Fixtures.logits(gpt2), "disabled");
                assertEquals(0, peft.registry().trainableCount(), "nothing trains while adapters are off");
            }
            assertBitIdentical(adapted, Fixtures.logits(gpt2), "enabled again");
            assertTrue(peft.registry().trainableCount() > 0);
        }
        assertBitIdentical(base, Fixtures.logits(gpt2), "closing the PeftModel takes the adapters out");
        assertTrue(ModuleTree.modules(gpt2).values().stream().noneMatch(m -> m instanceof TunerLayer));
    }

    @Test
    void doraStartsAsTheIdentityAndAsLoraWithTheSameSeed() {
        Gpt2Model a = Fixtures.gpt2(DataType.DOUBLE, 3);
        Gpt2Model b = Fixtures.gpt2(DataType.DOUBLE, 3);
        try (PeftModel<Gpt2Model> lora = PeftModel.builder(a).adapter("default", cAttn().initLoraWeights(LoraInit.RANDOM).build()).seed(5).build();
                PeftModel<Gpt2Model> dora = PeftModel.builder(b).adapter("default", cAttn().initLoraWeights(LoraInit.RANDOM).useDora(true).build())
                        .seed(5).build()) {
            assertClose(Fixtures.logits(a), Fixtures.logits(b), 1e-12, "m = ‖W + s·B·A‖ at init, so DoRA = LoRA");
            INDArray base = null;
            try (PeftModel.Scope off = dora.disableAdapters()) {
                base = Fixtures.logits(b);
            }
            assertFalse(Fixtures.close(Fixtures.logits(b), base, 1e-6, 0));
        }
    }

    @Test
    void mergedAndUnmergedOutputsAgreeAndUnmergeRestoresTheWeights() {
        for (boolean dora : new boolean[] {false, true}) {
            Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 4);
            INDArray base = Fixtures.logits(gpt2);
            Map<String, INDArray> weights = Fixtures.snapshot(gpt2);
            try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2)
                    .adapter("default", cAttn().initLoraWeights(LoraInit.RANDOM).useDora(dora).build()).build()) {
                if (dora) {
                    peft.tunerLayers().values().forEach(l -> ((LoraLinear) l).magnitude("default").value().addi(0.5));
                }
                INDArray unmerged = Fixtures.logits(gpt2);
                peft.merge();
                assertTrue(peft.isMerged());
                INDArray merged = Fixtures.logits(gpt2);
                assertClose(unmerged, merged, 1e-5, "merged vs unmerged (dora " + dora + ")");
                assertFalse(Fixtures.close(merged, base, 1e-4, 0), "merged differs from base");
                peft.unmerge();
                assertFalse(peft.isMerged());
                Map<String, INDArray> after = Fixtures.snapshot(gpt2);
                weights.forEach((path, w) -> {
                    String wrapped = after.containsKey(path) ? path : path.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias");
                    assertClose(w, after.get(wrapped), 1e-6, "unmerge restores " + path);
                });
                assertClose(unmerged, Fixtures.logits(gpt2), 1e-5, "after unmerge");
            }
        }
    }

    /** L-08: on transposed (fan_in_fan_out) layers of (out, in) = (6, 6) and (8, 4), DoRA merge then unmerge restores W. */
    @Test
    void doraUnmergeInvertsMergeOnFanInFanOutLayers() {
        SplittableRandom rng = new SplittableRandom(6);
        ModuleDict root = new ModuleDict();
        root.put("a", ToyModels.linear(6, 6, true, WeightLayout.IN_OUT, DataType.FLOAT, rng));
        root.put("b", ToyModels.linear(4, 8, true, WeightLayout.IN_OUT, DataType.FLOAT, rng));
        ToyModels.Tree model = new ToyModels.Tree(root, "toy");
        INDArray wa = ((Linear) root.child("a")).weight().value().dup();
        INDArray wb = ((Linear) root.child("b")).weight().value().dup();
        try (PeftModel<ToyModels.Tree> peft = PeftModel.builder(model)
                .adapter("default", LoraConfig.builder().r(2).targetModules("a", "b").useDora(true).initLoraWeights(LoraInit.RANDOM).build()).build()) {
            peft.tunerLayers().values().forEach(l -> ((LoraLinear) l).magnitude("default").value().addi(0.5));
            peft.merge();
            assertFalse(Fixtures.close(((Linear) ((LoraLinear) root.child("a")).baseLayer()).weight().value(), wa, 1e-3, 0));
            peft.unmerge();
            assertClose(wa, ((Linear) ((LoraLinear) root.child("a")).baseLayer()).weight().value(), 1e-4, "(6, 6)");
            assertClose(wb, ((Linear) ((LoraLinear) root.child("b")).baseLayer()).weight().value(), 1e-4, "(8, 4)");
        }
    }

    /** MG-04: a safe merge of an adapter with NaN fails and leaves every weight bit-identical and nothing merged. */
    @Test
    void safeMergeRejectsNonFiniteUpdatesAndChangesNothing() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 7);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", cAttn().initLoraWeights(LoraInit.RANDOM).build()).build()) {
            Map<String, INDArray> before = Fixtures.snapshot(gpt2);
            LoraLinear last = (LoraLinear) peft.tunerLayers().get("transformer.h.1.attn.c_proj");
            last.loraB("default").value().putScalar(0, Double.NaN);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> peft.merge(List.of("default"), true));
            assertTrue(e.getMessage().contains("NaN or infinity") && e.getMessage().contains("default"), e.getMessage());
            assertFalse(peft.isMerged());
            Map<String, INDArray> after = Fixtures.snapshot(gpt2);
            before.forEach((path, v) -> {
                if (!path.endsWith("lora_B.default.weight")) {
                    assertBitIdentical(v, after.get(path), path);
                }
            });
            last.loraB("default").value().putScalar(0, 0.0);
            peft.merge(List.of("default"), true);
            assertTrue(peft.isMerged());
            INDArray merged = Fixtures.logits(gpt2);
            peft.merge();
            assertBitIdentical(merged, Fixtures.logits(gpt2), "a second merge changes nothing (MG-03)");
        }
    }

    @Test
    void mergeAndUnloadGivesAPlainModelWithTheMergedOutputs() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 8);
        List<String> basePaths = new ParamRegistry(gpt2).paths();
        PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", cAttn().initLoraWeights(LoraInit.RANDOM).useDora(true).build()).build();
        INDArray adapted = Fixtures.logits(gpt2);
        peft.merge();
        INDArray merged = Fixtures.logits(gpt2);
        Gpt2Model plain = peft.mergeAndUnload();
        assertTrue(ModuleTree.modules(plain).values().stream().noneMatch(m -> m instanceof TunerLayer), "no wrappers left");
        assertEquals(basePaths, new ParamRegistry(plain).paths(), "the base model's own params, under their own paths");
        assertEquals(0, new ParamRegistry(plain).trainableCount());
        assertBitIdentical(merged, Fixtures.logits(plain), "plain model = merged PEFT model");
        assertClose(adapted, Fixtures.logits(plain), 1e-5, "= the adapted outputs");
        assertThrows(IllegalStateException.class, peft::merge, "unusable after unloading");
        peft.close();
    }

    /** L-09: PiSSA leaves the outputs unchanged at init because W becomes the residual W − s·B·A. */
    @Test
    void pissaLeavesOutputsUnchangedAtInit() {
        for (DataType type : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
            Gpt2Model gpt2 = Fixtures.gpt2(type, 9);
            INDArray before = Fixtures.logits(gpt2);
            INDArray w = ((Linear) ModuleTree.get(gpt2, "transformer.h.0.attn.c_attn")).weight().value().dup();
            try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2)
                    .adapter("default", LoraConfig.builder().r(3).loraAlpha(6).targetModules("c_attn", "c_fc").initLoraWeights(LoraInit.PISSA).build())
                    .build()) {
                LoraLinear layer = (LoraLinear) peft.tunerLayers().get("transformer.h.0.attn.c_attn");
                assertTrue(layer.loraB("default").value().norm2Number().doubleValue() > 0.01, "B comes from the singular vectors");
                assertFalse(Fixtures.close(((Linear) layer.baseLayer()).weight().value(), w, 1e-4, 0), "W is replaced by its residual");
                assertClose(w, ((Linear) layer.baseLayer()).weight().value().add(layer.deltaWeight("default")), type == DataType.DOUBLE ? 1e-12 : 1e-6,
                        "W_res + s·B·A = W");
                assertClose(before, Fixtures.logits(gpt2), type == DataType.DOUBLE ? 1e-6 : 1e-5, "PiSSA at init, " + type);
            }
        }
    }

    @Test
    void pissaRejectsARankAboveTheMatrixRank() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 10);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PeftModel.builder(gpt2)
                .adapter("default", LoraConfig.builder().r(9).targetModules("c_attn").initLoraWeights(LoraInit.PISSA).build()).build());
        assertTrue(e.getMessage().contains("r <= min(in, out) = 8") && e.getMessage().contains("transformer.h.0.attn.c_attn"), e.getMessage());
        assertTrue(TargetingTest.ModuleTreeCheck.unwrapped(gpt2), "checked before any weight changed");
    }

    @Test
    void svdReconstructsTallAndWideMatrices() {
        for (long[] shape : new long[][] {{7, 4}, {4, 7}, {5, 5}}) {
            INDArray w = Nd4j.rand(DataType.DOUBLE, shape).subi(0.5);
            Svd.Result svd = Svd.of(w);
            INDArray rebuilt = svd.u().mulRowVector(svd.s()).mmul(svd.vt());
            assertClose(w, rebuilt, 1e-12, "U·S·Vᵀ = W for " + java.util.Arrays.toString(shape));
            assertTrue(svd.s().getDouble(0) >= svd.s().getDouble(svd.s().length() - 1), "descending singular values");
        }
    }

    @Test
    void trainingAMergedModelFails() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 11);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", cAttn().build()).build()) {
            var task = peft.trainableTask(new org.peft4j.core.model.CausalLmTask(gpt2));
            peft.merge();
            try (Tape tape = Tape.training(gpt2.kernels(), 1)) {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> task.forward(Fixtures.batch(), tape));
                assertTrue(e.getMessage().contains("unmerge"), e.getMessage());
            }
        }
    }

    private static double std(INDArray x) {
        return x.castTo(DataType.DOUBLE).stdNumber().doubleValue();
    }

    /** L-01: default A is Kaiming-uniform and B zero; "gaussian" A ~ N(0, 1/r); false makes B random; embeddings swap the roles. */
    @Test
    void initialisationsFollowHf() {
        SplittableRandom rng = new SplittableRandom(12);
        int in = 300;
        int r = 8;
        Linear base = ToyModels.linear(in, 200, false, WeightLayout.OUT_IN, DataType.FLOAT, rng);
        LoraLinear layer = new LoraLinear(base);
        layer.addAdapter("default", r, 8, LoraConfig.builder().build(), rng);
        layer.addAdapter("gaussian", r, 8, LoraConfig.builder().initLoraWeights(LoraInit.GAUSSIAN).build(), rng);
        layer.addAdapter("false", r, 8, LoraConfig.builder().initLoraWeights(LoraInit.RANDOM).build(), rng);
        INDArray a = layer.loraA("default").value();
        double bound = 1 / Math.sqrt(in);
        assertEquals(0.0, layer.loraB("default").value().amaxNumber().doubleValue(), "B = 0");
        assertTrue(a.amaxNumber().doubleValue() <= bound, "A within ±1/√in");
        assertEquals(bound / Math.sqrt(3), std(a), 0.05 * bound, "uniform: std = bound/√3");
        assertEquals(1.0 / r, std(layer.loraA("gaussian").value()), 0.05 / r, "gaussian: std 1/r");
        assertEquals(0.0, layer.loraB("gaussian").value().amaxNumber().doubleValue());
        assertTrue(layer.loraB("false").value().amaxNumber().doubleValue() > 0, "false: B random");

        LoraEmbedding emb = new LoraEmbedding(org.peft4j.core.nn.Embedding.normal(400, 50, 1.0, DataType.FLOAT, rng));
        emb.addAdapter("default", r, 8, LoraConfig.builder().build(), rng);
        emb.addAdapter("gaussian", r, 8, LoraConfig.builder().initLoraWeights(LoraInit.GAUSSIAN).build(), rng);
        emb.addAdapter("false", r, 8, LoraConfig.builder().initLoraWeights(LoraInit.RANDOM).build(), rng);
        for (String n : List.of("default", "gaussian")) {
            assertEquals(0.0, emb.loraA(n).value().amaxNumber().doubleValue(), n + ": lora_embedding_A = 0");
            assertEquals(1.0, std(emb.loraB(n).value()), 0.1, n + ": lora_embedding_B ~ N(0, 1)");
        }
        assertTrue(emb.loraA("false").value().amaxNumber().doubleValue() > 0);
    }
}
