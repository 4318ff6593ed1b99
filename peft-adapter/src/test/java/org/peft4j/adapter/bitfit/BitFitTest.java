package org.peft4j.adapter.bitfit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.peft4j.adapter.Nets.assertBitIdentical;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.adapter.Nets;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.train.BatchSource;
import org.peft4j.core.train.TrainResult;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;

/** BitFit: which biases it adapts, its gradients, that training moves biases only, merging, saving, disabling, its errors. */
class BitFitTest {
    /** Paths of the base model's biases, without the ".bias". */
    private static List<String> biasOwners(PretrainedModel model) {
        return new ParamRegistry(model.module()).paths().stream().filter(p -> p.endsWith(".bias")).map(p -> p.substring(0, p.length() - 5)).toList();
    }

    @ParameterizedTest
    @EnumSource(Nets.Kind.class)
    void byDefaultEveryBiasTrains(Nets.Kind kind) {
        Nets.Net net = kind.create(1);
        List<String> owners = biasOwners(net.model());
        assertFalse(owners.isEmpty());
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("default", BitFitConfig.builder().build()).build()) {
            assertEquals(owners, peft.targetedModules("default"), "one BitFit layer per module with a bias");
            long biasCount = owners.stream().mapToLong(o -> new ParamRegistry(net.model().module()).get(o + ".base_layer.bias").length()).sum();
            assertEquals(biasCount, peft.registry().trainableCount(), "as many trainable values as the model has bias values");
        }
    }

    @Test
    void aSubsetOfBiasesAsInThePapersAblation() {
        Nets.Net net = Nets.bert(2);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model())
                .adapter("default", BitFitConfig.builder().biases("query", "intermediate.dense").build()).build()) {
            assertEquals(List.of("bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.0.intermediate.dense",
                    "bert.encoder.layer.1.attention.self.query", "bert.encoder.layer.1.intermediate.dense"), peft.targetedModules("default"));
            assertEquals(2 * (8 + 16), peft.registry().trainableCount());
        }
    }

    @Test
    void aModelWithoutBiasesGetsAClearError() {
        Nets.Net net = Nets.llama(3, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(net.model()).adapter("default", BitFitConfig.builder().build()).build());
        assertTrue(e.getMessage().contains("BitFit trains bias terms, but this llama model has none") && e.getMessage().contains("LLaMA-style"),
                e.getMessage());
        IllegalArgumentException named = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(net.model()).adapter("default", BitFitConfig.builder().biases("q_proj").build()).build());
        assertTrue(named.getMessage().contains("'model.layers.0.self_attn.q_proj' (Linear(in=12, out=16)) has no bias; BitFit trains bias terms only"),
                named.getMessage());
        IllegalArgumentException norm = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(net.model()).adapter("default", BitFitConfig.builder().biases("input_layernorm").build()).build());
        assertTrue(norm.getMessage().contains("supported: Linear with a bias, LayerNorm"), norm.getMessage());
    }

    @ParameterizedTest
    @EnumSource(Nets.Kind.class)
    void gradientsMatchFiniteDifferences(Nets.Kind kind) {
        Nets.Net net = kind.create(4);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("default", BitFitConfig.builder().build()).build()) {
            Nets.perturbTrainable(peft.module(), 0.3, 5);
            // BERT's key bias adds q·b_k to every score of a query, which softmax ignores: its gradient is zero (checked below).
            // LLaMA's k_proj bias is rotated by position (RoPE), so it matters there.
            java.util.function.Predicate<String> keyBias = p -> p.contains(".key.");
            Nets.checkTrainableGradients(net, 3, 6, keyBias.negate());
            peft.registry().trainable().stream().filter(np -> keyBias.test(np.path()))
                    .forEach(np -> assertTrue(np.param().grad().amaxNumber().doubleValue() < 1e-10, np.path() + " has gradient zero"));
        }
    }

    /** Training moves only the bias changes: every base param keeps its bits; merged, only the biases differ from the original model. */
    @Test
    void trainingChangesBiasesOnly() {
        Nets.Net net = Nets.gpt2(7, org.nd4j.linalg.api.buffer.DataType.FLOAT);
        Gpt2Model gpt2 = (Gpt2Model) net.model();
        Map<String, INDArray> original = Nets.snapshot(gpt2);
        INDArray adapted;
        PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", BitFitConfig.builder().build()).build();
        TrainResult result = new Trainer(TrainerConfig.builder().adamW(5e-2, 0.1).maxSteps(8).seed(3).build())
                .fit(peft.trainableTask(new CausalLmTask(gpt2)), BatchSource.of(java.util.List.of(net.batch())), null);
        assertTrue(result.steps() == 8);
        ParamRegistry live = peft.registry();
        for (Map.Entry<String, INDArray> e : original.entrySet()) {
            int dot = e.getKey().lastIndexOf('.');
            String path = live.paths().contains(e.getKey()) ? e.getKey()
                    : e.getKey().substring(0, dot) + ".base_layer" + e.getKey().substring(dot);    // the param of a wrapped module
            assertBitIdentical(e.getValue(), live.get(path).value(), path + " is not trained");
        }
        live.trainable().forEach(np -> assertTrue(np.param().value().amaxNumber().doubleValue() > 0, np.path() + " moved"));
        adapted = Nets.output(net);
        Gpt2Model merged = peft.mergeAndUnload();
        Map<String, INDArray> after = Nets.snapshot(merged);
        assertEquals(original.keySet(), after.keySet(), "merge_and_unload leaves the original tree");
        int changed = 0;
        for (String path : original.keySet()) {
            if (path.endsWith(".bias")) {
                changed += original.get(path).equals(after.get(path)) ? 0 : 1;
            } else {
                assertBitIdentical(original.get(path), after.get(path), path + " (not a bias) is bit-identical after training and merging");
            }
        }
        assertEquals(biasOwners(merged).size(), changed, "every bias changed");
        INDArray mergedOut = Nets.output(net);
        assertTrue(mergedOut.sub(adapted).amaxNumber().doubleValue() < 1e-5, "merged biases compute what the adapter did (float)");
        peft.close();
    }

    @Test
    void saveThenLoadGivesIdenticalOutputs(@TempDir Path dir) {
        Nets.Net net = Nets.bert(8);
        INDArray adapted;
        BitFitConfig config = BitFitConfig.builder().taskType(TaskType.SEQ_CLS).build();
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("default", config).build()) {
            Nets.perturbTrainable(peft.module(), 0.3, 9);
            adapted = Nets.output(net);
            assertNotNull(peft.adapterState("default").get("base_model.model.bert.embeddings.LayerNorm.bitfit_bias"));
            assertNotNull(peft.adapterState("default").get("base_model.model.classifier.weight"), "SEQ_CLS trains the classifier head");
            peft.save(dir);
        }
        try (PeftModel<PretrainedModel> loaded = PeftModel.load(net.model(), dir)) {
            assertBitIdentical(adapted, Nets.output(net), "the loaded adapter computes what the saved one did");
        }
    }

    @Test
    void disablingGivesTheBaseModel() {
        Nets.Net net = Nets.llama(10, true);
        INDArray base = Nets.output(net);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("default", BitFitConfig.builder().build()).build()) {
            assertBitIdentical(base, Nets.output(net), "zero bias changes at first");
            Nets.perturbTrainable(peft.module(), 0.3, 11);
            INDArray adapted = Nets.output(net);
            assertTrue(adapted.sub(base).amaxNumber().doubleValue() > 1e-6);
            try (PeftModel.Scope off = peft.disableAdapters()) {
                assertBitIdentical(base, Nets.output(net), "disabled");
            }
            assertBitIdentical(adapted, Nets.output(net), "enabled again");
            peft.merge();
            assertTrue(Nets.output(net).sub(adapted).amaxNumber().doubleValue() < 1e-12, "merged");
            peft.unmerge();
            assertTrue(Nets.output(net).sub(adapted).amaxNumber().doubleValue() < 1e-12, "unmerged");
        }
        assertTrue(Nets.output(net).sub(base).amaxNumber().doubleValue() < 1e-12, "closed: the base model, its biases restored");
    }

    @Test
    void jsonRoundTripAndErrors() {
        BitFitConfig config = BitFitConfig.builder().biases("query", "intermediate.dense").modulesToSave("classifier").taskType(TaskType.SEQ_CLS)
                .baseModelNameOrPath("m").build();
        assertEquals(config, BitFitConfig.fromHfJson(config.toHfJson()));
        assertEquals(config.toHfJson().get("peft_type").asText(), "BITFIT");
        var json = config.toHfJson().put("peft_type", "LORA");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BitFitConfig.fromHfJson(json));
        assertTrue(e.getMessage().contains("this config needs \"BITFIT\""), e.getMessage());
        IllegalArgumentException all = assertThrows(IllegalArgumentException.class,
                () -> BitFitConfig.builder().targets(org.peft4j.core.tuner.TargetSpec.allLinear()).build());
        assertTrue(all.getMessage().contains("BitFit takes no \"all-linear\""), all.getMessage());
    }
}
