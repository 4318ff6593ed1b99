package org.peft4j.core.train;

import java.util.ArrayList;
import java.util.List;

/**
 * Work a {@link TrainableTask} asks the {@link Trainer} to do besides the task's own loss: a loss term of
 * its own (a regularizer on trainable params) and work around each optimizer update (e.g. re-allocating
 * ranks from the gradients). The trainer calls, per optimizer step: the micro-batches' forward and backward,
 * {@link #addLoss}, gradient clipping, {@link #beforeUpdate}, the update, {@link #afterUpdate}, zeroing the
 * gradients. Every method has a default that does nothing.
 */
public interface TrainingHook {
    /** A hook that does nothing. */
    TrainingHook NONE = new TrainingHook() {
        @Override
        public boolean resumable() {
            return true;
        }
    };

    /**
     * True if a run with this hook can continue from a checkpoint: the hook keeps no state across steps
     * beyond what the params hold. Hooks with state (moving averages, masks) return false until they can
     * save it, and resuming is refused rather than continued differently.
     */
    default boolean resumable() {
        return false;
    }

    /** Before the first step, with the number of optimizer steps the trainer will run. */
    default void onStart(int totalSteps) {
    }

    /**
     * Adds the gradient of this hook's own loss term into the trainable params' gradients and returns the
     * term's value (0 for none); the trainer adds it to the step's loss. Called once per optimizer step,
     * after every micro-batch's backward and before clipping.
     */
    default double addLoss() {
        return 0.0;
    }

    /** After clipping, before the update: the gradient buffers hold dL/dθ of step {@code step} (0-based). */
    default void beforeUpdate(int step) {
    }

    /** After the update of step {@code step} (0-based), before the gradients are zeroed; params hold their new values. */
    default void afterUpdate(int step) {
    }

    /** One hook that runs {@code hooks} in order (their loss terms add up); {@link #NONE} for none. */
    static TrainingHook all(List<TrainingHook> hooks) {
        List<TrainingHook> list = new ArrayList<>(hooks);
        list.removeIf(h -> h == null || h == NONE);
        if (list.isEmpty()) {
            return NONE;
        }
        if (list.size() == 1) {
            return list.get(0);
        }
        return new TrainingHook() {
            @Override
            public boolean resumable() {
                return list.stream().allMatch(TrainingHook::resumable);
            }

            @Override
            public void onStart(int totalSteps) {
                list.forEach(h -> h.onStart(totalSteps));
            }

            @Override
            public double addLoss() {
                double sum = 0;
                for (TrainingHook h : list) {
                    sum += h.addLoss();
                }
                return sum;
            }

            @Override
            public void beforeUpdate(int step) {
                list.forEach(h -> h.beforeUpdate(step));
            }

            @Override
            public void afterUpdate(int step) {
                list.forEach(h -> h.afterUpdate(step));
            }
        };
    }
}
