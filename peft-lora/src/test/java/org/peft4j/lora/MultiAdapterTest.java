package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.peft4j.lora.Fixtures.assertBitIdentical;
import static org.peft4j.lora.Fixtures.assertClose;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry.NamedParam;
import org.peft4j.core.tuner.BiasTraining;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TunerLayer;

/** Several adapters: adding, switching, deleting, adding up, names as labels, trainability, mixed batches (MA-01 to MA-11, TR-03 to TR-05). */
class MultiAdapterTest {
    private static LoraConfig lin0(LoraInit init) {
        return LoraConfig.builder().targetModules("lin0").initLoraWeights(init).build();
    }

    private static ToyModels.Mlp mlp(long seed) {
        return new ToyModels.Mlp(10, 20, 2, DataType.DOUBLE, seed);
    }

    private static Set<String> trainable(PeftModel<?> peft) {
        return peft.registry().trainable().stream().map(NamedParam::path).collect(Collectors.toCollection(TreeSet::new));
    }

    @Test
    void addingSwitchingAndDeletingAdapters() {
        ToyModels.Mlp mlp = mlp(1);
        INDArray x = Fixtures.mlpInput(DataType.DOUBLE);
        INDArray base = Fixtures.out(mlp, x);
        try (PeftModel<ToyModels.Mlp> peft = PeftModel.builder(mlp).adapter("default", lin0(LoraInit.RANDOM)).seed(1).build()) {
            INDArray first = Fixtures.out(mlp, x);
            peft.addAdapter("other", LoraConfig.builder().targetModulesRegex("lin.").initLoraWeights(LoraInit.RANDOM).build());
            assertEquals(List.of("default"), peft.activeAdapters(), "a new adapter is not active");
            assertBitIdentical(first, Fixtures.out(mlp, x), "adding an adapter changes nothing");
            assertTrue(trainable(peft).stream().noneMatch(p -> p.contains(".other.")), "a new adapter starts frozen");
            peft.setActiveAdapter("other");
            INDArray second = Fixtures.out(mlp, x);
            assertFalse(Fixtures.close(second, first, 1e-3, 0), "differently seeded adapters differ");
            assertTrue(peft.tunerLayers().get("lin1").activeAdapters().contains("other"), "set_adapter reaches layers without 'default'");
            peft.setActiveAdapter("default");
            assertBitIdentical(first, Fixtures.out(mlp, x), "back to default");

            IllegalArgumentException dup = assertThrows(IllegalArgumentException.class, () -> peft.addAdapter("other", lin0(LoraInit.DEFAULT)));
            assertTrue(dup.getMessage().contains("adapter 'other' already exists"), dup.getMessage());
            IllegalArgumentException bias = assertThrows(IllegalArgumentException.class, () -> {
                peft.addAdapter("b1", LoraConfig.builder().targetModules("lin0").bias(BiasTraining.ALL).build());
                peft.addAdapter("b2", LoraConfig.builder().targetModules("lin0").bias(BiasTraining.ALL).build());
            });
            assertTrue(bias.getMessage().contains("only one adapter per model may set bias"), bias.getMessage());
            peft.deleteAdapter("b1");
            assertEquals(List.of("default", "other"), peft.adapterNames());

            assertTrue(assertThrows(IllegalArgumentException.class, () -> peft.deleteAdapter("unknown-adapter")).getMessage()
                    .contains("adapter 'unknown-adapter' does not exist"));
            peft.merge();
            IllegalStateException merged = assertThrows(IllegalStateException.class, () -> peft.deleteAdapter("default"));
            assertTrue(merged.getMessage().contains("while it is merged"), merged.getMessage());
            peft.unmerge();
            peft.deleteAdapter("default");
            assertEquals(List.of("other"), peft.activeAdapters(), "deleting the active adapter activates the next one");
            assertClose(second, Fixtures.out(mlp, x), 1e-12, "the remaining adapter is untouched (merge and unmerge round W)");
            assertTrue(peft.registry().paths().stream().noneMatch(p -> p.contains(".default")), "no trace of the deleted adapter");
            peft.deleteAdapter("other");
            assertEquals(List.of(), peft.activeAdapters());
            assertClose(base, Fixtures.out(mlp, x), 1e-12, "without adapters the base forward still works");
        }
    }

