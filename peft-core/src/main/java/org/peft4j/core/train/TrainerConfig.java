package org.peft4j.core.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.peft4j.core.train.LearningRateSchedule.Decay;

/**
 * Everything a {@link Trainer} needs to know, validated on construction. Defaults (in the
 * {@link Builder}) follow HF's {@code TrainingArguments}: AdamW at 5e-5, linear decay, no warmup,
 * gradient clipping at norm 1.0, one epoch, seed 42.
 *
 * @param updater             ND4J updater configuration (Adam, Sgd, ...); its learning rate is replaced by the schedule
 * @param learningRate        peak learning rate
 * @param weightDecay         decoupled weight decay on params of rank ≥ 2 (0 = none)
 * @param warmupSteps         linear warmup steps
 * @param decay               learning-rate decay after warmup
 * @param epochs              passes over the training data (ignored when maxSteps > 0)
 * @param maxSteps            optimizer steps to take; 0 = derived from epochs
 * @param gradientAccumulation micro-batches per optimizer step
 * @param maxGradNorm         clip the global gradient norm to this; infinity = no clipping
 * @param evalEvery           evaluate every this many steps; 0 = only after the last step
 * @param checkpointEvery     write a checkpoint every this many steps; 0 = none
 * @param checkpointDir       where checkpoints go (required when checkpointEvery > 0)
 * @param seed                seed of dropout masks (and of data order in sources that shuffle)
 * @param listeners           progress receivers
 * @param resumeFrom          a checkpoint (or a directory of them, the newest is taken) to continue from; null = start fresh
 * @param skipNonFiniteSteps  skip (and count) a step whose loss or gradients are NaN or infinite instead of stopping
 * @param keepCheckpoints     how many of the newest checkpoints to keep (≥ 1)
 */
