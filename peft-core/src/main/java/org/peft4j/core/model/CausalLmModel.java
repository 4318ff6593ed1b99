package org.peft4j.core.model;

import java.util.Optional;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.KeyValueCache;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;

/**
 * A {@link TransformerModel} that gives next-token logits (GPT-2, the LLaMA-style decoder): its head is a
 * final norm, then the LM head, whose weight is the token embedding itself when tied.
 */
public abstract class CausalLmModel extends TransformerModel implements CausalLm {
    /** HF's name of the LM head, under which every subclass registers it as a child. */
    protected static final String LM_HEAD = "lm_head";

    protected CausalLmModel(Kernels kernels) {
        super(kernels);
    }

    /** The norm on the last block's output (GPT-2's ln_f, LLaMA's norm). */
    protected abstract Layer finalNorm();

    /** The LM head, as the tree holds it now: methods may have wrapped or replaced it. */
    private Layer lmHead() {
        return (Layer) child(LM_HEAD);
    }

    /** The token embedding param {@code [vocab, hidden]}. */
    public abstract Param tokenEmbedding();

    @Override
    public INDArray forward(TokenBatch batch, KeyValueCache cache, Tape tape) {
        return forwardLayers(batch, cache, tape);
    }

    @Override
    protected final INDArray forwardHead(INDArray hidden, Tape tape) {
        INDArray x = finalNorm().forward(hidden, tape);
        return lmHead().forward(x, tape);                                          // [B·S', vocab]
    }

    @Override
    protected final INDArray backwardHead(INDArray gradLogits, Tape tape) {
        INDArray g = lmHead().backward(gradLogits, tape);
        return finalNorm().backward(g, tape);
    }

    @Override
    public Optional<Param> inputEmbedding() {
        return Optional.of(tokenEmbedding());
    }

    /**
     * Fails if the checkpoint holds tensors that no param read, other than HF's non-param {@code buffers} and,
     * with a tied head, {@code lm_head.weight}: a tied head is the token embedding, so that tensor is not read.
     */
    protected static void requireAllUsed(ParamValues.Checkpoint values, Pattern buffers, boolean tiedHead, String architecture) {
        values.requireAllUsed(name -> buffers.matcher(name).matches() || tiedHead && name.equals("lm_head.weight"), architecture);
    }
}
