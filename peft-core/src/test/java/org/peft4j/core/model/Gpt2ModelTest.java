package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.testing.TinyModels;
import org.peft4j.core.train.Loss;

class Gpt2ModelTest {

    /** Loss of a fresh inference pass. */
    static double loss(CausalLmTask task, TokenBatch batch) {
        try (Tape tape = Tape.inference(task.kernels())) {
            return task.forward(batch, tape).value();
        }
    }

    /** Forward and backward once with no dropout; gradients land in the trainable params. */
    static Loss lossAndGradients(CausalLmTask task, TokenBatch batch) {
        try (Tape tape = Tape.recordingWithoutDropout(task.kernels())) {
            Loss loss = task.forward(batch, tape);
            task.backward(tape, 1.0);
            assertEquals(0, tape.depth(), "backward must consume everything forward saved");
            return loss;
        }
    }

    @Test
    void wholeModelGradientsMatchFiniteDifferences() {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 3, DataType.DOUBLE, KernelChoice.PORTABLE);
        ParamRegistry registry = new ParamRegistry(model);
        registry.unfreezeAll();
        CausalLmTask task = new CausalLmTask(model);
        TokenBatch batch = TinyModels.paddedBatch();
        lossAndGradients(task, batch);
        SplittableRandom rng = new SplittableRandom(4);
        for (ParamRegistry.NamedParam np : registry.all()) {
            GradientCheck.checkParam(np.path(), np.param(), () -> loss(task, batch), 25, 1e-6, rng);
        }
    }

    @Test
    void hfParameterPathsAndTiedHead() {
        Gpt2Model model = Gpt2Model.random(Gpt2Config.builder().vocabSize(10).nPositions(8).nEmbd(4).nLayer(1).nHead(2).build(), 1,
                DataType.FLOAT, KernelChoice.AUTO);
        List<String> paths = new ParamRegistry(model).paths();
        assertEquals(List.of("transformer.wte.weight", "transformer.wpe.weight",
                "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
                "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
                "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias",
                "transformer.h.0.ln_2.weight", "transformer.h.0.ln_2.bias",
                "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
                "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias",
                "transformer.ln_f.weight", "transformer.ln_f.bias"), paths, "HF GPT2LMHeadModel names; lm_head tied to wte");
        ParamRegistry registry = new ParamRegistry(model);
        assertEquals(4 * 12, registry.get("transformer.h.0.attn.c_attn.weight").length(), "Conv1D layout [in, out] = [4, 12]");
        assertEquals(4, registry.get("transformer.h.0.attn.c_attn.weight").shape()[0]);
    }

    @Test
    void cpuAndPortableKernelsGiveTheSameLogitsAndGradients() {
        Gpt2Config config = TinyModels.tinyGpt2();
        Gpt2Model cpu = Gpt2Model.random(config, 5, DataType.FLOAT, KernelChoice.CPU);
        Gpt2Model portable = Gpt2Model.random(config, 5, DataType.FLOAT, KernelChoice.PORTABLE);
        new ParamRegistry(cpu).unfreezeAll();
        new ParamRegistry(portable).unfreezeAll();
        TokenBatch batch = TinyModels.paddedBatch();
        Loss a = lossAndGradients(new CausalLmTask(cpu), batch);
        Loss b = lossAndGradients(new CausalLmTask(portable), batch);
        assertEquals(b.value(), a.value(), 1e-5);
        List<ParamRegistry.NamedParam> pa = new ParamRegistry(cpu).all();
        List<ParamRegistry.NamedParam> pb = new ParamRegistry(portable).all();
        for (int i = 0; i < pa.size(); i++) {
            INDArray ga = pa.get(i).param().grad();
            INDArray gb = pb.get(i).param().grad();
            double diff = ga.sub(gb).amaxNumber().doubleValue();
            assertTrue(diff < 1e-5 * Math.max(1, gb.amaxNumber().doubleValue()), pa.get(i).path() + " differs by " + diff);
        }
    }

    @Test
    void freezingAllButTheLastBlockSkipsBackwardBelowIt() {
        Gpt2Config config = TinyModels.tinyGpt2();
        Gpt2Model full = Gpt2Model.random(config, 7, DataType.DOUBLE, KernelChoice.PORTABLE);
        Gpt2Model partial = Gpt2Model.random(config, 7, DataType.DOUBLE, KernelChoice.PORTABLE);
        new ParamRegistry(full).unfreezeAll();
        ParamRegistry registry = new ParamRegistry(partial);
        registry.unfreezeMatching(java.util.regex.Pattern.compile("transformer\\.h\\.1\\..*"));
        TokenBatch batch = TinyModels.paddedBatch();
        int fullDepth;
        int partialDepth;
        try (Tape tape = Tape.recordingWithoutDropout(full.kernels())) {
            new CausalLmTask(full).forward(batch, tape);
            fullDepth = tape.depth();
        }
        try (Tape tape = Tape.recordingWithoutDropout(partial.kernels())) {
            new CausalLmTask(partial).forward(batch, tape);
            partialDepth = tape.depth();
        }
        assertTrue(partialDepth < fullDepth, "block 0 and the embeddings save nothing: " + partialDepth + " vs " + fullDepth);
        lossAndGradients(new CausalLmTask(full), batch);
        lossAndGradients(new CausalLmTask(partial), batch);
        for (ParamRegistry.NamedParam np : registry.trainable()) {
            INDArray expected = new ParamRegistry(full).get(np.path()).grad();
            assertTrue(expected.equalsWithEps(np.param().grad(), 1e-12), np.path());
        }
        assertThrows(IllegalStateException.class, () -> registry.get("transformer.h.0.attn.c_attn.weight").grad());
    }

    @Test
    void sequencesLongerThanPositionsAreRejected() {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 1, DataType.FLOAT, KernelChoice.AUTO);
        TokenBatch tooLong = TokenBatch.causalLm(new int[][] {new int[17]});
        try (Tape tape = Tape.inference(model.kernels())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.forward(tooLong, tape));
            assertTrue(e.getMessage().contains("n_positions = 16"), e.getMessage());
        }
    }

    @Test
    void paddingDoesNotChangeTheLogitsOfRealTokens() {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 9, DataType.DOUBLE, KernelChoice.PORTABLE);
        TokenBatch padded = new TokenBatch(1, 5, new int[] {1, 4, 7, 0, 0}, new int[] {1, 1, 1, 0, 0}, null);
        TokenBatch alone = new TokenBatch(1, 3, new int[] {1, 4, 7}, null, null);
        INDArray a;
        INDArray b;
        try (Tape tape = Tape.inference(model.kernels())) {
            a = model.forward(padded, tape).getRows(0, 1, 2);
        }
        try (Tape tape = Tape.inference(model.kernels())) {
            b = model.forward(alone, tape);
        }
        assertTrue(a.equalsWithEps(b, 1e-12));
    }
}
