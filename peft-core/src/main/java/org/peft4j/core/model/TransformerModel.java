package org.peft4j.core.model;

import java.util.Map;
import java.util.Optional;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.InputHook;
import org.peft4j.core.nn.InputHooks;
import org.peft4j.core.nn.KeyValueCache;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.LayerStack;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleList;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;

/**
 * What the GPT-2, LLaMA and BERT models share: the kernels they were built with, their input hooks, and
 * the run ids → embeddings (+ input hooks) → stack of layers → head (none for an encoder).
 * A subclass supplies its embeddings, its layers and its head; this class keeps the part that must stay
 * the same in all of them: backward runs only as deep as gradients are needed, so the embeddings run
 * without recording unless they or a hook train, and layers below the first trainable one run without
 * recording and are skipped in backward.
 */
public abstract class TransformerModel extends Module implements PretrainedModel {
    private final Kernels kernels;
    private final InputHooks inputHooks = new InputHooks(this);

    private record Saved(boolean embeddingsNeedGrad, int firstRecordedLayer) {
    }

    protected TransformerModel(Kernels kernels) {
        this.kernels = kernels;
    }

    @Override
    public Module module() {
        return this;
    }

    @Override
    public Kernels kernels() {
        return kernels;
    }

    /**
     * Every param of the pretrained model by its HF path (not those of attached input hooks); a tied
     * {@code lm_head.weight} is the embedding param, listed once as HF saves it.
     */
    @Override
    public Map<String, INDArray> hfStateDict() {
        return new ParamRegistry(this).modelState();
    }

    /** Adds an input hook, attached to the tree at {@code name}; hooks run in the order added. */
    public void addInputHook(String name, InputHook hook) {
        inputHooks.add(name, hook);
    }

    /** Removes the input hook called {@code name}. */
    public void removeInputHook(String name) {
        inputHooks.remove(name);
    }

    @Override
    public Optional<InputHooks> inputHooks() {
        return Optional.of(inputHooks);
    }

    /** The layers between the embeddings and the head, run by {@link LayerStack}. */
    protected abstract ModuleList<? extends Layer> layers();

    /** True if a param of the embeddings themselves (not of the input hooks) trains. */
    protected abstract boolean embeddingsRequireGrad();

    /** The layers' input {@code [B·S', d]}: the embeddings of {@code batch}, with {@code hooks} run on the token embeddings. */
    protected abstract INDArray embed(TokenBatch batch, SequenceContext ctx, InputHooks hooks, Tape tape);

    /** The backward of {@link #embed}, hooks included; runs only when the embeddings or a hook train. */
    protected abstract void backwardEmbeddings(INDArray gradEmbedded, InputHooks hooks, Tape tape);

    /** The head on the last hidden state {@code [B·S', d]}; an encoder has none and returns it as is. */
    protected INDArray forwardHead(INDArray hidden, Tape tape) {
        return hidden;
    }

    /** The backward of {@link #forwardHead}: dL/d(last hidden state). */
    protected INDArray backwardHead(INDArray gradOutput, Tape tape) {
        return gradOutput;
    }

    /**
     * Runs embeddings, layers and head on tokens that follow the positions in {@code cache} (null: none),
     * appending their keys and values to it; the model's output, logits or the last hidden state.
     */
    protected final INDArray forwardLayers(TokenBatch batch, KeyValueCache cache, Tape tape) {
        ModuleList<? extends Layer> layers = layers();
        SequenceContext ctx = new SequenceContext(batch.batch(), batch.seqLen(), batch.attentionMask());
        if (cache != null) {
            ctx.setCache(cache);
        }
        tape.setContext(ctx);

        boolean embeddingsNeedGrad = embeddingsRequireGrad() || inputHooks.requiresGrad();
        INDArray x;
        try (Tape.Scope ignored = embeddingsNeedGrad ? () -> { } : tape.pauseRecording()) {
            x = embed(batch, ctx, inputHooks, tape);                                      // [B·S', d]
        }
        int firstRecorded = LayerStack.firstRecorded(layers, embeddingsNeedGrad, ctx);
        x = LayerStack.forward(layers, x, tape, firstRecorded);
        INDArray out = forwardHead(x, tape);
        if (cache != null) {
            cache.commit(ctx);
        }
        tape.push(this, new Saved(embeddingsNeedGrad, firstRecorded));
        return out;
    }

    /** Backpropagates dL/d(output) through the head, the recorded layers and, when they train, the embeddings. */
    public void backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        INDArray g = backwardHead(gradOutput, tape);
        g = LayerStack.backward(layers(), g, tape, s.firstRecordedLayer());
        if (s.embeddingsNeedGrad()) {
            backwardEmbeddings(g, inputHooks, tape);
        }
    }
}
