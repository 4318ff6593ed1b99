package org.peft4j.core.model.bert;

import java.util.List;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleList;
import org.peft4j.core.nn.Slot;

/** HF's {@code BertEncoder}: the stack of layers under the child {@code layer} ({@code encoder.layer.N}). */
public final class BertEncoder extends Module {
    private final Slot<ModuleList> layer;

    public BertEncoder(List<BertLayer> layers) {
        this.layer = child("layer", ModuleList.class, new ModuleList<>(BertLayer.class, layers));
    }

    /** The layers, in order (each possibly wrapped or replaced by a method). */
    @SuppressWarnings("unchecked")
    public ModuleList<BertLayer> layers() {
        return (ModuleList<BertLayer>) layer.get();
    }

    @Override
    public String describe() {
        return "BertEncoder(layers=" + layers().size() + ")";
    }
}
