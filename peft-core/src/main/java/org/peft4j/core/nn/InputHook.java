package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A module that a method plugs in between a model's token embeddings and its transformer stack. It
 * may prepend rows (virtual tokens: Prompt Tuning, P-Tuning), or set past keys/values on the tape's
 * {@link SequenceContext} (Prefix Tuning, P-Tuning v2); it updates the context to match.
 */
public abstract class InputHook extends Module {
    /**
     * Receives the token embeddings {@code [batch·seq, hidden]} (before position embeddings) and returns
     * the embeddings the stack will see, {@code [batch·seq', hidden]}, after updating the context.
     */
    public abstract INDArray forward(INDArray tokenEmbeddings, Tape tape);

    /**
     * Receives dL/d(returned embeddings), adds the gradients of this hook's params (including what
     * flowed into past keys/values it set), and returns dL/d(token embeddings).
     */
    public abstract INDArray backward(INDArray gradOutput, Tape tape);
}
