package org.peft4j.core.model.bert;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;

/**
 * The slot type of a BERT sub-block's post-LN residual output (children {@code attention.output} and
 * {@code output} of a layer): y = f(h, residual), where h is the sub-block's result and residual its
 * input. {@link BertOutput} is the model's own; a method may put a wrapper in the slot that sees both
 * inputs (a parallel adapter adds a function of the residual to the sum before the norm).
 */
public abstract class ResidualOutput extends Module {
    /** dL/dh (through dense) and dL/d(residual) for one backward pass. */
    public record Gradients(INDArray dHidden, INDArray dResidual) {
    }

    /** Returns y {@code [n, hidden]} for the sub-block's result {@code hidden} and its input {@code residual}. */
    public abstract INDArray forward(INDArray hidden, INDArray residual, Tape tape);

    /** Returns dL/dh and dL/d(residual) for dL/dy; adds the param gradients. */
    public abstract Gradients backward(INDArray gradOutput, Tape tape);
}
