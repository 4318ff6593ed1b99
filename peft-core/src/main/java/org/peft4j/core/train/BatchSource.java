package org.peft4j.core.train;

/**
 * Batches by position: batch {@code index} of epoch {@code epoch} is always the same batch, so a run
 * is reproducible and can resume at a data position.
 *
 * @param <B> the batch type
 */
public interface BatchSource<B> {
    /** Number of batches in one epoch (> 0). */
    int batchesPerEpoch();

    /** Batch {@code index} (0 ≤ index < batchesPerEpoch) of epoch {@code epoch}. */
    B batch(int epoch, int index);
}
