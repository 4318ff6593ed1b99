package org.peft4j.core.train;

import java.util.Map;

/**
 * Collects a task's evaluation metrics over the batches of one evaluation pass.
 *
 * @param <B> the batch type
 */
public interface MetricsAccumulator<B> {
    /** Called for every batch with its loss (and outputs), inside the pass's workspace. */
    default void add(B batch, Loss loss) {
    }

    /** The metrics by name, given the mean loss over the whole pass. */
    Map<String, Double> result(double meanLoss);
}
