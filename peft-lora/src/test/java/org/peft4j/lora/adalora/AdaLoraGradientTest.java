package org.peft4j.lora.adalora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry.NamedParam;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.testing.TinyModels;
import org.peft4j.core.train.TrainingHook;
import org.peft4j.core.tuner.PeftModel;

/**
 * Central finite differences in double precision against AdaLoRA's hand-written backward pass (A, E, B and
 * dL/dx) and against the gradient of the orthogonal regularizer the trainer adds, through a whole GPT-2.
 * The adapters start with init_lora_weights false (E ≠ 0), otherwise dL/dA and dL/dB would vanish.
 */
class AdaLoraGradientTest {
    private static final Kernels KERNELS = KernelChoice.PORTABLE.resolve();
    private static final double TOL = 1e-6;

    static AdaLoraConfig.Builder random() {
        return AdaLoraConfig.builder().initR(3).targetR(2).loraAlpha(6).initLoraWeights(false);
    }

    private static AdaLoraLinear layer(WeightLayout layout, long seed, AdaLoraConfig config) {
        SplittableRandom rng = new SplittableRandom(seed);
        long[] shape = layout == WeightLayout.OUT_IN ? new long[] {4, 5} : new long[] {5, 4};
        Linear base = new Linear(Param.frozen("weight", Init.uniform(DataType.DOUBLE, 0.5, rng, shape)),
                Param.frozen("bias", Init.uniform(DataType.DOUBLE, 0.5, rng, 4)), layout);
        AdaLoraLinear layer = new AdaLoraLinear(base);
        layer.addAdapter("default", "m", config, rng);
        layer.adapterParams("default").values().forEach(p -> p.setTrainable(true));
        layer.setActiveAdapters(List.of("default"));
        return layer;
    }

    private static void checkLayer(AdaLoraLinear layer, boolean dropout, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        INDArray x = GradientCheck.randn(rng, 6, 5);
        INDArray probe = GradientCheck.randn(rng, 6, 4);
        Supplier<Tape> tapes = () -> dropout ? Tape.training(KERNELS, 7) : Tape.recordingWithoutDropout(KERNELS);
        Supplier<Double> loss = () -> {
            try (Tape t = tapes.get()) {
                return layer.forward(x, t).mul(probe).sumNumber().doubleValue();
            }
        };
        INDArray dx;
        try (Tape t = tapes.get()) {
            layer.forward(x, t);
            dx = layer.backward(probe, t);
            assertEquals(0, t.depth(), "backward pops everything forward pushed");
        }
        layer.adapterParams("default").forEach((key, p) -> GradientCheck.checkParam(key, p, loss, 40, TOL, rng));
        GradientCheck.check("x", x, dx, loss, 30, TOL, rng);
    }

    @Test
    void svdLinear() {
        checkLayer(layer(WeightLayout.OUT_IN, 1, random().build()), false, 11);
    }

    @Test
    void fanInFanOut() {
        checkLayer(layer(WeightLayout.IN_OUT, 2, random().build()), false, 12);
    }

    @Test
    void dropoutWithAFixedMask() {
        checkLayer(layer(WeightLayout.OUT_IN, 3, random().loraDropout(0.4).build()), true, 13);
    }

    @Test
    void maskedTripletsGiveNoOutputButKeepTheirGradient() {
        AdaLoraLinear layer = layer(WeightLayout.OUT_IN, 4, random().build());
        layer.keep("default", new boolean[] {true, false, true});
        assertEquals(0.0, layer.loraE("default").value().getDouble(1, 0), "a masked λ is 0");
        assertEquals(2, layer.rank("default"));
        assertEquals(List.of(true, false, true), layer.keptTriplets("default"));
        INDArray delta = layer.deltaWeight("default");
        INDArray expected = layer.loraB("default").value().getColumn(0).reshape(4, 1)
                .mmul(layer.loraA("default").value().getRow(0).reshape(1, 5)).muli(layer.loraE("default").value().getDouble(0, 0))
                .addi(layer.loraB("default").value().getColumn(2).reshape(4, 1)
                        .mmul(layer.loraA("default").value().getRow(2).reshape(1, 5)).muli(layer.loraE("default").value().getDouble(2, 0)))
                .muli(6 / (3 + 1e-5));
        assertTrue(expected.equalsWithEps(delta, 1e-12), "ΔW = s·Σ_kept λ_i·B[:, i]·A[i, :]");
        checkLayer(layer, false, 14);
    }

