package org.peft4j.core.tuner;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Tape;

/** {@link ModulesToSave} around a {@link Layer} (a classifier or other head): forward and backward run the current module. */
public final class ModulesToSaveLayer extends Layer implements CopySetWrapper {
    private final CopySet set;

    ModulesToSaveLayer(Layer original) {
        this.set = new CopySet(original);
        child(ORIGINAL, Layer.class, original);
        child(COPIES, ModuleDict.class, set.copies());
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        return set.forward(this, tape, x.rows(), module -> ((Layer) module).forward(x, tape));
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        return tape.pop(this, Layer.class).backward(gradOutput, tape);
    }

    @Override
    public CopySet copySet() {
        return set;
    }

    @Override
    public String describe() {
        return "ModulesToSave(" + String.join(", ", set.adapterNames()) + ")";
    }
}
