package org.peft4j.core.train;

/**
 * What happened in one optimizer step.
 *
 * @param step          steps done so far (1-based)
 * @param totalSteps    steps planned
 * @param epoch         epoch of the step's data (0-based)
 * @param loss          mean training loss over the step's micro-batches
 * @param learningRate  learning rate used
 * @param gradNorm      global L2 norm of the gradients before clipping
 * @param tokens        input tokens processed in this step
 * @param elapsedNanos  time since training started
 */
public record StepInfo(int step, int totalSteps, int epoch, double loss, double learningRate, double gradNorm, long tokens,
        long elapsedNanos) {
}
