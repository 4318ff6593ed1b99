package org.peft4j.core.train;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The loss of one batch.
 *
 * @param value   mean loss over the counted targets (0 when there are none)
 * @param targets number of targets that counted (tokens with a label, or examples)
 * @param tokens  number of input tokens processed (for throughput)
 * @param outputs what the model predicted (e.g. label logits {@code [batch, labels]}) for metrics, or
 *                null; valid only inside the workspace of the pass that made it
 */
public record Loss(double value, long targets, long tokens, INDArray outputs) {
    /** A loss without outputs. */
    public Loss(double value, long targets, long tokens) {
        this(value, targets, tokens, null);
    }
}
