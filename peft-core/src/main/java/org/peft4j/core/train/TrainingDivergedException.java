package org.peft4j.core.train;

import java.nio.file.Path;

/**
 * Training stopped because a step's loss or gradient was NaN or infinite. The step's update was not
 * applied, so the params are those of the step before; the last checkpoint written, if any, is intact.
 */
public final class TrainingDivergedException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    private final int step;
    private final transient Path lastCheckpoint;

    TrainingDivergedException(int step, String problem, Path lastCheckpoint) {
        super("step " + step + ": " + problem + "; training stopped before the update, the params are those after step " + (step - 1)
                + (lastCheckpoint == null ? " (no checkpoint was written)" : "; last checkpoint: " + lastCheckpoint)
                + ". Lower the learning rate, or skip such steps (skipNonFiniteSteps, --skip-nonfinite)");
        this.step = step;
        this.lastCheckpoint = lastCheckpoint;
    }

    /** The step (1-based) whose loss or gradient was not finite. */
    public int step() {
        return step;
    }

    /** The newest checkpoint written before the failure, or null. */
    public Path lastCheckpoint() {
        return lastCheckpoint;
    }
}
