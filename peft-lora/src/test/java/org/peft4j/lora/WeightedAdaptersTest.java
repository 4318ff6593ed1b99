package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.peft4j.lora.Fixtures.assertClose;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.lora.WeightedAdapters.Combination;

/** add_weighted_adapter: ranks of the three combinations, exactness of cat, re-weighting, modules_to_save (MG-08 to MG-11). */
class WeightedAdaptersTest {
    private static LoraConfig random(int r, String... targets) {
        return LoraConfig.builder().r(r).loraAlpha(2 * r).targetModules(targets).initLoraWeights(LoraInit.RANDOM).build();
    }

    private static PeftModel<Gpt2Model> threeAdapters(Gpt2Model gpt2) {
        return PeftModel.builder(gpt2).adapter("a1", random(2, "c_attn", "wte")).adapter("a2", random(2, "c_attn", "c_fc", "wte"))
                .adapter("a3", LoraConfig.builder().r(5).loraAlpha(3).targetModules("c_attn").initLoraWeights(LoraInit.RANDOM)
                        .rankPattern(Map.of("h.0.attn.c_attn", 3)).build()).seed(4).build();
    }

    private static INDArray delta(PeftModel<?> peft, String path, String adapter) {
        var layer = peft.tunerLayers().get(path);
        return layer instanceof LoraLinear l ? l.deltaWeight(adapter) : ((LoraEmbedding) layer).deltaWeight(adapter);
    }

