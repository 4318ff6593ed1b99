package org.peft4j.core.train;

/** Receives training progress; every method has an empty default. */
public interface TrainingListener {
    /** Before the first step. */
    default void onStart(int totalSteps, String description) {
    }

    /** After each optimizer step. */
    default void onStep(StepInfo info) {
    }

    /** After each evaluation. */
    default void onEval(int step, EvalResult result) {
    }

    /** Before the first step of a run that continues from checkpoint {@code from}, which completed {@code step} steps. */
    default void onResume(int step, java.nio.file.Path from) {
    }

    /** A step whose loss or gradient was NaN or infinite was skipped; {@code problem} says which. */
    default void onSkippedStep(int step, String problem) {
    }

    /** After a checkpoint was written. */
    default void onCheckpoint(int step, java.nio.file.Path path) {
    }

    /** After the last step. */
    default void onEnd(TrainResult result) {
    }
}
