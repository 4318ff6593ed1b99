package org.peft4j.core.train;

import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs one progress line every {@code every} steps (and the last) through SLF4J, e.g.
 * {@code step 120/400 (30%) | epoch 1 | loss 2.3104 | lr 8.75e-04 | grad-norm 0.412 | 18,311 tok/s | ETA 2m05s}.
 */
public final class ProgressLogger implements TrainingListener {
    private static final Logger LOG = LoggerFactory.getLogger("org.peft4j.train");
    private final int every;
    private long lastNanos;
    private long tokensSinceLast;

    public ProgressLogger(int every) {
        if (every <= 0) {
            throw new IllegalArgumentException("log interval must be > 0 steps, got " + every);
        }
        this.every = every;
    }

    @Override
    public void onStart(int totalSteps, String description) {
        LOG.info("training {} steps; {}", totalSteps, description);
        lastNanos = 0;
        tokensSinceLast = 0;
    }

    @Override
    public void onStep(StepInfo s) {
        tokensSinceLast += s.tokens();
        if (s.step() % every != 0 && s.step() != s.totalSteps()) {
            return;
        }
        double seconds = (s.elapsedNanos() - lastNanos) / 1e9;
        double tokensPerSecond = seconds > 0 ? tokensSinceLast / seconds : 0;
        double etaSeconds = s.elapsedNanos() / 1e9 / s.step() * (s.totalSteps() - s.step());
        LOG.info(String.format(Locale.ROOT, "step %d/%d (%d%%) | epoch %d | loss %.4f | lr %.2e | grad-norm %.3f | %,.0f tok/s | ETA %s",
                s.step(), s.totalSteps(), 100L * s.step() / s.totalSteps(), s.epoch() + 1, s.loss(), s.learningRate(), s.gradNorm(),
                tokensPerSecond, formatDuration(etaSeconds)));
        lastNanos = s.elapsedNanos();
        tokensSinceLast = 0;
    }

    @Override
    public void onEval(int step, EvalResult result) {
        StringBuilder metrics = new StringBuilder();
        result.metrics().entrySet().stream().sorted(java.util.Map.Entry.comparingByKey())
                .forEach(e -> metrics.append(String.format(Locale.ROOT, " | %s %.4f", e.getKey(), e.getValue())));
        LOG.info(String.format(Locale.ROOT, "eval at step %d | loss %.4f%s", step, result.loss(), metrics));
    }

    @Override
    public void onResume(int step, java.nio.file.Path from) {
        LOG.info("resuming after step {} from {}", step, from);
    }

    @Override
    public void onSkippedStep(int step, String problem) {
        LOG.warn("step {} skipped: {}", step, problem);
    }

    @Override
    public void onCheckpoint(int step, java.nio.file.Path path) {
        LOG.info("checkpoint at step {}: {}", step, path);
    }

    @Override
    public void onEnd(TrainResult r) {
        LOG.info(String.format(Locale.ROOT, "done: %d steps in %s, final loss %.4f", r.steps(), formatDuration(r.elapsedNanos() / 1e9),
                r.lastLoss()));
    }

    /** 83 → "1m23s", 3723 → "1h02m03s". */
    static String formatDuration(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) {
            return String.format(Locale.ROOT, "%dh%02dm%02ds", s / 3600, s % 3600 / 60, s % 60);
        }
        if (s >= 60) {
            return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        }
        return s + "s";
    }
}