    @Test
    void ranksOfTheThreeCombinations() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.DOUBLE, 1);
        try (PeftModel<Gpt2Model> peft = threeAdapters(gpt2)) {
            WeightedAdapters.add(peft, "svd", List.of("a2", "a3"), List.of(1.0, 1.0), Combination.SVD);
            WeightedAdapters.add(peft, "cat", List.of("a2", "a3"), List.of(1.0, 1.0), Combination.CAT);
            WeightedAdapters.add(peft, "linear", List.of("a1", "a2"), List.of(0.5, 0.5), Combination.LINEAR);
            LoraLinear layer = (LoraLinear) peft.tunerLayers().get("transformer.h.1.attn.c_attn");
            assertEquals(5, layer.rank("svd"), "svd: the largest rank");
            assertEquals(7, layer.rank("cat"), "cat: the sum of ranks");
            assertEquals(2, layer.rank("linear"), "linear: the common rank");
            assertEquals(1.0, layer.scaling("cat"), 1e-12);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> WeightedAdapters.add(peft, "bad", List.of("a1", "a3"), List.of(1.0, 1.0), Combination.LINEAR));
            assertTrue(e.getMessage().contains("LINEAR needs adapters of one rank"), e.getMessage());
            assertEquals(List.of("a1"), peft.activeAdapters(), "new adapters are not activated");
            peft.setActiveAdapter("svd");
            assertEquals(List.of("svd"), peft.activeAdapters());
        }
    }

    /** MG-10: two active adapters give the same output as their cat combination, also with a rank pattern. */
    @Test
    void catEqualsTheAdaptersActiveTogether() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.DOUBLE, 2);
        try (PeftModel<Gpt2Model> peft = threeAdapters(gpt2)) {
            peft.setActiveAdapters(List.of("a2", "a3"));
            INDArray together = Fixtures.logits(gpt2);
            WeightedAdapters.add(peft, "cat", List.of("a2", "a3"), List.of(1.0, 1.0), Combination.CAT);
            peft.setActiveAdapter("cat");
            assertClose(together, Fixtures.logits(gpt2), 1e-10, "cat of [a2, a3]");
            LoraLinear block0 = (LoraLinear) peft.tunerLayers().get("transformer.h.0.attn.c_attn");
            assertEquals(7, block0.rank("cat"), "rank 2 + 5 (the largest rank of each source)");
            INDArray unused = block0.loraA("cat").value().get(org.nd4j.linalg.indexing.NDArrayIndex.interval(5, 7), org.nd4j.linalg.indexing.NDArrayIndex.all());
            assertEquals(0.0, unused.amaxNumber().doubleValue(), "a3 has rank 3 in block 0 (rank_pattern): rows 5 and 6 stay zero");
        }
    }

    /** MG-08, MG-09: one adapter re-weighted by w gives w·ΔW, for positive and negative w; [1, −1] of twins gives 0. */
    @Test
    void reweightingOneAdapterScalesItsUpdate() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.DOUBLE, 3);
        try (PeftModel<Gpt2Model> peft = threeAdapters(gpt2)) {
            for (double w : new double[] {0.7, -1.0, 2.5}) {
                String name = "w" + (int) (w * 10);
                WeightedAdapters.add(peft, name, List.of("a2"), List.of(w), Combination.SVD);
                for (String path : List.of("transformer.h.0.attn.c_attn", "transformer.h.1.mlp.c_fc", "transformer.wte")) {
                    assertClose(delta(peft, path, "a2").mul(w), delta(peft, path, name), 1e-10, name + " at " + path);
                }
            }
        }
        Gpt2Model twins = Fixtures.gpt2(DataType.DOUBLE, 4);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(twins).adapter("x", random(2, "c_attn")).seed(1).build()) {
            WeightedAdapters.add(peft, "x2", List.of("x"), List.of(1.0), Combination.LINEAR);
            WeightedAdapters.add(peft, "zero", List.of("x", "x2"), List.of(1.0, -1.0), Combination.CAT);
            assertTrue(delta(peft, "transformer.h.0.attn.c_attn", "zero").amaxNumber().doubleValue() < 1e-12, "ΔW ≈ 0");
        }
    }

    /** SVD with enough rank reproduces Σ w_i·ΔW_i; cat is exact for any weights. */
    @Test
    void svdAndCatReproduceTheWeightedSum() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.DOUBLE, 5);
        try (PeftModel<Gpt2Model> peft = threeAdapters(gpt2)) {
            WeightedAdapters.add(peft, "svd", List.of("a1", "a2"), List.of(0.5, -0.3), Combination.SVD, 4);
            WeightedAdapters.add(peft, "cat", List.of("a1", "a2"), List.of(0.5, -0.3), Combination.CAT);
            for (String path : List.of("transformer.h.0.attn.c_attn", "transformer.wte", "transformer.h.0.mlp.c_fc")) {
                INDArray expected = delta(peft, path, "a2").mul(-0.3);
                if (peft.tunerLayers().get(path).adapterNames().contains("a1")) {
                    expected.addi(delta(peft, path, "a1").mul(0.5));
                }
                assertClose(expected, delta(peft, path, "svd"), 1e-10, "svd at " + path);
                assertClose(expected, delta(peft, path, "cat"), 1e-12, "cat at " + path);
            }
        }
    }

    /** MG-11: a module copied by one source goes to the new adapter; copied by two, the combination fails. */
    @Test
    void modulesToSaveOfTheSources() {
        ToyModels.Classifier model = new ToyModels.Classifier(11, 6, 3, DataType.DOUBLE, 6);
        try (PeftModel<ToyModels.Classifier> peft = PeftModel.builder(model)
                .adapter("a", LoraConfig.builder().targetModules("dense").modulesToSave("classifier").initLoraWeights(LoraInit.RANDOM).build())
                .adapter("b", LoraConfig.builder().targetModules("dense").initLoraWeights(LoraInit.RANDOM).build()).build()) {
            var head = peft.modulesToSave().get("classifier");
            head.copyOf("a").params().get("weight").value().addi(1.0);
            WeightedAdapters.add(peft, "ab", List.of("a", "b"), List.of(1.0, 1.0), Combination.CAT);
            assertTrue(head.adapterNames().contains("ab"));
            Fixtures.assertBitIdentical(head.copyOf("a").params().get("weight").value(), head.copyOf("ab").params().get("weight").value(), "copied from a");
            peft.addAdapter("c", LoraConfig.builder().targetModules("dense").modulesToSave("classifier").build());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> WeightedAdapters.add(peft, "ac", List.of("a", "c"), List.of(1.0, 1.0), Combination.CAT));
            assertTrue(e.getMessage().contains("copy the same module (modules_to_save); found 1"), e.getMessage());
        }
    }
}
