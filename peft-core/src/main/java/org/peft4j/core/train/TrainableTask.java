package org.peft4j.core.train;

import java.util.Map;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;

/**
 * A model together with its loss: what the {@link Trainer} trains. Forward computes the loss of a
 * batch; when the tape records, {@link #backward} then adds the gradients into the trainable params.
 *
 * @param <B> the batch type
 */
public interface TrainableTask<B> {
    /** The module tree whose trainable params are trained. */
    Module module();

    /** The kernels to run with. */
    Kernels kernels();

    /** Runs the model on {@code batch} and returns its mean loss. */
    Loss forward(B batch, Tape tape);

    /** Adds scale · dLoss/dθ into the gradient of every trainable param (after {@link #forward} on the same tape). */
    void backward(Tape tape, double scale);

    /**
     * What the trainer runs besides this task's loss (an extra loss term, work around each update); asked once
     * at the start of every {@link Trainer#fit}. By default nothing.
     */
    default TrainingHook trainingHook() {
        return TrainingHook.NONE;
    }

    /**
     * This task with {@code hook} in place of its own training hook: the same module, loss, gradients and
     * metrics. For callers that watch or replace what the trainer runs besides the loss; to keep the
     * task's own hook as well, pass {@code TrainingHook.all(List.of(trainingHook(), hook))}.
     */
    default TrainableTask<B> withTrainingHook(TrainingHook hook) {
        return new HookedTask<>(this, hook);
    }

    /** A fresh accumulator of this task's evaluation metrics; by default there are none besides the loss. */
    default MetricsAccumulator<B> newMetrics() {
        return meanLoss -> Map.of();
    }
}
