package org.peft4j.adapter.bottleneck;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tuner.ModuleDict;

/**
 * Houlsby's and Pfeiffer's adapter after a layer: y = z + Σ_active s·up(f(down(z))) with z = base(x), so
 * the adapter sits on the layer's output before the model's residual sum. Children {@code base_layer},
 * {@code adapter_down.<name>}, {@code adapter_up.<name>}.
 */
public final class SequentialAdapterLayer extends Layer implements BottleneckLayer {
    private final Slot<Layer> baseLayer;
    private final BottleneckAdapters adapters;

    /** Wraps {@code base}, whose output has {@code features} features, with adapters of params of {@code type}. */
    public SequentialAdapterLayer(Layer base, int features, DataType type) {
        this.baseLayer = child("base_layer", Layer.class, base);
        this.adapters = new BottleneckAdapters(features, features, type);
        child("adapter_down", ModuleDict.class, adapters.down());
        child("adapter_up", ModuleDict.class, adapters.up());
    }

    @Override
    public BottleneckAdapters adapters() {
        return adapters;
    }

    @Override
    public String kind() {
        return "sequential (houlsby, pfeiffer)";
    }

    @Override
    public Module baseLayer() {
        return baseLayer.get();
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray z = baseLayer.get().forward(x, tape);
        INDArray a = adapters.forward(z, tape);                    // z is saved by the down-projection: not changed in place
        return a == null ? z : a.addi(z);
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        INDArray dz = adapters.backward(gradOutput, tape);
        return baseLayer.get().backward(dz == null ? gradOutput : dz.addi(gradOutput), tape);
    }

    @Override
    public String describe() {
        return "SequentialAdapterLayer(" + String.join(", ", adapterNames()) + ")";
    }
}
