package org.peft4j.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry.NamedParam;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.testing.TinyModels;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.lora.LoraConfig;
import org.peft4j.lora.LoraInit;
import org.peft4j.lora.LoraLinear;

/** The quantized frozen layer: its forward and input gradient, LoRA and DoRA over it (QLoRA), merging, and the model transform. */
class QuantizedLinearTest {
    private static final Kernels PORTABLE = KernelChoice.PORTABLE.resolve();
    private static final Kernels CPU = KernelChoice.CPU.resolve();
    private static final double TOL = 1e-6;

    private static Linear linear(int in, int out, WeightLayout layout, DataType type, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        long[] shape = layout == WeightLayout.OUT_IN ? new long[] {out, in} : new long[] {in, out};
        return new Linear(Param.frozen("weight", Init.normal(type, 0.5, rng, shape)), Param.frozen("bias", Init.normal(type, 0.1, rng, out)), layout);
    }

    private static Quantization nf4(int scratch) {
        return Quantization.builder().type(QuantType.NF4).blockSize(32).doubleQuant(true).scratchElements(scratch).build();
    }

    @Test
    void forwardAndInputGradientUseTheDequantizedWeightOnBothPathsWholeOrSliced() {
        for (WeightLayout layout : WeightLayout.values()) {
            Linear dense = linear(40, 24, layout, DataType.FLOAT, 1);
            INDArray x = Init.normal(DataType.FLOAT, 1.0, new SplittableRandom(2), 5, 40);
            INDArray g = Init.normal(DataType.FLOAT, 1.0, new SplittableRandom(3), 5, 24);
            INDArray[] ys = new INDArray[4];
            INDArray[] dxs = new INDArray[4];
            int k = 0;
            for (int scratch : new int[] {1 << 20, 200}) {                         // 200 elements: slices of 4 rows (alignment 4)
                QuantizedLinear q = QuantizedLinear.quantize(dense, nf4(scratch));
                INDArray w = q.dequantizeAll(true);                                 // [out, in]
                INDArray expectedY = x.mmul(w.transpose()).addRowVector(dense.bias().value());
                INDArray expectedDx = g.mmul(w);
                for (Kernels kernels : new Kernels[] {CPU, PORTABLE}) {
                    try (Tape t = Tape.recordingWithoutDropout(kernels)) {
                        ys[k] = q.forward(x, t);
                        dxs[k] = q.backward(g, t);
                        assertEquals(0, t.depth());
                    }
                    assertTrue(expectedY.equalsWithEps(ys[k], 1e-5), layout + " scratch " + scratch + " " + kernels);
                    assertTrue(expectedDx.equalsWithEps(dxs[k], 1e-5), layout + " scratch " + scratch + " " + kernels);
                    k++;
                }
                if (scratch == 200) {
                    assertTrue(q.sliceRows() < 24, "the small scratch makes several slices");
                }
                INDArray denseWeight = q.denseWeight();
                assertArrayEquals(dense.weight().shape(), denseWeight.shape(), "the dense weight keeps the Linear's layout");
                assertTrue((layout == WeightLayout.OUT_IN ? w : w.transpose()).equalsWithEps(denseWeight, 0));
            }
            assertEquals(ys[0], ys[1], "CPU and portable paths give the same output");
            assertEquals(dxs[0], dxs[1]);
        }
    }

    private static LoraLinear qlora(boolean dora, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        QuantizedLinear q = QuantizedLinear.quantize(linear(6, 5, WeightLayout.OUT_IN, DataType.DOUBLE, seed), nf4(1 << 20));
        LoraLinear layer = new LoraLinear(q);
        LoraConfig config = LoraConfig.builder().r(3).loraAlpha(6).initLoraWeights(LoraInit.RANDOM).useDora(dora).build();
        layer.addAdapter("default", 3, 6, config, rng);
        layer.adapterParams("default").values().forEach(p -> p.setTrainable(true));
        layer.setActiveAdapters(List.of("default"));
        if (dora) {
            layer.magnitude("default").value().addi(0.3);
        }
        return layer;
    }

    /** dL/dA, dL/dB (DoRA: dL/dm) and dL/dx of L = Σ layer(x) ⊙ probe against central differences, in double, on both paths. */
    @Test
    void qloraGradientsMatchFiniteDifferences() {
        for (boolean dora : new boolean[] {false, true}) {
            for (Kernels kernels : new Kernels[] {CPU, PORTABLE}) {
                LoraLinear layer = qlora(dora, dora ? 7 : 8);
                assertEquals(DataType.DOUBLE, layer.loraA("default").value().dataType(), "adapters take the base's type");
                SplittableRandom rng = new SplittableRandom(9);
                INDArray x = GradientCheck.randn(rng, 4, 6);
                INDArray probe = GradientCheck.randn(rng, 4, 5);
                Supplier<Double> loss = () -> {
                    try (Tape t = Tape.recordingWithoutDropout(kernels)) {
                        return layer.forward(x, t).mul(probe).sumNumber().doubleValue();
                    }
                };
                INDArray dx;
                try (Tape t = Tape.recordingWithoutDropout(kernels)) {
                    layer.forward(x, t);
                    dx = layer.backward(probe, t);
                    assertEquals(0, t.depth());
                }
                String what = (dora ? "DoRA " : "LoRA ") + kernels.getClass().getSimpleName();
                // DoRA's norm ‖W + s·B·A‖ is a constant in backward (as in HF PEFT), so only m and x have exact derivatives there
                layer.adapterParams("default").forEach((key, p) -> {
                    if (!dora || key.contains("magnitude")) {
                        GradientCheck.checkParam(what + " " + key, p, loss, 40, TOL, rng);
                    }
                });
                GradientCheck.check(what + " x", x, dx, loss, 24, TOL, rng);
            }
        }
    }

