package org.peft4j.core.model.bert;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.nn.ActivationLayer;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;

/** y = act(dense(x)): {@code [n, hidden]} → {@code [n, intermediate]}, with child {@code dense} (HF's {@code BertIntermediate}). */
public final class BertIntermediate extends Layer {
    private final Slot<Layer> dense;
    private final ActivationLayer activation;

    public BertIntermediate(Layer dense, Activation activation) {
        this.dense = child("dense", Layer.class, dense);
        this.activation = new ActivationLayer(activation);
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        return activation.forward(dense.get().forward(x, tape), tape);            // [n, intermediate]
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        return dense.get().backward(activation.backward(gradOutput, tape), tape);
    }

    @Override
    public String describe() {
        return "BertIntermediate(" + activation.function().hfName() + ")";
    }
}
