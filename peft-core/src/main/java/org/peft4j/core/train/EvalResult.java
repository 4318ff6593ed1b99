package org.peft4j.core.train;

import java.util.Map;

/**
 * Evaluation of a model on a data set.
 *
 * @param loss    mean loss over all counted targets
 * @param targets number of counted targets
 * @param metrics further metrics by name (perplexity, accuracy, ...)
 */
public record EvalResult(double loss, long targets, Map<String, Double> metrics) {
    public EvalResult {
        metrics = Map.copyOf(metrics);
    }
}