    /** MA-09: two active adapters add up: out(a, b) − base = (out(a) − base) + (out(b) − base). */
    @Test
    void severalActiveAdaptersAddUp() {
        ToyModels.Mlp mlp = mlp(2);
        INDArray x = Fixtures.mlpInput(DataType.DOUBLE);
        try (PeftModel<ToyModels.Mlp> peft = PeftModel.builder(mlp)
                .adapter("a", LoraConfig.builder().targetModules("lin0", "lin1").initLoraWeights(LoraInit.RANDOM).build())
                .adapter("b", LoraConfig.builder().targetModules("lin1").r(3).initLoraWeights(LoraInit.RANDOM).build()).build()) {
            INDArray onlyA = Fixtures.out(mlp, x);
            peft.setActiveAdapter("b");
            INDArray onlyB = Fixtures.out(mlp, x);
            peft.setActiveAdapters(List.of("a", "b"));
            INDArray both = Fixtures.out(mlp, x);
            assertFalse(Fixtures.close(both, onlyA, 1e-5, 0));
            assertFalse(Fixtures.close(both, onlyB, 1e-5, 0));
            peft.merge();
            assertClose(both, Fixtures.out(mlp, x), 1e-10, "merging both gives the combined output (MG-06)");
            peft.unmerge();
            try (PeftModel.Scope off = peft.disableAdapters()) {
                INDArray base = Fixtures.out(mlp, x);
                // lin1 is linear in its input, lin0's update passes a ReLU: check the sum rule on lin1 alone
                assertFalse(Fixtures.close(base, both, 1e-5, 0));
            }
        }
        // the sum rule on a single linear layer
        ToyModels.Mlp m2 = mlp(3);
        try (PeftModel<ToyModels.Mlp> peft = PeftModel.builder(m2)
                .adapter("a", LoraConfig.builder().targetModules("lin1").initLoraWeights(LoraInit.RANDOM).build())
                .adapter("b", LoraConfig.builder().targetModules("lin1").r(2).useRslora(true).initLoraWeights(LoraInit.RANDOM).build()).build()) {
            INDArray base;
            try (PeftModel.Scope off = peft.disableAdapters()) {
                base = Fixtures.out(m2, x);
            }
            INDArray a = Fixtures.out(m2, x);
            peft.setActiveAdapter("b");
            INDArray b = Fixtures.out(m2, x);
            peft.setActiveAdapters(List.of("a", "b"));
            assertClose(a.sub(base).add(b.sub(base)), Fixtures.out(m2, x).sub(base), 1e-12, "updates add up");
        }
    }

    /** MA-11: with one seed, the adapter's name changes neither outputs nor values; it only appears in param paths. */
    @Test
    void adapterNamesAreOnlyLabels() {
        INDArray x = Fixtures.mlpInput(DataType.DOUBLE);
        INDArray reference = null;
        List<String> referenceKeys = null;
        for (String name : List.of("default", "adapter", "other-name")) {
            ToyModels.Mlp mlp = mlp(4);
            try (PeftModel<ToyModels.Mlp> peft = PeftModel.builder(mlp).adapter(name, lin0(LoraInit.RANDOM)).seed(9).build()) {
                INDArray out = Fixtures.out(mlp, x);
                List<String> keys = List.copyOf(peft.adapterState(name).keySet());
                assertTrue(peft.registry().paths().contains("lin0.lora_A." + name + ".weight"));
                if (reference == null) {
                    reference = out;
                    referenceKeys = keys;
                } else {
                    assertBitIdentical(reference, out, name);
                    assertEquals(referenceKeys, keys, "checkpoint keys carry no adapter name");
                }
            }
        }
        assertEquals(List.of("base_model.model.lin0.lora_A.weight", "base_model.model.lin0.lora_B.weight"), referenceKeys);
    }

