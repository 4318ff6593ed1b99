package org.peft4j.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;

/**
 * A layer's backward against central finite differences in double precision, every param trainable:
 * L = Σ y ⊙ probe with a random probe; checks every param and the input.
 */
public final class LayerGradients {
    private LayerGradients() {
    }

    /** Runs forward and backward once, then compares up to 40 entries of each param's gradient and of dL/dx with finite differences. */
    public static void check(Layer layer, INDArray x, SequenceContext ctx, Kernels kernels, long seed, double tolerance) {
        SplittableRandom rng = new SplittableRandom(seed);
        ParamRegistry registry = new ParamRegistry(layer);
        registry.unfreezeAll();
        INDArray probe;
        INDArray dx;
        try (Tape tape = Tape.recordingWithoutDropout(kernels)) {
            tape.setContext(ctx);
            INDArray y = layer.forward(x, tape);
            probe = GradientCheck.randn(rng, y.shape());
            dx = layer.backward(probe, tape);
            assertEquals(0, tape.depth(), "backward must pop everything forward pushed");
        }
        INDArray fixedProbe = probe;
        Supplier<Double> loss = () -> {
            try (Tape tape = Tape.inference(kernels)) {
                tape.setContext(ctx);
                return layer.forward(x, tape).mul(fixedProbe).sumNumber().doubleValue();
            }
        };
        for (ParamRegistry.NamedParam np : registry.all()) {
            GradientCheck.checkParam(np.path(), np.param(), loss, 40, tolerance, rng);
        }
        GradientCheck.check("x", x, dx, loss, 40, tolerance, rng);
    }
}
