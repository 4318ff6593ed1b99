package org.peft4j.core.train;

/** A task with another training hook in place of its own: see {@link TrainableTask#withTrainingHook}. */
final class HookedTask<B> extends ForwardingTask<B> {
    private final TrainingHook hook;

    HookedTask(TrainableTask<B> task, TrainingHook hook) {
        super(task);
        if (hook == null) {
            throw new IllegalArgumentException("a hooked task needs a hook (TrainingHook.NONE for none)");
        }
        this.hook = hook;
    }

    @Override
    public TrainingHook trainingHook() {
        return hook;
    }
}