    /** TR-03, TR-04, TR-05: exactly the active adapter's tensors (and its head copy) train. */
    @Test
    void trainabilityFollowsTheActiveAdapter() {
        ToyModels.Mlp small = new ToyModels.Mlp(10, 10, 10, DataType.FLOAT, 5);
        try (PeftModel<?> peft = PeftModel.builder(small).adapter("default", LoraConfig.builder().r(8).targetModules("lin0").build()).build()) {
            assertEquals("trainable params: 160 || all params: 380 || trainable%: 42.1053", peft.trainableParametersSummary());
        }
        ToyModels.Mlp mlp = new ToyModels.Mlp(10, 20, 2, DataType.FLOAT, 6);
        try (PeftModel<?> peft = PeftModel.builder(mlp)
                .adapter("default", LoraConfig.builder().targetModules("lin0").modulesToSave("lin1").build()).build()) {
            assertEquals(new TreeSet<>(List.of("lin0.lora_A.default.weight", "lin0.lora_B.default.weight", "lin1.modules_to_save.default.weight",
                    "lin1.modules_to_save.default.bias")), trainable(peft));
            peft.addAdapter("adapter1", LoraConfig.builder().targetModules("lin0").build());
            peft.setActiveAdapter("adapter1");
            assertEquals(new TreeSet<>(List.of("lin0.lora_A.adapter1.weight", "lin0.lora_B.adapter1.weight")), trainable(peft),
                    "adapter1 copies no module: the original lin1 runs, frozen");
            try (PeftModel.Scope off = peft.disableAdapters()) {
                assertTrue(trainable(peft).isEmpty());
            }
            assertEquals(2, trainable(peft).size());
            IllegalArgumentException twoCopies = assertThrows(IllegalArgumentException.class, () -> {
                peft.addAdapter("third", LoraConfig.builder().targetModules("lin0").modulesToSave("lin1").build());
                peft.setActiveAdapters(List.of("default", "third"));
            });
            assertTrue(twoCopies.getMessage().contains("only one adapter with a copy of a module can be active"), twoCopies.getMessage());
        }
    }

    /** TR-06: bias "all" trains every bias, "lora_only" those of the adapted layers; both are saved. */
    @Test
    void biasOptionsTrainTheRightBiases() {
        try (PeftModel<?> peft = PeftModel.builder(mlp(7)).adapter("default", LoraConfig.builder().targetModules("lin0").bias(BiasTraining.ALL).build()).build()) {
            assertEquals(new TreeSet<>(List.of("lin0.base_layer.bias", "lin0.lora_A.default.weight", "lin0.lora_B.default.weight", "lin1.bias")), trainable(peft));
            assertTrue(peft.adapterState("default").containsKey("base_model.model.lin1.bias"));
        }
        try (PeftModel<?> peft = PeftModel.builder(mlp(7)).adapter("default", LoraConfig.builder().targetModules("lin0").bias(BiasTraining.ADAPTED_ONLY).build()).build()) {
            assertEquals(new TreeSet<>(List.of("lin0.base_layer.bias", "lin0.lora_A.default.weight", "lin0.lora_B.default.weight")), trainable(peft));
        }
    }

