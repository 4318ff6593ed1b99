package org.peft4j.core.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Tape;

/** A decoder that gives next-token logits: GPT-2, the LLaMA-style decoder. */
public interface CausalLm extends PretrainedModel {
    int vocabSize();

    /**
     * Runs the model. Returns logits {@code [batch·seq', vocab]}, where seq' ≥ seqLen when hooks prepend
     * virtual tokens (the batch's tokens are the last seqLen rows of each sequence).
     */
    INDArray forward(TokenBatch batch, Tape tape);

    /** Backpropagates dL/dlogits through the parts of the model that need gradients. */
    void backward(INDArray gradLogits, Tape tape);
}
