package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The feed-forward block of a transformer: y = dropout(down(f(up(x)))). Child names follow the
 * architecture ({@code c_fc}/{@code c_proj} in GPT-2).
 */
public final class Mlp extends Layer {
    private final Slot<Layer> up;
    private final ActivationLayer activation;
    private final Slot<Layer> down;
    private final Dropout dropout;

    public Mlp(String upName, Layer up, ActivationLayer activation, String downName, Layer down, double dropout) {
        this.up = child(upName, Layer.class, up);
        this.activation = activation;
        this.down = child(downName, Layer.class, down);
        this.dropout = new Dropout(dropout);
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray h = up.get().forward(x, tape);          // [n, inner]
        h = activation.forward(h, tape);
        h = down.get().forward(h, tape);                 // [n, hidden]
        return dropout.forward(h, tape);
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        INDArray g = dropout.backward(gradOutput, tape);
        g = down.get().backward(g, tape);
        g = activation.backward(g, tape);
        return up.get().backward(g, tape);
    }

    @Override
    public String describe() {
        return "Mlp(" + activation.function().hfName() + ")";
    }
}
