package org.peft4j.adapter.bottleneck;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.bert.ResidualOutput;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tuner.ModuleDict;

/**
 * The parallel adapter of a BERT layer, around its residual output ({@code output}): the output computes
 * LayerNorm(dropout(dense(h)) + r) from the feed-forward result h and the feed-forward input r; the wrapper
 * passes r + Σ_active s·up(f(down(r))) as the residual, so the adapter reads the feed-forward block's input
 * and its output joins the block's before the LayerNorm. Children {@code base_layer}, {@code adapter_down.<name>},
 * {@code adapter_up.<name>}.
 */
public final class ParallelAdapterOutput extends ResidualOutput implements BottleneckLayer {
    private final Slot<ResidualOutput> baseLayer;
    private final BottleneckAdapters adapters;

    /** Wraps {@code base}, whose residual has {@code features} features, with adapters of params of {@code type}. */
    public ParallelAdapterOutput(ResidualOutput base, int features, DataType type) {
        this.baseLayer = child("base_layer", ResidualOutput.class, base);
        this.adapters = new BottleneckAdapters(true, features, features, type);
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
    public INDArray forward(INDArray hidden, INDArray residual, Tape tape) {
        INDArray a = adapters.forward(residual, tape);
        return baseLayer.get().forward(hidden, a == null ? residual : a.addi(residual), tape);
    }

    @Override
    public Gradients backward(INDArray gradOutput, Tape tape) {
        Gradients g = baseLayer.get().backward(gradOutput, tape);
        INDArray dr = adapters.backward(g.dResidual(), tape);
        return new Gradients(g.dHidden(), dr == null ? g.dResidual() : dr.addi(g.dResidual()));
    }

    @Override
    public String describe() {
        return "ParallelAdapterOutput(" + String.join(", ", adapterNames()) + ")";
    }
}
