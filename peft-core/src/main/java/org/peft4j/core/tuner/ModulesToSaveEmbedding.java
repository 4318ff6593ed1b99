package org.peft4j.core.tuner;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.EmbeddingLayer;
import org.peft4j.core.nn.Tape;

/** {@link ModulesToSave} around an {@link EmbeddingLayer} (a token embedding trained in full). */
public final class ModulesToSaveEmbedding extends EmbeddingLayer implements CopySetWrapper {
    private final CopySet set;

    ModulesToSaveEmbedding(EmbeddingLayer original) {
        this.set = new CopySet(original);
        child(ORIGINAL, EmbeddingLayer.class, original);
        child(COPIES, ModuleDict.class, set.copies());
    }

    @Override
    public int numEmbeddings() {
        return ((EmbeddingLayer) set.original()).numEmbeddings();
    }

    @Override
    public int embeddingDim() {
        return ((EmbeddingLayer) set.original()).embeddingDim();
    }

    @Override
    public INDArray forward(int[] ids, Tape tape) {
        return set.forward(this, tape, ids.length, module -> ((EmbeddingLayer) module).forward(ids, tape));
    }

    @Override
    public void backward(INDArray gradOutput, Tape tape) {
        tape.pop(this, EmbeddingLayer.class).backward(gradOutput, tape);
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
