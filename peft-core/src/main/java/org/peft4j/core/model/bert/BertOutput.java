package org.peft4j.core.model.bert;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Dropout;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.LayerNorm;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;

/**
 * The post-LN residual output of a BERT sub-block: y = LayerNorm(dropout(dense(h)) + residual), with
 * children {@code dense} and {@code LayerNorm}. HF has two classes of this shape: {@code BertSelfOutput}
 * ({@code attention.output}, dense {@code [hidden, hidden]}) and {@code BertOutput} ({@code output},
 * dense {@code [hidden, intermediate]}); both are this module.
 */
public final class BertOutput extends ResidualOutput {
    private final Slot<Layer> dense;
    private final Slot<Layer> layerNorm;
    private final Dropout dropout;

    public BertOutput(Layer dense, LayerNorm layerNorm, double dropout) {
        this.dense = child("dense", Layer.class, dense);
        this.layerNorm = child("LayerNorm", Layer.class, layerNorm);
        this.dropout = new Dropout(dropout);
    }

    /** The dense projection now in its slot (possibly wrapped by a method). */
    public Layer dense() {
        return dense.get();
    }

    /** Returns LayerNorm(dropout(dense(hidden)) + residual) {@code [n, hidden]}. */
    @Override
    public INDArray forward(INDArray hidden, INDArray residual, Tape tape) {
        INDArray h = dropout.forward(dense.get().forward(hidden, tape), tape);     // [n, hidden]
        return layerNorm.get().forward(h.add(residual), tape);                     // the sum is saved by the norm
    }

    /** Returns dL/dh and dL/d(residual) for dL/dy; adds the param gradients. */
    @Override
    public Gradients backward(INDArray gradOutput, Tape tape) {
        INDArray dSum = layerNorm.get().backward(gradOutput, tape);                // [n, hidden]
        INDArray dHidden = dense.get().backward(dropout.backward(dSum, tape), tape);
        return new Gradients(dHidden, dSum);
    }

    @Override
    public String describe() {
        return "BertOutput(dropout=" + dropout.probability() + ")";
    }
}
