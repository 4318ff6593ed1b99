package org.peft4j.core.train;

import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;

/**
 * A task that hands every call to another task; subclasses override what they change (the training hook,
 * a check before forward). Keeps the delegation in one place for the wrappers of core.
 *
 * @param <B> the batch type
 */
public abstract class ForwardingTask<B> implements TrainableTask<B> {
    private final TrainableTask<B> task;

    protected ForwardingTask(TrainableTask<B> task) {
        if (task == null) {
            throw new IllegalArgumentException("a forwarding task needs the task it forwards to");
        }
        this.task = task;
    }

    /** The task this one forwards to. */
    protected final TrainableTask<B> task() {
        return task;
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
        return task.trainingHook();
    }

    @Override
    public MetricsAccumulator<B> newMetrics() {
        return task.newMetrics();
    }
}
