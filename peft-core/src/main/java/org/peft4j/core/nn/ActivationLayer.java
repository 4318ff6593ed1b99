package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Activation;

/** y = f(x) element-wise for one of the {@link Activation} functions. */
public final class ActivationLayer extends Layer {
    private final Activation function;

    private record Saved(INDArray x) {
    }

    public ActivationLayer(Activation function) {
        this.function = java.util.Objects.requireNonNull(function, "activation function");
    }

    public Activation function() {
        return function;
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        tape.push(this, new Saved(x));
        return tape.kernels().activate(function, x);
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        return tape.kernels().activateBackward(function, s.x(), gradOutput);
    }

    @Override
    public String describe() {
        return "Activation(" + function.hfName() + ")";
    }
}
