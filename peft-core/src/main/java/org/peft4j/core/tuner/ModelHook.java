package org.peft4j.core.tuner;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.InputHook;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;

/**
 * One adapter of a method that adapts the model as a whole at its input instead of wrapping modules (HF
 * PEFT's prompt encoders): it prepends rows to the token embeddings (virtual tokens) or sets past
 * keys/values for every attention layer. A {@link PeftMethod} whose {@link PeftMethod#adaptsInput()} is
 * true creates one per adapter; {@link PeftModel} attaches it to the model's input hooks, switches it on
 * while its adapter is the active one (off, it passes the embeddings through), makes its params trainable,
 * and saves and loads the tensors it names.
 */
public abstract class ModelHook extends InputHook {
    private boolean active;

    /** The id of the method that made this hook ({@link PeftMethod#id()}). */
    public abstract String methodId();

    /** The adapter's config with what the model decided filled in (sizes taken from the model), as it is saved. */
    public abstract PeftConfig config();

    /** True while the hook changes the model's input. */
    public final boolean isActive() {
        return active;
    }

    final void setActive(boolean on) {
        this.active = on;
    }

    @Override
    public final INDArray forward(INDArray tokenEmbeddings, Tape tape) {
        boolean applied = active;
        INDArray out = applied ? apply(tokenEmbeddings, tape) : tokenEmbeddings;
        tape.push(this, applied);
        return out;
    }

    @Override
    public final INDArray backward(INDArray gradOutput, Tape tape) {
        boolean applied = tape.pop(this, Boolean.class);
        return applied ? applyBackward(gradOutput, tape) : gradOutput;
    }

    /** What {@link InputHook#forward} does while the hook is active. */
    protected abstract INDArray apply(INDArray tokenEmbeddings, Tape tape);

    /** Backward of {@link #apply}: adds this hook's param gradients, returns dL/d(token embeddings). */
    protected abstract INDArray applyBackward(INDArray gradOutput, Tape tape);

    /**
     * The tensors the adapter file holds, by checkpoint key (e.g. HF's {@code prompt_embeddings}); computed
     * values (an encoder's output) are new arrays.
     */
    public abstract Map<String, INDArray> stateToSave();

    /** The params an adapter file is loaded into, by checkpoint key. */
    public abstract Map<String, Param> loadableState();
}