public record TrainerConfig(IUpdater updater, double learningRate, double weightDecay, int warmupSteps, Decay decay, int epochs,
        int maxSteps, int gradientAccumulation, double maxGradNorm, int evalEvery, int checkpointEvery, Path checkpointDir, long seed,
        List<TrainingListener> listeners, Path resumeFrom, boolean skipNonFiniteSteps, int keepCheckpoints) {

    public TrainerConfig {
        if (updater == null) {
            throw new IllegalArgumentException("updater must be set, e.g. new Adam()");
        }
        if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
            throw new IllegalArgumentException("learning rate must be a positive finite number, got " + learningRate);
        }
        if (!(weightDecay >= 0)) {
            throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        }
        if (warmupSteps < 0) {
            throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
        }
        if (epochs <= 0 && maxSteps <= 0) {
            throw new IllegalArgumentException("set epochs > 0 or max steps > 0, got epochs " + epochs + " and max steps " + maxSteps);
        }
        if (maxSteps < 0) {
            throw new IllegalArgumentException("max steps must be >= 0 (0 = use epochs), got " + maxSteps);
        }
        if (gradientAccumulation <= 0) {
            throw new IllegalArgumentException("gradient accumulation steps must be >= 1, got " + gradientAccumulation);
        }
        if (!(maxGradNorm > 0)) {
            throw new IllegalArgumentException("max gradient norm must be > 0 (infinity disables clipping), got " + maxGradNorm);
        }
        if (evalEvery < 0 || checkpointEvery < 0) {
            throw new IllegalArgumentException("eval and checkpoint intervals must be >= 0 (0 = off), got " + evalEvery + " and "
                    + checkpointEvery);
        }
        if (checkpointEvery > 0 && checkpointDir == null) {
            throw new IllegalArgumentException("checkpoints every " + checkpointEvery + " steps need a checkpoint directory");
        }
        if (keepCheckpoints < 1) {
            throw new IllegalArgumentException("keep at least 1 checkpoint, got " + keepCheckpoints);
        }
        if (decay == null) {
            throw new IllegalArgumentException("learning-rate decay must be set: constant, linear or cosine");
        }
        updater = updater.clone();
        listeners = List.copyOf(listeners);
    }

    /** Optimizer steps for a source of {@code batchesPerEpoch} micro-batches. */
    public int totalSteps(int batchesPerEpoch) {
        if (maxSteps > 0) {
            return maxSteps;
        }
        long microBatches = (long) epochs * batchesPerEpoch;
        return (int) Math.max(1, (microBatches + gradientAccumulation - 1) / gradientAccumulation);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder with HF Trainer's defaults. */
    public static final class Builder {
        private IUpdater updater = new Adam(5e-5, 0.9, 0.999, 1e-8);
        private double learningRate = 5e-5;
        private double weightDecay = 0.0;
        private int warmupSteps = 0;
        private Decay decay = Decay.LINEAR;
        private int epochs = 1;
        private int maxSteps = 0;
        private int gradientAccumulation = 1;
        private double maxGradNorm = 1.0;
        private int evalEvery = 0;
        private int checkpointEvery = 0;
        private Path checkpointDir;
        private Path resumeFrom;
        private boolean skipNonFiniteSteps;
        private int keepCheckpoints = 2;
        private long seed = 42;
        private final List<TrainingListener> listeners = new ArrayList<>();

        /** Adam at {@code lr} (β 0.9/0.999, ε 1e-8). */
        public Builder adam(double lr) {
            this.updater = new Adam(lr, 0.9, 0.999, 1e-8);
            this.learningRate = lr;
            this.weightDecay = 0.0;
            return this;
        }

        /** AdamW: Adam plus decoupled weight decay λ (ND4J's WeightDecay with the learning rate applied). */
        public Builder adamW(double lr, double weightDecay) {
            adam(lr);
            this.weightDecay = weightDecay;
            return this;
        }

        /** Plain SGD at {@code lr}. */
        public Builder sgd(double lr) {
            this.updater = new Sgd(lr);
            this.learningRate = lr;
            return this;
        }

        /** Any ND4J updater; its learning rate is replaced by the schedule at {@link #learningRate}. */
        public Builder updater(IUpdater updater) {
            this.updater = updater;
            return this;
        }

        public Builder learningRate(double lr) {
            this.learningRate = lr;
            return this;
        }

        public Builder weightDecay(double weightDecay) {
            this.weightDecay = weightDecay;
            return this;
        }

        public Builder warmupSteps(int steps) {
            this.warmupSteps = steps;
            return this;
        }

        public Builder decay(Decay decay) {
            this.decay = decay;
            return this;
        }

        public Builder epochs(int epochs) {
            this.epochs = epochs;
            return this;
        }

        public Builder maxSteps(int steps) {
            this.maxSteps = steps;
            return this;
        }

        public Builder gradientAccumulation(int microBatches) {
            this.gradientAccumulation = microBatches;
            return this;
        }

        public Builder maxGradNorm(double norm) {
            this.maxGradNorm = norm;
            return this;
        }

        /** Turns gradient clipping off. */
        public Builder noGradientClipping() {
            this.maxGradNorm = Double.POSITIVE_INFINITY;
            return this;
        }

        public Builder evalEvery(int steps) {
            this.evalEvery = steps;
            return this;
        }

        public Builder checkpoints(Path dir, int everySteps) {
            this.checkpointDir = dir;
            this.checkpointEvery = everySteps;
            return this;
        }

        /** Continues from a checkpoint the trainer wrote ({@code checkpoint-<step>/}, or the directory holding them: the newest). */
        public Builder resumeFrom(Path checkpoint) {
            this.resumeFrom = checkpoint;
            return this;
        }

        /** Skip steps with a NaN or infinite loss or gradient (counted and logged) instead of stopping; off by default. */
        public Builder skipNonFiniteSteps(boolean skip) {
            this.skipNonFiniteSteps = skip;
            return this;
        }

        /** How many of the newest checkpoints stay on disk (default 2). */
        public Builder keepCheckpoints(int keep) {
            this.keepCheckpoints = keep;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public Builder listener(TrainingListener listener) {
            this.listeners.add(listener);
            return this;
        }

        public TrainerConfig build() {
            return new TrainerConfig(updater, learningRate, weightDecay, warmupSteps, decay, epochs, maxSteps, gradientAccumulation,
                    maxGradNorm, evalEvery, checkpointEvery, checkpointDir, seed, listeners, resumeFrom, skipNonFiniteSteps, keepCheckpoints);
        }
    }
}
