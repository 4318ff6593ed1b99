package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.TinyModels;

/** Models, inputs and comparisons shared by the LoRA tests. */
final class Fixtures {
    private Fixtures() {
    }

    /** The tiny GPT-2 of the core tests (vocab 13, 2 blocks, hidden 8). */
    static Gpt2Model gpt2(DataType type, long seed) {
        return TinyModels.gpt2(TinyModels.tinyGpt2(), seed, type, KernelChoice.PORTABLE);
    }

    /** Logits of the tiny GPT-2 on three sequences of 5 tokens. */
    static INDArray logits(Gpt2Model model) {
        return logits(model, batch());
    }

    static INDArray logits(Gpt2Model model, TokenBatch batch) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, tape).dup();
        }
    }

    static TokenBatch batch() {
        return TokenBatch.causalLm(new int[][] {{1, 4, 7, 2, 9}, {3, 3, 8, 12, 0}, {5, 6, 1, 1, 2}});
    }

    /** The MLP's output for x. */
    static INDArray out(ToyModels.Mlp mlp, INDArray x) {
        try (Tape tape = Tape.inference(mlp.kernels())) {
            return mlp.forward(x, tape).dup();
        }
    }

    /** HF's MLP input: 0..89 as 9 rows of 10, scaled to keep activations moderate. */
    static INDArray mlpInput(DataType type) {
        return org.nd4j.linalg.factory.Nd4j.arange(90).reshape(9, 10).castTo(type).divi(90.0);
    }

    /** Copies of every param value by path. */
    static Map<String, INDArray> snapshot(Module root) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        new ParamRegistry(root).all().forEach(np -> out.put(np.path(), np.param().value().dup()));
        return out;
    }

    /** |a − b| ≤ atol + rtol·|b| element-wise (numpy's allclose). */
    static boolean close(INDArray a, INDArray b, double atol, double rtol) {
        assertArrayEquals(b.shape(), a.shape(), "shapes differ");
        double[] x = a.castTo(DataType.DOUBLE).dup().data().asDouble();
        double[] y = b.castTo(DataType.DOUBLE).dup().data().asDouble();
        for (int i = 0; i < x.length; i++) {
            if (!(Math.abs(x[i] - y[i]) <= atol + rtol * Math.abs(y[i]))) {
                return false;
            }
        }
        return true;
    }

    static void assertClose(INDArray expected, INDArray actual, double atol, String message) {
        assertTrue(close(actual, expected, atol, 0.0), message + ": max |difference| = "
                + actual.castTo(DataType.DOUBLE).sub(expected.castTo(DataType.DOUBLE)).amaxNumber());
    }

    static void assertBitIdentical(INDArray expected, INDArray actual, String message) {
        assertArrayEquals(expected.shape(), actual.shape(), message);
        assertArrayEquals(expected.dup().data().asDouble(), actual.dup().data().asDouble(), 0.0, message);
    }
}
