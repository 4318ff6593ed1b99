package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A module that maps activations to activations of rows {@code [n, features]}, where
 * {@code n = batch · sequence}. Sequence geometry (batch size, masks) comes from the {@link Tape}.
 *
 * <p>Contract: {@code forward} saves what backward needs on the tape (only while the tape records);
 * {@code backward} pops it, adds dL/dθ into the gradient of every trainable param and returns dL/dx.
 * Calls are strictly last-in first-out across all modules of one pass.
 */
public abstract class Layer extends Module {
    /** Returns y for input x. Inputs and outputs are c-ordered, non-view arrays. */
    public abstract INDArray forward(INDArray x, Tape tape);

    /** Returns dL/dx for dL/dy and adds the param gradients. */
    public abstract INDArray backward(INDArray gradOutput, Tape tape);
}
