package org.peft4j.prompt;

import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;

/** Layers run one after the other, children named {@code 0, 1, ...} as torch's {@code nn.Sequential} names them. */
public final class Sequential extends Layer {
    private final List<Slot<Layer>> layers;

    public Sequential(List<? extends Layer> layers) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("a Sequential needs at least one layer");
        }
        java.util.ArrayList<Slot<Layer>> slots = new java.util.ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            slots.add(child(String.valueOf(i), Layer.class, layers.get(i)));
        }
        this.layers = List.copyOf(slots);
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        for (Slot<Layer> l : layers) {
            x = l.get().forward(x, tape);
        }
        return x;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        INDArray g = gradOutput;
        for (int i = layers.size() - 1; i >= 0; i--) {
            g = layers.get(i).get().backward(g, tape);
        }
        return g;
    }

    @Override
    public String describe() {
        return "Sequential(" + layers.size() + " layers)";
    }
}
