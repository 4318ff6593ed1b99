package org.peft4j.core.train;

import java.util.List;

/**
 * The outcome of {@link Trainer#fit}.
 *
 * @param steps        optimizer steps taken
 * @param losses       training loss of every step, in order
 * @param finalEval    evaluation after the last step, or null without eval data
 * @param elapsedNanos wall time of the whole run
 * @param tokens       input tokens processed
 * @param skippedSteps steps skipped for a NaN or infinite loss or gradient (only with skipNonFiniteSteps)
 */
public record TrainResult(int steps, List<Double> losses, EvalResult finalEval, long elapsedNanos, long tokens, int skippedSteps) {
    public TrainResult {
        losses = List.copyOf(losses);
    }

    /** Loss of the last step (NaN if no step ran). */
    public double lastLoss() {
        return losses.isEmpty() ? Double.NaN : losses.get(losses.size() - 1);
    }
}
