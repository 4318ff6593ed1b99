package org.peft4j.core.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.kernel.KernelChoice;

/**
 * How to build a model from a checkpoint.
 *
 * @param dataType  type of the params (FLOAT for training; DOUBLE for gradient checks)
 * @param kernels   which kernels run
 * @param head      what the model computes on top of its stack
 * @param numLabels number of labels of a classification head (ignored by other heads)
 * @param seed      seed of params the checkpoint does not hold (a new classification head)
 */
public record LoadOptions(DataType dataType, KernelChoice kernels, ModelHead head, int numLabels, long seed) {
    public LoadOptions {
        if (dataType == null || kernels == null || head == null) {
            throw new IllegalArgumentException("load options need a data type, kernels and a head");
        }
        boolean classifies = head == ModelHead.SEQUENCE_CLASSIFICATION || head == ModelHead.TOKEN_CLASSIFICATION;
        if (classifies && numLabels < 2) {
            throw new IllegalArgumentException("a classification head needs at least 2 labels, got " + numLabels);
        }
    }

    /** FLOAT params, automatic kernels, the given head. */
    public static LoadOptions of(ModelHead head) {
        return new LoadOptions(DataType.FLOAT, KernelChoice.AUTO, head, 0, 42);
    }

    /** FLOAT params, automatic kernels, a classification head of {@code numLabels}. */
    public static LoadOptions classification(ModelHead head, int numLabels) {
        return new LoadOptions(DataType.FLOAT, KernelChoice.AUTO, head, numLabels, 42);
    }
}
