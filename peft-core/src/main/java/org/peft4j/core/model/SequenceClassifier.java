package org.peft4j.core.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Tape;

/** A model that gives label logits per sequence (BertForSequenceClassification). */
public interface SequenceClassifier extends PretrainedModel {
    int numLabels();

    /** Label logits {@code [batch, numLabels]}. */
    INDArray forward(TokenBatch batch, Tape tape);

    /** Backpropagates dL/dlogits. */
    void backward(INDArray gradLogits, Tape tape);
}