    /** MA-06: in one batch, each sequence gets its own adapter (or the base model) and equals a run with that adapter alone. */
    @Test
    void mixedBatchesEqualPerAdapterRuns() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.DOUBLE, 8);
        TokenBatch batch = TokenBatch.causalLm(new int[][] {{1, 4, 7, 2}, {3, 3, 8, 12}, {5, 6, 1, 1}, {2, 9, 9, 0}, {4, 4, 4, 4}, {7, 1, 2, 3}});
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2)
                .adapter("adapter0", LoraConfig.builder().targetModules("c_attn").initLoraWeights(LoraInit.RANDOM).build())
                .adapter("adapter1", LoraConfig.builder().targetModules("c_attn", "c_fc", "wte").r(3).initLoraWeights(LoraInit.RANDOM).build())
                .build()) {
            INDArray out0 = Fixtures.logits(gpt2, batch);
            peft.setActiveAdapter("adapter1");
            INDArray out1 = Fixtures.logits(gpt2, batch);
            INDArray base;
            try (PeftModel.Scope off = peft.disableAdapters()) {
                base = Fixtures.logits(gpt2, batch);
            }
            List<String> names = List.of(TunerLayer.BASE, "adapter0", "adapter1", TunerLayer.BASE, "adapter0", "adapter1");
            INDArray mixed;
            try (PeftModel.Scope perSequence = peft.adapterPerSequence(names)) {
                mixed = Fixtures.logits(gpt2, batch);
                try (PeftModel.Scope off = peft.disableAdapters()) {
                    assertBitIdentical(base, Fixtures.logits(gpt2, batch), "disabling takes precedence over per-sequence adapters");
                }
            }
            for (int b = 0; b < 6; b++) {
                INDArray expected = names.get(b).equals(TunerLayer.BASE) ? base : names.get(b).equals("adapter0") ? out0 : out1;
                assertClose(rows(expected, b, 4), rows(mixed, b, 4), 1e-10, "sequence " + b + " (" + names.get(b) + ")");
            }
            assertBitIdentical(out1, Fixtures.logits(gpt2, batch), "the scope ends");
        }
    }

    private static INDArray rows(INDArray x, int b, int t) {
        return x.get(NDArrayIndex.interval(b * t, (b + 1) * t), NDArrayIndex.all());
    }

    @Test
    void mixedBatchesWithModulesToSave() {
        ToyModels.Classifier model = new ToyModels.Classifier(11, 6, 3, DataType.DOUBLE, 9);
        TokenBatch batch = new TokenBatch(3, 4, new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1}, null, null);
        try (PeftModel<ToyModels.Classifier> peft = PeftModel.builder(model)
                .adapter("a", LoraConfig.builder().targetModules("dense").modulesToSave("classifier").initLoraWeights(LoraInit.RANDOM).build())
                .adapter("b", LoraConfig.builder().targetModules("dense").initLoraWeights(LoraInit.RANDOM).build()).build()) {
            peft.modulesToSave().get("classifier").copyOf("a").params().get("weight").value().addi(0.5);
            INDArray outA = logits(model, batch);
            peft.setActiveAdapter("b");
            INDArray outB = logits(model, batch);
            INDArray mixed;
            try (PeftModel.Scope s = peft.adapterPerSequence(List.of("b", "a", TunerLayer.BASE))) {
                mixed = logits(model, batch);
            }
            INDArray base;
            try (PeftModel.Scope off = peft.disableAdapters()) {
                base = logits(model, batch);
            }
            assertClose(outB.getRow(0), mixed.getRow(0), 1e-12, "b");
            assertClose(outA.getRow(1), mixed.getRow(1), 1e-12, "a with its head copy");
            assertClose(base.getRow(2), mixed.getRow(2), 1e-12, "base with the original head");
        }
    }

    private static INDArray logits(ToyModels.Classifier model, TokenBatch batch) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, tape).dup();
        }
    }

    /** MA-07: the errors of mixed batches. */
    @Test
    void mixedBatchErrors() {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 10);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2)
                .adapter("default", LoraConfig.builder().targetModules("c_attn").build())
                .adapter("dora", LoraConfig.builder().targetModules("c_attn").useDora(true).build()).build()) {
            try (PeftModel.Scope s = peft.adapterPerSequence(List.of("default", TunerLayer.BASE))) {
                IllegalArgumentException length = assertThrows(IllegalArgumentException.class, () -> Fixtures.logits(gpt2));
                assertTrue(length.getMessage().contains("got 2 names for 3 sequences"), length.getMessage());
                try (Tape tape = Tape.training(gpt2.kernels(), 1)) {
                    IllegalStateException training = assertThrows(IllegalStateException.class, () -> gpt2.forward(Fixtures.batch(), tape));
                    assertTrue(training.getMessage().contains("inference only"), training.getMessage());
                }
            }
            IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                    () -> peft.adapterPerSequence(List.of("does-not-exist", "other-does-not-exist", "default")));
            assertTrue(unknown.getMessage().contains("[does-not-exist, other-does-not-exist]"), unknown.getMessage());
            IllegalArgumentException dora = assertThrows(IllegalArgumentException.class, () -> peft.adapterPerSequence(List.of("dora", "default", "default")));
            assertTrue(dora.getMessage().contains("DoRA"), dora.getMessage());
            try (PeftModel.Scope fine = peft.adapterPerSequence(List.of("default", "default", TunerLayer.BASE))) {
                assertEquals(3, Fixtures.logits(gpt2).rows() / 5, "a DoRA adapter that is present but not named is fine");
            }
            peft.merge();
            IllegalStateException merged = assertThrows(IllegalStateException.class, () -> peft.adapterPerSequence(List.of("default", "default", "default")));
            assertTrue(merged.getMessage().contains("merged"), merged.getMessage());
        }
    }

    /** MA-05: the disable scope restores the previous state, also when adapters were already off. */
    @Test
    void disableScopeRestoresThePreviousState() {
        try (PeftModel<?> peft = PeftModel.builder(mlp(11)).adapter("default", lin0(LoraInit.RANDOM)).build()) {
            peft.setAdaptersEnabled(false);
            try (PeftModel.Scope off = peft.disableAdapters()) {
                assertFalse(peft.adaptersEnabled());
            }
            assertFalse(peft.adaptersEnabled(), "stays off");
            peft.setAdaptersEnabled(true);
            try (PeftModel.Scope off = peft.disableAdapters()) {
                assertFalse(peft.adaptersEnabled());
            }
            assertTrue(peft.adaptersEnabled());
        }
    }

    private static PeftModel<ToyModels.Mlp> twoAdapters(ToyModels.Mlp mlp) {
        return PeftModel.builder(mlp)
                .adapter("default", LoraConfig.builder().targetModules("lin0", "lin1").modulesToSave("lin1").initLoraWeights(LoraInit.RANDOM).build())
                .adapter("adapter-2", LoraConfig.builder().targetModules("lin0").r(3).initLoraWeights(LoraInit.RANDOM).build()).seed(12).build();
    }

    /** MG-05 and MG-02: merging chosen adapters, one after the other or at once; unloading restores the originals. */
    @Test
    void selectiveAndSequentialMerges() {
        INDArray x = Fixtures.mlpInput(DataType.DOUBLE);
        ToyModels.Mlp m1 = mlp(12);
        INDArray withSecond;
        INDArray base;
        try (PeftModel<ToyModels.Mlp> peft = twoAdapters(m1)) {
            peft.setActiveAdapter("adapter-2");
            withSecond = Fixtures.out(m1, x);
            try (PeftModel.Scope off = peft.disableAdapters()) {
                base = Fixtures.out(m1, x);
            }
            ToyModels.Mlp plain = peft.mergeAndUnload(List.of("adapter-2"), true);
            assertClose(withSecond, Fixtures.out(plain, x), 1e-12, "merge_and_unload(['adapter-2']) = adapter-2 active, with the original lin1");
        }
        ToyModels.Mlp m2 = mlp(12);
        try (PeftModel<ToyModels.Mlp> peft = twoAdapters(m2)) {
            peft.setActiveAdapters(List.of("default", "adapter-2"));
            INDArray both = Fixtures.out(m2, x);
            peft.merge(List.of("default"), false);
            peft.merge(List.of("adapter-2"), false);
            assertClose(both, Fixtures.out(m2, x), 1e-12, "sequential merges = both active");
            peft.unmerge();
            try (PeftModel.Scope off = peft.disableAdapters()) {
                assertClose(base, Fixtures.out(m2, x), 1e-12, "unmerge after sequential merges restores the base");
            }
            ToyModels.Mlp plain = peft.unload();
            assertClose(base, Fixtures.out(plain, x), 1e-12, "unload: the original modules, no update");
            assertTrue(TargetingTest.ModuleTreeCheck.unwrapped(plain));
        }
    }

    /** SL-05: saving selected adapters writes only those, whatever their names contain. */
    @Test
    void savingSelectedAdapters(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        try (PeftModel<ToyModels.Mlp> peft = twoAdapters(mlp(13))) {
            for (String n : List.of("default2", "other_default", "foodefault_bar", "efaul")) {
                peft.addAdapter(n, lin0(LoraInit.DEFAULT));
            }
            peft.save(dir, List.of("default"));
            assertTrue(java.nio.file.Files.isRegularFile(dir.resolve("adapter_model.safetensors")));
            try (var files = java.nio.file.Files.list(dir)) {
                assertEquals(2, files.count(), "only the default adapter's two files");
            }
            assertEquals(4, peft.adapterState("default").size(), "lin0 A and B, lin1 weight and bias");
        }
    }
}
