package org.peft4j.core.train;

import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;

/** A task with another training hook in place of its own: see {@link TrainableTask#withTrainingHook}. */
record HookedTask<B>(TrainableTask<B> task, TrainingHook hook) implements TrainableTask<B> {
    HookedTask {
        if (task == null || hook == null) {
            throw new IllegalArgumentException("a hooked task needs a task and a hook (TrainingHook.NONE for none)");
        }
    }

    @Override
    public Module module() {
        return task.module();
    }

    @Override
    public Kernels kernels() {
        return task.kernels();
    }

    @Override
    public Loss forward(B batch, Tape tape) {
        return task.forward(batch, tape);
    }

    @Override
    public void backward(Tape tape, double scale) {
        task.backward(tape, scale);
    }

    @Override
    public TrainingHook trainingHook() {
        return hook;
    }

    @Override
    public MetricsAccumulator<B> newMetrics() {
        return task.newMetrics();
    }
}
