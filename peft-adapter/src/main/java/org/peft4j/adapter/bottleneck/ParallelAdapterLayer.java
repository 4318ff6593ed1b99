package org.peft4j.adapter.bottleneck;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tuner.ModuleDict;

/**
 * The parallel adapter beside a layer (the feed-forward block of GPT-2 and LLaMA): y = base(x) +
 * Σ_active s·up(f(down(x))). Children {@code base_layer}, {@code adapter_down.<name>}, {@code adapter_up.<name>}.
 */
public final class ParallelAdapterLayer extends Layer implements BottleneckLayer {
    private final Slot<Layer> baseLayer;
    private final BottleneckAdapters adapters;

    /** Wraps {@code base} ({@code in} → {@code out} features) with adapters of params of {@code type}. */
    public ParallelAdapterLayer(Layer base, int in, int out, DataType type) {
        this.baseLayer = child("base_layer", Layer.class, base);
        this.adapters = new BottleneckAdapters(in, out, type);
        child("adapter_down", ModuleDict.class, adapters.down());
        child("adapter_up", ModuleDict.class, adapters.up());
    }

    @Override
    public BottleneckAdapters adapters() {
        return adapters;
    }

    @Override
    public String kind() {
        return "parallel";
    }

    @Override
    public Module baseLayer() {
        return baseLayer.get();
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray y = baseLayer.get().forward(x, tape);
        INDArray a = adapters.forward(x, tape);
        return a == null ? y : a.addi(y);
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        INDArray dx = adapters.backward(gradOutput, tape);
        INDArray dBase = baseLayer.get().backward(gradOutput, tape);
        return dx == null ? dBase : dBase.addi(dx);
    }

    @Override
    public String describe() {
        return "ParallelAdapterLayer(" + String.join(", ", adapterNames()) + ")";
    }
}
