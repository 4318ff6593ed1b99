package org.peft4j.core.tuner;

import java.util.List;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.EmbeddingLayer;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;

/** {@link ModulesToSave} around an {@link EmbeddingLayer} (a token embedding trained in full). */
public final class ModulesToSaveEmbedding extends EmbeddingLayer implements ModulesToSave {
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
        List<String> names = set.perSequence(tape, ids.length);
        if (names != null) {
            INDArray y = ((EmbeddingLayer) set.original()).forward(ids, tape);
            for (String adapter : set.copiedAmong(names)) {
                MixedBatches.copyRows(((EmbeddingLayer) set.copyOf(adapter)).forward(ids, tape), y, names, adapter);
            }
            return y;
        }
        EmbeddingLayer current = (EmbeddingLayer) set.current();
        INDArray y = current.forward(ids, tape);
        tape.push(this, current);
        return y;
    }

    @Override
    public void backward(INDArray gradOutput, Tape tape) {
        tape.pop(this, EmbeddingLayer.class).backward(gradOutput, tape);
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
