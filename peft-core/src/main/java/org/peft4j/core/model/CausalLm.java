package org.peft4j.core.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.KeyValueCache;
import org.peft4j.core.nn.Tape;

/** A decoder that gives next-token logits: GPT-2, the LLaMA-style decoder. */
public interface CausalLm extends PretrainedModel {
    int vocabSize();

    /**
     * Runs the model. Returns logits {@code [batch·seq', vocab]}, where seq' ≥ seqLen when hooks prepend
     * virtual tokens (the batch's tokens are the last seqLen rows of each sequence).
     */
    default INDArray forward(TokenBatch batch, Tape tape) {
        return forward(batch, null, tape);
    }

    /**
     * Runs the model on tokens that follow the positions in {@code cache} (null: none) and appends their keys
     * and values to it, so that generation runs each token once; positions continue from the cache's length.
     * With a cache the tape must not record. Returns logits as {@link #forward(TokenBatch, Tape)} does.
     */
    INDArray forward(TokenBatch batch, KeyValueCache cache, Tape tape);

    /** Backpropagates dL/dlogits through the parts of the model that need gradients. */
    void backward(INDArray gradLogits, Tape tape);
}
