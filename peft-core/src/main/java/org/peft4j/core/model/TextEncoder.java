package org.peft4j.core.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Tape;

/** A model whose output is its last hidden state (BERT's BertModel). */
public interface TextEncoder extends PretrainedModel {
    int hiddenSize();

    /** The last hidden state {@code [batch·seq', hidden]} (seq' ≥ seqLen when hooks prepend tokens). */
    INDArray forward(TokenBatch batch, Tape tape);

    /** Backpropagates dL/d(hidden state). */
    void backward(INDArray gradHidden, Tape tape);
}
