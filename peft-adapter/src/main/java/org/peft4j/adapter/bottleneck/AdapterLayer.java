package org.peft4j.adapter.bottleneck;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tuner.ModuleDict;

/**
 * Bottleneck adapters around a layer, A(z) = s·up(f(down(z))) summed over the active adapters.
 * Sequential (Houlsby, Pfeiffer): y = z + A(z) with z = base(x), the adapter on the layer's output before
 * the model's residual sum. Parallel (beside GPT-2's and LLaMA's feed-forward block): y = base(x) + A(x).
 * Children {@code base_layer}, {@code adapter_down.<name>}, {@code adapter_up.<name>}.
 */
public final class AdapterLayer extends Layer implements BottleneckLayer {
    private final Slot<Layer> baseLayer;
    private final BottleneckAdapters adapters;

    /**
     * Wraps {@code base} ({@code in} → {@code out} features) with adapters of params of {@code type}; sequential
     * adapters read the output, so they need {@code in} = {@code out} = the output size.
     */
    public AdapterLayer(Layer base, boolean parallel, int in, int out, DataType type) {
        if (!parallel && in != out) {
            throw new IllegalArgumentException("a sequential adapter maps the layer's output to itself: in (" + in + ") must equal out (" + out + ")");
        }
        this.baseLayer = child("base_layer", Layer.class, base);
        this.adapters = new BottleneckAdapters(parallel, in, out, type);
        child("adapter_down", ModuleDict.class, adapters.down());
        child("adapter_up", ModuleDict.class, adapters.up());
    }

    @Override
    public BottleneckAdapters adapters() {
        return adapters;
    }

    @Override
    public Module baseLayer() {
        return baseLayer.get();
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray y = baseLayer.get().forward(x, tape);
        INDArray a = adapters.forward(adapters.parallel() ? x : y, tape);   // y is saved by a sequential down-projection: not changed in place
        return a == null ? y : a.addi(y);
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        INDArray dz = adapters.backward(gradOutput, tape);
        if (dz == null) {
            return baseLayer.get().backward(gradOutput, tape);
        }
        if (adapters.parallel()) {
            return baseLayer.get().backward(gradOutput, tape).addi(dz);      // dL/dx through the base and through the adapters
        }
        return baseLayer.get().backward(dz.addi(gradOutput), tape);          // dL/dz = dL/dy + dL/dz through the adapters
    }

    @Override
    public String describe() {
        return "AdapterLayer(" + kind() + ": " + String.join(", ", adapterNames()) + ")";
    }
}
