package org.peft4j.core.tuner;

import java.util.List;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;

/** {@link ModulesToSave} around a {@link Layer} (a classifier or other head): forward and backward run the current module. */
public final class ModulesToSaveLayer extends Layer implements ModulesToSave {
    private final CopySet set;

    ModulesToSaveLayer(Layer original) {
        this.set = new CopySet(original);
        child(ORIGINAL, Layer.class, original);
        child(COPIES, ModuleDict.class, set.copies());
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        List<String> names = set.perSequence(tape, x.rows());
        if (names != null) {
            INDArray y = ((Layer) set.original()).forward(x, tape);
            for (String adapter : set.copiedAmong(names)) {
                MixedBatches.copyRows(((Layer) set.copyOf(adapter)).forward(x, tape), y, names, adapter);
            }
            return y;
        }
        Layer current = (Layer) set.current();
        INDArray y = current.forward(x, tape);
        tape.push(this, current);
        return y;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        return tape.pop(this, Layer.class).backward(gradOutput, tape);
    }

    @Override
    public Module originalModule() {
        return set.original();
    }

    @Override
    public Set<String> adapterNames() {
        return set.adapterNames();
    }

    @Override
    public Module copyOf(String adapter) {
        return set.copyOf(adapter);
    }

    @Override
    public void addAdapter(String adapter, String owner) {
        set.add(adapter, owner);
    }

    @Override
    public void deleteAdapter(String adapter) {
        set.delete(adapter);
    }

    @Override
    public void setActiveAdapter(String adapter) {
        set.setActive(adapter);
    }

    @Override
    public String activeAdapter() {
        return set.active();
    }

    @Override
    public void setEnabled(boolean enabled) {
        set.setEnabled(enabled);
    }

    @Override
    public void setSequenceAdapters(List<String> perSequence) {
        set.setPerSequence(perSequence);
    }

    @Override
    public Module current() {
        return set.current();
    }

    CopySet copySet() {
        return set;
    }

    @Override
    public String describe() {
        return "ModulesToSave(" + String.join(", ", set.adapterNames()) + ")";
    }
}
