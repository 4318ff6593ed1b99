package org.peft4j.core.tuner;

import java.util.List;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.train.ForwardingTask;
import org.peft4j.core.train.Loss;
import org.peft4j.core.train.TrainableTask;
import org.peft4j.core.train.TrainingHook;

/**
 * A task over a {@link PeftModel}'s base model for the {@code Trainer}: the same forward, loss and
 * metrics as the wrapped task, whose module tree holds the adapters; training passes fail while
 * adapters are merged, since their gradients would not reach the merged weights.
 *
 * @param <B> the batch type
 */
final class PeftTask<B> extends ForwardingTask<B> {
    private final PeftModel<?> model;

    PeftTask(PeftModel<?> model, TrainableTask<B> task) {
        super(task);
        this.model = model;
    }

    @Override
    public Loss forward(B batch, Tape tape) {
        if (tape.isRecording() && model.isMerged()) {
            throw new IllegalStateException("cannot train while adapters are merged into the base weights; call unmerge() first");
        }
        return super.forward(batch, tape);
    }

    /** The wrapped task's hook followed by those of the methods whose adapters train. */
    @Override
    public TrainingHook trainingHook() {
        return TrainingHook.all(List.of(task().trainingHook(), model.trainingHook()));
    }
}
