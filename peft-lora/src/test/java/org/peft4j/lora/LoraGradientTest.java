package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
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
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry.NamedParam;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.testing.TinyModels;
import org.peft4j.core.tuner.PeftModel;

/**
 * Central finite differences in double precision against the hand-written backward passes of LoRA,
 * rsLoRA, DoRA, fan_in_fan_out, dropout, several active adapters and LoRA on an embedding. B (and for
 * embeddings A) start non-zero, otherwise dL/dA ≡ 0 and a check would pass vacuously.
 */
class LoraGradientTest {
    private static final Kernels KERNELS = KernelChoice.PORTABLE.resolve();
    private static final double TOL = 1e-6;

    private static LoraConfig.Builder random() {
        return LoraConfig.builder().r(3).loraAlpha(6).initLoraWeights(LoraInit.RANDOM);
    }

    private static LoraLinear layer(WeightLayout layout, long seed, LoraConfig... adapters) {
        SplittableRandom rng = new SplittableRandom(seed);
        LoraLinear layer = new LoraLinear(ToyModels.linear(5, 4, true, layout, DataType.DOUBLE, rng));
        List<String> names = new ArrayList<>();
        for (int i = 0; i < adapters.length; i++) {
            String name = "a" + i;
            layer.addAdapter(name, adapters[i].r(), adapters[i].loraAlpha(), adapters[i], rng);
            layer.adapterParams(name).values().forEach(p -> p.setTrainable(true));
            names.add(name);
        }
        layer.setActiveAdapters(names);
        return layer;
    }

    private static Tape tape(boolean dropout) {
        return dropout ? Tape.training(KERNELS, 7) : Tape.recordingWithoutDropout(KERNELS);
    }

    /**
     * Checks every adapter param and dL/dx of L = Σ layer(x) ⊙ probe. DoRA's norm ‖W + s·B·A‖ is a constant
     * in backward (as in HF PEFT), so the numeric derivatives hold it at its value at the checked point.
     */
    private static void checkLayer(LoraLinear layer, boolean dropout, long seed) {
        layer.pinDoraNorms(true);
        SplittableRandom rng = new SplittableRandom(seed);
        INDArray x = GradientCheck.randn(rng, 6, 5);
        INDArray probe = GradientCheck.randn(rng, 6, 4);
        Supplier<Double> loss = () -> {
            try (Tape t = tape(dropout)) {
                return layer.forward(x, t).mul(probe).sumNumber().doubleValue();
            }
        };
        INDArray dx;
        try (Tape t = tape(dropout)) {
            layer.forward(x, t);
            dx = layer.backward(probe, t);
            assertEquals(0, t.depth(), "backward pops everything forward pushed");
        }
        for (String name : layer.adapterNames()) {
            layer.adapterParams(name).forEach((key, p) -> GradientCheck.checkParam(name + "." + key, p, loss, 40, TOL, rng));
        }
        GradientCheck.check("x", x, dx, loss, 30, TOL, rng);
        layer.pinDoraNorms(false);
    }

    @Test
    void lora() {
        checkLayer(layer(WeightLayout.OUT_IN, 1, random().build()), false, 11);
    }

    @Test
    void rsLora() {
        checkLayer(layer(WeightLayout.OUT_IN, 2, random().useRslora(true).build()), false, 12);
    }

    @Test
    void fanInFanOut() {
        checkLayer(layer(WeightLayout.IN_OUT, 3, random().build()), false, 13);
    }

    @Test
    void dora() {
        LoraLinear layer = layer(WeightLayout.OUT_IN, 4, random().useDora(true).build());
        layer.magnitude("a0").value().addi(0.3);                     // m ≠ ‖W + s·B·A‖, so c ≠ 1
        checkLayer(layer, false, 14);
    }

    @Test
    void doraFanInFanOut() {
        LoraLinear layer = layer(WeightLayout.IN_OUT, 5, random().useDora(true).build());
        layer.magnitude("a0").value().addi(0.3);
        checkLayer(layer, false, 15);
    }

    @Test
    void dropoutWithAFixedMask() {
        checkLayer(layer(WeightLayout.OUT_IN, 6, random().loraDropout(0.4).build()), true, 16);
        LoraLinear dora = layer(WeightLayout.OUT_IN, 7, random().loraDropout(0.4).useDora(true).build());
        dora.magnitude("a0").value().addi(0.2);
        checkLayer(dora, true, 17);
    }

    @Test
    void severalActiveAdaptersAddUp() {
        LoraLinear layer = layer(WeightLayout.OUT_IN, 8, random().build(), random().r(2).useDora(true).build(), random().useRslora(true).build());
        layer.magnitude("a1").value().muli(1.5);
        checkLayer(layer, false, 18);
    }

    private static void checkEmbedding(boolean dora, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        LoraEmbedding layer = new LoraEmbedding(Embedding.normal(7, 4, 1.0, DataType.DOUBLE, rng));
        LoraConfig config = random().useDora(dora).build();
        layer.addAdapter("default", 3, 6, config, rng);
        layer.adapterParams("default").values().forEach(p -> p.setTrainable(true));
        layer.setActiveAdapters(List.of("default"));
        if (dora) {
            layer.magnitude("default").value().addi(0.3);
        }
        layer.pinDoraNorms(true);
        int[] ids = {1, 4, 4, 6, 0, 2, 1};
        INDArray probe = GradientCheck.randn(rng, ids.length, 4);
        Supplier<Double> loss = () -> {
            try (Tape t = Tape.recordingWithoutDropout(KERNELS)) {
                return layer.forward(ids, t).mul(probe).sumNumber().doubleValue();
            }
        };
        try (Tape t = Tape.recordingWithoutDropout(KERNELS)) {
            layer.forward(ids, t);
            layer.backward(probe, t);
            assertEquals(0, t.depth());
        }
        layer.adapterParams("default").forEach((key, p) -> GradientCheck.checkParam(key, p, loss, 40, TOL, rng));
    }

    @Test
    void loraOnEmbedding() {
        checkEmbedding(false, 21);
    }

    @Test
    void doraOnEmbedding() {
        checkEmbedding(true, 22);
    }

    /** Through a whole GPT-2 (c_attn is a Conv1D, [in, out]) with the Trainer's task: gradients reach every block's A and B. */
    @Test
    void throughGpt2WithCausalLmTask() {
        Gpt2Model gpt2 = TinyModels.gpt2(TinyModels.tinyGpt2(), 31, DataType.DOUBLE, KernelChoice.PORTABLE);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2)
                .adapter("default", LoraConfig.builder().r(2).loraAlpha(4).targetModules("c_attn", "c_fc").initLoraWeights(LoraInit.RANDOM).build())
                .seed(3).build()) {
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
            assertTrue(peft.registry().all().stream().filter(np -> !trainable.contains(np)).noneMatch(NamedParam::trainable),
                    "every other param is frozen and has no gradient buffer (TR-01)");
            for (NamedParam np : trainable) {
                Param p = np.param();
                GradientCheck.checkParam(np.path(), p, loss, 12, TOL, rng);
            }
        }
    }

    @Test
    void sequenceContextIsOptionalForLayerPasses() {
        LoraLinear layer = layer(WeightLayout.OUT_IN, 9, random().build());
        try (Tape t = Tape.inference(KERNELS)) {
            t.setContext(new SequenceContext(2, 3, null));
            assertEquals(4, layer.forward(GradientCheck.randn(new SplittableRandom(1), 6, 5), t).columns());
        }
        Linear base = (Linear) layer.baseLayer();
        assertEquals(5, base.inFeatures());
    }
}
