package org.peft4j.core.train;

import java.util.List;

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

    /** Batches held in memory: the same ones, in the same order, in every epoch. */
    static <B> BatchSource<B> of(List<B> batches) {
        if (batches == null || batches.isEmpty()) {
            throw new IllegalArgumentException("a batch source needs at least one batch");
        }
        List<B> held = List.copyOf(batches);
        return new BatchSource<>() {
            @Override
            public int batchesPerEpoch() {
                return held.size();
            }

            @Override
            public B batch(int epoch, int index) {
                return held.get(index);
            }
        };
    }
}