    /** Through a whole GPT-2 whose block Linears are NF4 (c_attn is a Conv1D, [in, out]) with the causal-LM loss. */
    @Test
    void qloraGradientsThroughAQuantizedGpt2() {
        Gpt2Model gpt2 = TinyModels.gpt2(TinyModels.tinyGpt2(), 31, DataType.DOUBLE, KernelChoice.AUTO);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).transformBase(Quantization.builder().blockSize(32).build()::apply)
                .adapter("default", LoraConfig.builder().r(2).loraAlpha(4).targetModules("c_attn", "c_fc").initLoraWeights(LoraInit.RANDOM).build())
                .seed(3).build()) {
            assertEquals(List.of("transformer.h.0.attn.c_attn.base_layer", "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_fc.base_layer",
                    "transformer.h.0.mlp.c_proj", "transformer.h.1.attn.c_attn.base_layer", "transformer.h.1.attn.c_proj",
                    "transformer.h.1.mlp.c_fc.base_layer", "transformer.h.1.mlp.c_proj"), ModuleTree.pathsOf(gpt2, QuantizedLinear.class),
                    "every block Linear is quantized before LoRA wraps c_attn and c_fc");
            assertFalse(ModuleTree.get(gpt2, "lm_head") instanceof QuantizedLinear, "the head stays in full precision");
            CausalLmTask task = new CausalLmTask(gpt2);
            TokenBatch batch = TinyModels.paddedBatch();
            try (Tape t = Tape.recordingWithoutDropout(gpt2.kernels())) {
                task.forward(batch, t);
                task.backward(t, 1.0);
                assertEquals(0, t.depth());
            }
            Supplier<Double> loss = () -> {
                try (Tape t = Tape.inference(gpt2.kernels())) {
                    return task.forward(batch, t).value();
                }
            };
            SplittableRandom rng = new SplittableRandom(4);
            List<NamedParam> trainable = peft.registry().trainable();
            assertEquals(8, trainable.size(), "A and B of c_attn and c_fc in two blocks");
            for (NamedParam np : trainable) {
                GradientCheck.checkParam(np.path(), np.param(), loss, 10, TOL, rng);
            }
        }
    }

    @Test
    void mergingRequantizesAndUnmergingComesBackClose() {
        LoraLinear layer = qlora(false, 12);
        QuantizedLinear base = (QuantizedLinear) layer.linearBase();
        INDArray before = base.denseWeight();
        INDArray delta = layer.deltaWeight("default");
        layer.merge(List.of("default"), true);
        INDArray merged = base.denseWeight();
        QuantizationError error = QuantizationError.of(before.add(delta), merged);
        assertTrue(error.relativeRms() > 0 && error.relativeRms() < 0.15, "requantized merge: " + error);
        INDArray x = GradientCheck.randn(new SplittableRandom(1), 3, 6);
        try (Tape t = Tape.inference(CPU)) {
            INDArray y = layer.forward(x, t);                                      // merged: the base alone
            INDArray expected = x.mmul(merged.transpose()).addRowVector(base.bias().value());
            assertTrue(expected.equalsWithEps(y, 1e-9));
        }
        layer.unmerge();
        assertTrue(QuantizationError.of(before, base.denseWeight()).relativeRms() < 0.15);
    }

    @Test
    void int8AndFp4LayersWorkToo() {
        Linear dense = linear(64, 16, WeightLayout.OUT_IN, DataType.FLOAT, 21);
        for (QuantType type : QuantType.values()) {
            QuantizedLinear q = QuantizedLinear.quantize(dense, Quantization.of(type, true));
            QuantizationError e = QuantizationError.of(dense.weight().value(), q.denseWeight());
            double bound = type == QuantType.INT8 ? 0.01 : 0.15;
            assertTrue(e.relativeRms() < bound, type + ": " + e);
        }
    }

    @Test
    void badArgumentsNameWhatIsAllowed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Quantization.builder().blockSize(5000).build());
        assertTrue(e.getMessage().contains("[32, 4096]"), e.getMessage());
        QuantizedLinear q = QuantizedLinear.quantize(linear(32, 4, WeightLayout.OUT_IN, DataType.FLOAT, 1), Quantization.qlora());
        try (Tape t = Tape.inference(CPU)) {
            e = assertThrows(IllegalArgumentException.class, () -> q.forward(Init.constant(DataType.FLOAT, 1, 2, 31), t));
            assertTrue(e.getMessage().contains("[n, 32]"), e.getMessage());
        }
        e = assertThrows(IllegalArgumentException.class, () -> q.setDenseWeight(Init.constant(DataType.FLOAT, 1, 32, 4)));
        assertTrue(e.getMessage().contains("[4, 32]"), e.getMessage());
    }
}
