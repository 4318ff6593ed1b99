package org.peft4j.core.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.Workspaces;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.param.ParamRegistry.NamedParam;

/**
 * Trains the trainable params of a {@link TrainableTask}: micro-batches with gradient accumulation,
 * global-norm clipping, an ND4J updater under a warmup schedule, periodic evaluation and atomic
 * checkpoints. Deterministic on the CPU: the same config, data and seed give the same losses. The task's
 * {@link TrainingHook} may add a loss term of its own and work before and after each update (a method's
 * per-step bookkeeping runs there, without any call from the user).
 *
 * <p>Memory: each micro-batch runs inside an ND4J workspace that is reset after it, so activations and
 * temporaries reuse one block of off-heap memory and the process does not grow over a long run.
 * Params, gradients and optimizer state live outside workspaces. The trainer keeps no state between
 * {@link #fit} calls.
 */
public final class Trainer {
    private final TrainerConfig config;

    public Trainer(TrainerConfig config) {
        this.config = config;
    }

    public TrainerConfig config() {
        return config;
    }

    /** Trains on {@code train}; evaluates on {@code eval} (may be null) and returns the result. */
    public <B> TrainResult fit(TrainableTask<B> task, BatchSource<B> train, BatchSource<B> eval) {
        ParamRegistry registry = new ParamRegistry(task.module());
        List<NamedParam> trainable = registry.trainable();
        if (trainable.isEmpty()) {
            throw new IllegalStateException("nothing to train: every param is frozen (" + registry.summary() + ")");
        }
        if (train.batchesPerEpoch() <= 0) {
            throw new IllegalArgumentException("the training data has no batches");
        }
        int totalSteps = config.totalSteps(train.batchesPerEpoch());
        Optimizer optimizer = new Optimizer(config.updater(), config.weightDecay(), np -> np.param().value().rank() >= 2)
                .withSchedule(new LearningRateSchedule(config.learningRate(), config.warmupSteps(), totalSteps, config.decay()));
        TrainingHook hook = task.trainingHook();
        int startStep = 0;
        Path lastCheckpoint = null;
        if (config.resumeFrom() != null) {
            if (!hook.resumable()) {
                throw new IllegalStateException("cannot resume: the training hook of this task (" + hook.getClass().getSimpleName()
                        + ") keeps per-step state that checkpoints do not hold yet; start the run again");
            }
            TrainingCheckpoint.Info info = readCheckpoint(config.resumeFrom());
            if (info.totalSteps() != totalSteps || info.seed() != config.seed()) {
                throw new IllegalArgumentException(info.directory() + " was written by a run of " + info.totalSteps() + " steps with seed "
                        + info.seed() + ", this run has " + totalSteps + " steps and seed " + config.seed()
                        + "; resume with the same data and options");
            }
            startStep = restoreCheckpoint(info, trainable, optimizer);
            lastCheckpoint = info.directory();
        }
        hook.onStart(totalSteps);
        config.listeners().forEach(l -> l.onStart(totalSteps, registry.summary()));
        if (lastCheckpoint != null) {
            int resumedAt = startStep;
            Path from = lastCheckpoint;
            config.listeners().forEach(l -> l.onResume(resumedAt, from));
        }
        trainable.forEach(np -> np.param().zeroGrad());

        long start = System.nanoTime();
        long totalTokens = 0;
        int skipped = 0;
        List<Double> losses = new ArrayList<>();
        int accumulation = config.gradientAccumulation();
        int perEpoch = train.batchesPerEpoch();
        for (int step = startStep; step < totalSteps; step++) {
            double lossSum = 0;
            long tokens = 0;
            int epoch = 0;
            for (int micro = 0; micro < accumulation; micro++) {
                long position = (long) step * accumulation + micro;
                epoch = (int) (position / perEpoch);
                B batch = train.batch(epoch, (int) (position % perEpoch));
                Loss loss;
                try (MemoryWorkspace ws = Workspaces.open(Workspaces.TRAIN);
                        Tape tape = Tape.training(task.kernels(), dropoutSeed(step, micro))) {
                    loss = task.forward(batch, tape);
                    task.backward(tape, 1.0 / accumulation);
                }
                lossSum += loss.value();
                tokens += loss.tokens();
            }
            double gradNorm;
            double hookLoss;
            String problem;
            try (MemoryWorkspace ws = Workspaces.open(Workspaces.OPTIMIZER)) {
                hookLoss = hook.addLoss();
                gradNorm = clipGradients(trainable, config.maxGradNorm());
                problem = nonFinite(lossSum / accumulation + hookLoss, gradNorm, trainable);
                if (problem == null) {
                    hook.beforeUpdate(step);
                    optimizer.step(trainable, step);
                    hook.afterUpdate(step);
                }
            }
            trainable.forEach(np -> np.param().zeroGrad());
            if (problem != null) {
                if (!config.skipNonFiniteSteps()) {
                    throw new TrainingDivergedException(step + 1, problem, lastCheckpoint);
                }
                skipped++;
                int skippedStep = step + 1;
                String what = problem;
                config.listeners().forEach(l -> l.onSkippedStep(skippedStep, what));
                continue;
            }
            double meanLoss = lossSum / accumulation + hookLoss;
            losses.add(meanLoss);
            totalTokens += tokens;
            StepInfo info = new StepInfo(step + 1, totalSteps, epoch, meanLoss, optimizer.learningRate(step), gradNorm, tokens,
                    System.nanoTime() - start);
            config.listeners().forEach(l -> l.onStep(info));
            boolean last = step + 1 == totalSteps;
            if (eval != null && config.evalEvery() > 0 && (step + 1) % config.evalEvery() == 0 && !last) {
                EvalResult r = evaluate(task, eval);
                int done = step + 1;
                config.listeners().forEach(l -> l.onEval(done, r));
            }
            if (config.checkpointEvery() > 0 && ((step + 1) % config.checkpointEvery() == 0 || last)) {
                Path path = writeCheckpoint(step + 1, totalSteps, trainable, optimizer);
                lastCheckpoint = path;
                int done = step + 1;
                config.listeners().forEach(l -> l.onCheckpoint(done, path));
            }
        }
        EvalResult finalEval = null;
        if (eval != null) {
            finalEval = evaluate(task, eval);
            EvalResult r = finalEval;
            config.listeners().forEach(l -> l.onEval(totalSteps, r));
        }
        TrainResult result = new TrainResult(totalSteps, losses, finalEval, System.nanoTime() - start, totalTokens, skipped);
        config.listeners().forEach(l -> l.onEnd(result));
        return result;
    }