    /** AD-01 and AD-06: the default init (E = 0) leaves the output as it was; merging gives the same outputs and unmerging restores W. */
    @Test
    void identityInitAndMergeRoundTrip() {
        SplittableRandom rng = new SplittableRandom(21);
        INDArray x = GradientCheck.randn(rng, 6, 5);
        AdaLoraLinear identity = layer(WeightLayout.OUT_IN, 5, AdaLoraConfig.builder().initR(3).targetR(2).build());
        try (Tape t = Tape.inference(KERNELS); Tape u = Tape.inference(KERNELS)) {
            assertEquals(identity.baseLayer().forward(x, t), identity.forward(x, u), "E = 0: the output is the base output");
        }
        for (WeightLayout layout : WeightLayout.values()) {
            AdaLoraLinear layer = layer(layout, 6, random().build());
            INDArray w = layer.baseLayer().weight().value().dup();
            INDArray unmerged;
            INDArray merged;
            try (Tape t = Tape.inference(KERNELS)) {
                unmerged = layer.forward(x, t).dup();
            }
            layer.merge(List.of("default"), true);
            try (Tape t = Tape.inference(KERNELS)) {
                merged = layer.forward(x, t).dup();
            }
            assertTrue(unmerged.equalsWithEps(merged, 1e-12), layout + ": merged outputs equal the unmerged ones");
            assertTrue(!w.equalsWithEps(layer.baseLayer().weight().value(), 1e-6), "merging changed W");
            layer.unmerge();
            assertTrue(w.equalsWithEps(layer.baseLayer().weight().value(), 1e-12), layout + ": unmerging restores W");
        }
    }

    /** The whole training loss, task loss plus orth_reg_weight·mean‖·‖_F, through GPT-2: every A, E and B. */
    @Test
    void throughGpt2WithTheRegularizer() {
        Gpt2Model gpt2 = TinyModels.gpt2(TinyModels.tinyGpt2(), 31, DataType.DOUBLE, KernelChoice.PORTABLE);
        AdaLoraConfig config = random().orthRegWeight(0.7).targetModules("c_attn", "c_fc").totalStep(10).build();
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", config).seed(3).build()) {
            CausalLmTask task = new CausalLmTask(gpt2);
            TokenBatch batch = TinyModels.paddedBatch();
            TrainingHook hook = peft.trainableTask(task).trainingHook();
            hook.onStart(10);
            RankAllocator allocator = (RankAllocator) hook;
            try (Tape t = Tape.recordingWithoutDropout(gpt2.kernels())) {
                task.forward(batch, t);
                task.backward(t, 1.0);
            }
            double reg = hook.addLoss();
            assertEquals(allocator.regularization(), reg, 1e-12);
            assertTrue(reg > 0.1, "random triplets are far from orthogonal: " + reg);
            Supplier<Double> loss = () -> {
                try (Tape t = Tape.inference(gpt2.kernels())) {
                    return task.forward(batch, t).value() + allocator.regularization();
                }
            };
            List<NamedParam> trainable = peft.registry().trainable();
            assertEquals(12, trainable.size(), "A, E and B of c_attn and c_fc in two blocks");
            SplittableRandom rng = new SplittableRandom(4);
            for (NamedParam np : trainable) {
                GradientCheck.checkParam(np.path(), np.param(), loss, 12, TOL, rng);
            }
        }
    }
}
