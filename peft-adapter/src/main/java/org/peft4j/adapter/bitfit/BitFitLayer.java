package org.peft4j.adapter.bitfit;

import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.tuner.AdapterSet;
import org.peft4j.adapter.AdapterSetLayer;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.LayerNorm;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.ParamDict;

/**
 * BitFit on one layer whose output ends with "+ bias" (a Linear with a bias, a LayerNorm): each adapter
 * holds a trainable change δ of the bias ({@code bitfit_bias.<name>}, zero at first), and y = base(x) +
 * Σ_active δ. Training δ is training the bias (dy/dδ = dy/db) while the base weights stay untouched, so
 * adapters can be disabled, swapped and saved alone; merging adds δ into the bias. Children
 * {@code base_layer} and {@code bitfit_bias}.
 */
public final class BitFitLayer extends Layer implements AdapterSetLayer<Param> {
    private final Slot<Layer> baseLayer;
    private final AdapterSet<Param> set = new AdapterSet<>();
    private ParamDict deltas = new ParamDict();

    private record Saved(List<Param> applied) {
    }

    /** Wraps {@code base}, which must be a Linear with a bias or a LayerNorm. */
    public BitFitLayer(Layer base) {
        biasOf(base, "the wrapped layer");
        this.baseLayer = child("base_layer", Layer.class, base);
        child("bitfit_bias", ParamDict.class, deltas);
    }

    /** The bias of {@code layer}; fails naming {@code what} when it has none. */
    static Param biasOf(Module layer, String what) {
        Param bias = layer instanceof Linear l ? l.bias() : layer instanceof LayerNorm n ? n.bias() : null;
        if (bias == null) {
            throw new IllegalArgumentException(what + " (" + layer.describe() + ") has no bias; BitFit trains bias terms only, "
                    + "of Linear layers with a bias and of LayerNorms");
        }
        return bias;
    }

    /** The base layer's bias. */
    private Param bias() {
        return biasOf(baseLayer.get(), "the wrapped layer");
    }

    /** Adds adapter {@code name}: a frozen δ of zeros, inactive. */
    public void addAdapter(String name) {
        INDArray b = bias().value();
        Param delta;
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            delta = Param.owned(name, BitFitMethod.ID, Init.constant(b.dataType(), 0.0, b.length()), false);
        }
        set.add(name, delta);
        setDeltas(deltas.with(delta));
    }

    private void setDeltas(ParamDict next) {
        deltas = next;
        replaceChild("bitfit_bias", next);
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray y = baseLayer.get().forward(x, tape);
        List<Param> applied = set.applied();
        for (Param delta : applied) {
            y.addiRowVector(delta.value());        // y is the base's new output; Linear and LayerNorm save their inputs, not y
        }
        tape.push(this, new Saved(applied));
        return y;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        for (Param delta : tape.pop(this, Saved.class).applied()) {
            if (delta.isTrainable()) {
                tape.kernels().addColumnSums(gradOutput, delta.grad());     // dδ += Σ_rows dy
            }
        }
        return baseLayer.get().backward(gradOutput, tape);
    }

    @Override
    public AdapterSet<Param> set() {
        return set;
    }

    @Override
    public String methodId() {
        return BitFitMethod.ID;
    }

    @Override
    public Module baseLayer() {
        return baseLayer.get();
    }

    @Override
    public void deleteAdapter(String name) {
        Param delta = set.remove(name);
        setDeltas(deltas.without(name));
        delta.close();
    }

    @Override
    public void merge(List<String> names, boolean safe) {
        if (safe) {
            checkMerge(names);
        }
        for (String name : set.mergeable(names)) {
            bias().value().addi(set.get(name).value());
            set.markMerged(name);
        }
    }

    @Override
    public void checkMerge(List<String> names) {
        INDArray sum = bias().value().dup();
        set.mergeable(names).forEach(n -> sum.addi(set.get(n).value()));
        double total = sum.sumNumber().doubleValue();
        if (!Double.isFinite(total)) {
            throw new IllegalStateException("merging " + names + " would give a bias with NaN or infinity; nothing was merged");
        }
    }

    @Override
    public void unmerge() {
        for (String name : set.clearMerged()) {
            bias().value().subi(set.get(name).value());
        }
    }

    @Override
    public Map<String, Param> adapterParams(String name) {
        return Map.of("bitfit_bias", set.get(name));
    }

    @Override
    public String describe() {
        return "BitFitLayer(" + String.join(", ", adapterNames()) + ")";
    }
}