    private long dropoutSeed(int step, int micro) {
        return config.seed() * 1_000_003L + (long) step * 131L + micro;
    }

    /** Mean loss over every batch of one pass over {@code data}, weighted by counted targets, plus the task's metrics. */
    public static <B> EvalResult evaluate(TrainableTask<B> task, BatchSource<B> data) {
        double weighted = 0;
        long targets = 0;
        MetricsAccumulator<B> metrics = task.newMetrics();
        for (int i = 0; i < data.batchesPerEpoch(); i++) {
            B batch = data.batch(0, i);
            try (MemoryWorkspace ws = Workspaces.open(Workspaces.EVAL);
                    Tape tape = Tape.inference(task.kernels())) {
                Loss loss = task.forward(batch, tape);
                weighted += loss.value() * loss.targets();
                targets += loss.targets();
                metrics.add(batch, loss);
            }
        }
        double mean = targets == 0 ? Double.NaN : weighted / targets;
        return new EvalResult(mean, targets, metrics.result(mean));
    }

    /**
     * Scales every gradient by min(1, maxNorm / (‖g‖ + 1e-6)) where ‖g‖ is the L2 norm over all of them
     * (PyTorch's clip_grad_norm_), and returns ‖g‖ before clipping.
     */
    static double clipGradients(List<NamedParam> params, double maxNorm) {
        double sumSquares = 0;
        for (NamedParam np : params) {
            double n = np.param().grad().norm2Number().doubleValue();
            sumSquares += n * n;
        }
        double norm = Math.sqrt(sumSquares);
        if (Double.isFinite(maxNorm) && norm > maxNorm) {
            double scale = maxNorm / (norm + 1e-6);
            params.forEach(np -> np.param().grad().muli(scale));
        }
        return norm;
    }

    /** Null if the step's loss and gradients are finite, else what is not: the loss, or the first param with a bad gradient. */
    private static String nonFinite(double loss, double gradNorm, List<NamedParam> trainable) {
        if (!Double.isFinite(loss)) {
            return "the loss is " + loss;
        }
        if (Double.isFinite(gradNorm)) {
            return null;
        }
        for (NamedParam np : trainable) {
            double n = np.param().grad().norm2Number().doubleValue();
            if (!Double.isFinite(n)) {
                return "the gradient of '" + np.path() + "' holds NaN or infinite values";
            }
        }
        return "the gradient norm is " + gradNorm;
    }

    private Path writeCheckpoint(int step, int totalSteps, List<NamedParam> trainable, Optimizer optimizer) {
        try {
            return TrainingCheckpoint.write(config.checkpointDir(), step, totalSteps, config.seed(), trainable, optimizer, config.keepCheckpoints());
        } catch (IOException e) {
            throw new UncheckedIOException("could not write the checkpoint of step " + step + " under " + config.checkpointDir(), e);
        }
    }

    private static TrainingCheckpoint.Info readCheckpoint(Path path) {
        try {
            return TrainingCheckpoint.resolve(path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot resume from " + path, e);
        }
    }

    private static int restoreCheckpoint(TrainingCheckpoint.Info info, List<NamedParam> trainable, Optimizer optimizer) {
        try {
            return TrainingCheckpoint.restore(info, trainable, optimizer);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot resume from " + info.directory(), e);
        }
    }
}
