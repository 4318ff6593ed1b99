package org.peft4j.adapter.bottleneck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.peft4j.adapter.Nets.assertBitIdentical;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.peft4j.adapter.Nets;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.bert.BertOutput;
import org.peft4j.core.nn.LayerNorm;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.tuner.AdapterFiles;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TaskType;

/** What a bottleneck adapter computes and how it behaves in a PeftModel: identity at first, saving, disabling, placement, config checks. */
class BottleneckBehaviourTest {
    static List<org.junit.jupiter.params.provider.Arguments> cases() {
        return BottleneckGradientTest.cases();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void freshAdaptersLeaveOutputsUnchanged(Placement placement, Nets.Kind kind) {
        Nets.Net net = kind.create(3);
        INDArray before = Nets.output(net);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model())
                .adapter("default", BottleneckConfig.builder().placement(placement).reductionFactor(2).build()).build()) {
            assertFalse(peft.targetedModules("default").isEmpty());
            assertBitIdentical(before, Nets.output(net), "a fresh adapter (up-projection zero) is the identity");
        }
        assertBitIdentical(before, Nets.output(net), "closing the PeftModel restores the base model");
    }

    @Test
    void bertInitIsNearButNotExactlyTheIdentity() {
        Nets.Net net = Nets.bert(4);
        INDArray before = Nets.output(net);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model())
                .adapter("default", BottleneckConfig.builder().initWeights(BottleneckInit.BERT).build()).build()) {
            double diff = Nets.output(net).sub(before).amaxNumber().doubleValue();
            assertTrue(diff > 0 && diff < 1e-2 * before.amaxNumber().doubleValue(), "max |change| " + diff);
        }
    }

    /** Placement by model: which modules each placement wraps. */
    @Test
    void placementsWrapTheDocumentedModules() {
        assertEquals(List.of("bert.encoder.layer.0.attention.output.dense", "bert.encoder.layer.0.output.dense",
                "bert.encoder.layer.1.attention.output.dense", "bert.encoder.layer.1.output.dense"), targets(Nets.bert(1), Placement.HOULSBY));
        assertEquals(List.of("bert.encoder.layer.0.output.dense", "bert.encoder.layer.1.output.dense"), targets(Nets.bert(1), Placement.PFEIFFER));
        assertEquals(List.of("bert.encoder.layer.0.output", "bert.encoder.layer.1.output"), targets(Nets.bert(1), Placement.PARALLEL));
        assertEquals(List.of("transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj", "transformer.h.1.attn.c_proj",
                "transformer.h.1.mlp.c_proj"), targets(Nets.gpt2(1), Placement.HOULSBY));
        assertEquals(List.of("transformer.h.0.mlp", "transformer.h.1.mlp"), targets(Nets.gpt2(1), Placement.PARALLEL));
        assertEquals(List.of("model.layers.0.self_attn.o_proj", "model.layers.0.mlp.down_proj", "model.layers.1.self_attn.o_proj",
                "model.layers.1.mlp.down_proj"), targets(Nets.llama(1, false), Placement.HOULSBY));
        assertEquals(List.of("model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"), targets(Nets.llama(1, false), Placement.PFEIFFER));
        assertEquals(List.of("model.layers.0.mlp", "model.layers.1.mlp"), targets(Nets.llama(1, false), Placement.PARALLEL));
    }

    private static List<String> targets(Nets.Net net, Placement p) {
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("default", BottleneckConfig.builder().placement(p).build())
                .build()) {
            return peft.targetedModules("default");
        }
    }

    @Test
    void leaveOutSkipsLayers() {
        BottleneckConfig config = BottleneckConfig.builder().leaveOut(List.of(0)).build();
        assertEquals("(.*\\.)?(layer|layers|h)\\.(0)(\\..*)?", ((TargetSpec.Regex) config.targets().exclude()).pattern());
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(Nets.gpt2(2).model()).adapter("default", config).build()) {
            assertEquals(List.of("transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_proj"), peft.targetedModules("default"));
        }
    }

    /** Sequential: y = z + s·(f(z·Dᵀ + d)·Uᵀ + u) with z = x·Wᵀ + b, computed here with plain array operations. */
    @Test
    void sequentialAdapterMatchesAHandComputation() {
        SplittableRandom rng = new SplittableRandom(7);
        Linear base = linear(5, 4, rng);
        AdapterLayer layer = new AdapterLayer(base, false, 4, 4, DataType.DOUBLE);
        layer.addAdapter("default", BottleneckConfig.builder().bottleneckSize(3).nonLinearity(Activation.RELU).scaling(0.7).build(), rng);
        layer.setActiveAdapters(List.of("default"));
        randomise(layer.adapterParams("default").values(), rng);
        INDArray x = GradientCheck.randn(rng, 6, 5);
        INDArray z = x.mmul(base.weight().value().transpose()).addRowVector(base.bias().value());
        INDArray expected = z.add(bottleneck(layer, "default", z, Activation.RELU, 0.7));
        assertClose(expected, forward(layer, x));
        layer.setEnabled(false);
        assertBitIdentical(z, forward(layer, x), "disabled: the base layer only");
    }

    /** Parallel: y = x·Wᵀ + b + s·(f(x·Dᵀ + d)·Uᵀ + u). */
    @Test
    void parallelAdapterMatchesAHandComputation() {
        SplittableRandom rng = new SplittableRandom(8);
        Linear base = linear(5, 4, rng);
        AdapterLayer layer = new AdapterLayer(base, true, 5, 4, DataType.DOUBLE);
        layer.addAdapter("default", BottleneckConfig.builder().placement(Placement.PARALLEL).bottleneckSize(2).nonLinearity(Activation.TANH).build(),
                rng);
        layer.setActiveAdapters(List.of("default"));
        randomise(layer.adapterParams("default").values(), rng);
        INDArray x = GradientCheck.randn(rng, 6, 5);
        INDArray expected = x.mmul(base.weight().value().transpose()).addRowVector(base.bias().value())
                .add(bottleneck(layer, "default", x, Activation.TANH, 4.0));
        assertClose(expected, forward(layer, x));
    }

    /** BERT's parallel adapter: LayerNorm(dense(h) + r + s·A(r)), the norm computed here by hand. */
    @Test
    void parallelAdapterOnBertOutputMatchesAHandComputation() {
        SplittableRandom rng = new SplittableRandom(9);
        Linear dense = linear(6, 4, rng);
        BertOutput output = new BertOutput(dense, LayerNorm.create(4, 1e-12, DataType.DOUBLE), 0.0);
        ParallelAdapterOutput layer = new ParallelAdapterOutput(output, 4, DataType.DOUBLE);
        layer.addAdapter("default", BottleneckConfig.builder().placement(Placement.PARALLEL).bottleneckSize(2).build(), rng);
        layer.setActiveAdapters(List.of("default"));
        randomise(layer.adapterParams("default").values(), rng);
        INDArray h = GradientCheck.randn(rng, 3, 6);
        INDArray r = GradientCheck.randn(rng, 3, 4);
        INDArray sum = h.mmul(dense.weight().value().transpose()).addRowVector(dense.bias().value())
                .add(r).add(bottleneck(layer, "default", r, Activation.RELU, 4.0));
        INDArray centred = sum.subColumnVector(sum.mean(1).reshape(3, 1));
        INDArray std = Transforms.sqrt(centred.mul(centred).mean(1).add(1e-12)).reshape(3, 1);
        INDArray actual;
        try (Tape tape = Tape.inference(KernelChoice.PORTABLE.resolve())) {
            actual = layer.forward(h, r, tape);
        }
        assertClose(centred.divColumnVector(std), actual);
    }

    private static Linear linear(int in, int out, SplittableRandom rng) {
        return new Linear(Param.frozen("weight", GradientCheck.randn(rng, out, in)), Param.frozen("bias", GradientCheck.randn(rng, out)),
                WeightLayout.OUT_IN);
    }

    private static void randomise(java.util.Collection<Param> params, SplittableRandom rng) {
        params.forEach(p -> p.value().assign(GradientCheck.randn(rng, p.shape()).muli(0.5)));
    }

    /** s·(f(z·Dᵀ + d)·Uᵀ + u) from the wrapper's params. */
    private static INDArray bottleneck(BottleneckLayer layer, String name, INDArray z, Activation f, double s) {
        var p = layer.adapterParams(name);
        INDArray pre = z.mmul(p.get("adapter_down.weight").value().transpose()).addRowVector(p.get("adapter_down.bias").value());
        INDArray act = switch (f) {
            case RELU -> Transforms.relu(pre, true);
            case TANH -> Transforms.tanh(pre, true);
            default -> throw new IllegalArgumentException(f.toString());
        };
        return act.mmul(p.get("adapter_up.weight").value().transpose()).addRowVector(p.get("adapter_up.bias").value()).muli(s);
    }

    private static INDArray forward(org.peft4j.core.nn.Layer layer, INDArray x) {
        try (Tape tape = Tape.inference(KernelChoice.PORTABLE.resolve())) {
            return layer.forward(x, tape).dup();
        }
    }

    private static void assertClose(INDArray expected, INDArray actual) {
        double diff = expected.sub(actual).amaxNumber().doubleValue();
        assertTrue(diff < 1e-12, "max |difference| " + diff);
    }

    @ParameterizedTest
    @MethodSource("cases")
    void saveThenLoadGivesIdenticalOutputs(Placement placement, Nets.Kind kind, @TempDir Path dir) throws Exception {
        Nets.Net net = kind.create(5);
        INDArray base = Nets.output(net);
        INDArray adapted;
        BottleneckConfig config = BottleneckConfig.builder().placement(placement).reductionFactor(4).build();
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("default", config).build()) {
            Nets.perturbTrainable(peft.module(), 0.3, 6);
            adapted = Nets.output(net);
            assertTrue(adapted.sub(base).amaxNumber().doubleValue() > 1e-6, "the perturbed adapter changes the output");
            peft.save(dir);
        }
        assertEquals(config.placement().hfName(), AdapterFiles.readConfig(dir).get("placement").asText());
        try (PeftModel<PretrainedModel> loaded = PeftModel.load(net.model(), dir)) {
            assertBitIdentical(adapted, Nets.output(net), "the loaded adapter computes what the saved one did");
            assertEquals(config, ((BottleneckConfig) loaded.config("default")).withBaseModelNameOrPath(null));
            assertTrue(loaded.registry().trainable().isEmpty(), "a loaded adapter is frozen");
        }
    }

    @Test
    void disablingGivesTheBaseModelAndMergingIsRefused() {
        Nets.Net net = Nets.llama(6, false);
        INDArray base = Nets.output(net);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model())
                .adapter("default", BottleneckConfig.builder().placement(Placement.PARALLEL).build()).build()) {
            Nets.perturbTrainable(peft.module(), 0.3, 7);
            INDArray adapted = Nets.output(net);
            try (PeftModel.Scope off = peft.disableAdapters()) {
                assertBitIdentical(base, Nets.output(net), "disabled adapters compute the base model");
                assertTrue(peft.registry().trainable().isEmpty(), "nothing trains while disabled");
            }
            assertBitIdentical(adapted, Nets.output(net), "enabled again");
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, peft::merge);
            assertTrue(e.getMessage().contains("non-linear") && e.getMessage().contains("cannot be merged"), e.getMessage());
            IllegalArgumentException mixed = assertThrows(IllegalArgumentException.class, () -> peft.adapterPerSequence(List.of("default", "default")));
            assertTrue(mixed.getMessage().contains("one adapter per sequence"), mixed.getMessage());
        }
    }

    @Test
    void sequentialAndParallelAdaptersCannotShareAModule() {
        Nets.Net net = Nets.gpt2(8);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model())
                .adapter("seq", BottleneckConfig.builder().placement(Placement.PFEIFFER).build()).build()) {
            BottleneckConfig parallel = BottleneckConfig.builder().placement(Placement.PARALLEL).targetModules("c_proj").build();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> peft.addAdapter("par", parallel));
            assertTrue(e.getMessage().contains("holds sequential (houlsby, pfeiffer) adapters; a parallel adapter cannot share it"), e.getMessage());
            assertEquals(List.of("seq"), peft.adapterNames(), "the rejected adapter left no trace");
        }
    }

    @Test
    void sequentialAdaptersDoNotWrapBertResidualOutputs() {
        Nets.Net net = Nets.bert(9);
        BottleneckConfig config = BottleneckConfig.builder().placement(Placement.HOULSBY).targetModulesRegex(".*layer\\.\\d+\\.output").build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(net.model()).adapter("default", config).build());
        assertTrue(e.getMessage().contains("only parallel adapters wrap the output"), e.getMessage());
    }

    @Test
    void bottleneckSizeFollowsTheReductionFactor() {
        Nets.Net net = Nets.bert(10);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model())
                .adapter("default", BottleneckConfig.builder().placement(Placement.PFEIFFER).reductionFactor(4).build()).build()) {
            var state = peft.adapterState("default");
            String prefix = "base_model.model.bert.encoder.layer.0.output.dense.";
            org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {2, 8}, state.get(prefix + "adapter_down.weight").shape(), "hidden 8 / 4");
            org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {8, 2}, state.get(prefix + "adapter_up.weight").shape());
            assertEquals(8, state.size(), "four tensors per wrapper, two wrappers");
        }
        assertEquals(3, BottleneckConfig.builder().bottleneckSize(3).build().bottleneckFor(384));
        assertEquals(24, BottleneckConfig.builder().reductionFactor(16).build().bottleneckFor(384));
        assertEquals(1, BottleneckConfig.builder().reductionFactor(1000).build().bottleneckFor(384));
    }

    @ParameterizedTest
    @EnumSource(Placement.class)
    void jsonRoundTrip(Placement placement) {
        BottleneckConfig config = BottleneckConfig.builder().placement(placement).reductionFactor(8).nonLinearity(Activation.GELU).scaling(2.5)
                .initWeights(BottleneckInit.BERT).leaveOut(List.of(1, 3)).trainLayerNorms(true).modulesToSave("classifier").taskType(TaskType.SEQ_CLS)
                .baseModelNameOrPath("m").build();
        assertEquals(config, BottleneckConfig.fromHfJson(config.toHfJson()));
        assertEquals(placement.defaultScaling(), BottleneckConfig.builder().placement(placement).build().scaling());
        assertEquals("swish", BottleneckConfig.builder().nonLinearity(Activation.SILU).build().toHfJson().get("non_linearity").asText());
    }

    @Test
    void badConfigsAreRefusedNamingTheField() {
        assertMessage(() -> BottleneckConfig.builder().reductionFactor(0).build(), "reduction_factor must be a finite number > 0, got 0.0");
        assertMessage(() -> BottleneckConfig.builder().bottleneckSize(-1).build(), "bottleneck_size must be > 0");
        assertMessage(() -> BottleneckConfig.builder().scaling(0).build(), "scaling must be a finite non-zero number");
        assertMessage(() -> BottleneckConfig.builder().nonLinearity(Activation.GELU_TANH).build(), "non_linearity must be one of relu, gelu, swish, tanh");
        assertMessage(() -> BottleneckConfig.builder().leaveOut(List.of(-1)).build(), "leave_out must list layer indices >= 0");
        assertMessage(() -> BottleneckConfig.builder().placement(null).build(), "placement must be houlsby, pfeiffer or parallel");
        assertMessage(() -> Placement.parse("sideways"), "placement must be one of [houlsby, pfeiffer, parallel], got 'sideways'");
        assertMessage(() -> BottleneckInit.parse("xavier"), "init_weights must be one of [identity, bert], got 'xavier'");
        assertMessage(() -> BottleneckConfig.parseNonLinearity("softmax"), "non_linearity must be one of relu, gelu, swish, tanh, got 'softmax'");
        assertMessage(() -> BottleneckConfig.builder().leaveOut(List.of(0)).targets(TargetSpec.architectureDefault()
                .withExclude(new TargetSpec.Listed(List.of("c_proj")))).build(), "set leave_out or exclude_modules, not both");
        var json = BottleneckConfig.builder().build().toHfJson();
        json.put("peft_type", "LORA");
        assertMessage(() -> BottleneckConfig.fromHfJson(json), "this config needs \"BOTTLENECK_ADAPTER\"");
        var badSize = BottleneckConfig.builder().build().toHfJson().put("bottleneck_size", 2.5);
        assertMessage(() -> BottleneckConfig.fromHfJson(badSize), "bottleneck_size must be an integer, got 2.5");
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable bad, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, bad);
        assertTrue(e.getMessage().contains(expected), "message '" + e.getMessage() + "' lacks '" + expected + "'");
    }

    /** Trained LayerNorms are saved with the adapter under their own paths and load into a fresh model; two adapters cannot both train them. */
    @Test
    void trainedLayerNormsAreSavedAndLoaded(@TempDir Path dir) {
        Nets.Net net = Nets.bert(12);
        BottleneckConfig config = BottleneckConfig.builder().placement(Placement.PFEIFFER).trainLayerNorms(true).build();
        INDArray adapted;
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("default", config).build()) {
            assertTrue(peft.adapterState("default").containsKey("base_model.model.bert.encoder.layer.0.output.LayerNorm.weight"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> peft.addAdapter("other", config));
            assertTrue(e.getMessage().contains("adapter 'other' trains base param 'bert.embeddings.LayerNorm.weight', which adapter 'default' "
                    + "trains already"), e.getMessage());
            Nets.perturbTrainable(peft.module(), 0.3, 13);
            adapted = Nets.output(net);
            peft.save(dir);
        }
        Nets.Net fresh = Nets.bert(12);
        assertTrue(Nets.output(fresh).sub(adapted).amaxNumber().doubleValue() > 1e-6, "a fresh model has the original norms");
        try (PeftModel<PretrainedModel> loaded = PeftModel.load(fresh.model(), dir)) {
            assertBitIdentical(adapted, Nets.output(fresh), "the adapter and the trained norms load");
        }
    }
}
