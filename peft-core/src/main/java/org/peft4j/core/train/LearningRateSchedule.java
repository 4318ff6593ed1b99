package org.peft4j.core.train;

import java.util.Locale;
import org.nd4j.linalg.schedule.ISchedule;

/**
 * HF's learning-rate schedules as an ND4J {@link ISchedule}, so ND4J's updaters use them directly:
 * linear warmup from 0 over {@code warmupSteps}, then constant, linear decay to 0 at
 * {@code totalSteps}, or cosine decay to 0 ({@code get_constant_schedule_with_warmup},
 * {@code get_linear_schedule_with_warmup}, {@code get_cosine_schedule_with_warmup}). The iteration
 * is the number of optimizer steps already taken. (ND4J's own {@code PolySchedule} computes
 * (1 + i/max)^p, which grows, so it cannot express a decay to zero.)
 */
public final class LearningRateSchedule implements ISchedule {
    /** What happens after warmup. */
    public enum Decay {
        CONSTANT, LINEAR, COSINE;

        /** Parses "constant", "linear" or "cosine". */
        public static Decay parse(String name) {
            for (Decay d : values()) {
                if (d.name().equalsIgnoreCase(name)) {
                    return d;
                }
            }
            throw new IllegalArgumentException("unknown learning-rate decay '" + name + "'; allowed: constant, linear, cosine");
        }
    }

    private final double peak;
    private final int warmupSteps;
    private final int totalSteps;
    private final Decay decay;

    public LearningRateSchedule(double peak, int warmupSteps, int totalSteps, Decay decay) {
        if (!(peak > 0) || Double.isInfinite(peak)) {
            throw new IllegalArgumentException("learning rate must be a positive finite number, got " + peak);
        }
        if (warmupSteps < 0 || totalSteps <= 0 || warmupSteps > totalSteps) {
            throw new IllegalArgumentException("need 0 <= warmup steps <= total steps and total steps > 0, got warmup " + warmupSteps
                    + " of " + totalSteps);
        }
        this.peak = peak;
        this.warmupSteps = warmupSteps;
        this.totalSteps = totalSteps;
        this.decay = decay;
    }

    @Override
    public double valueAt(int iteration, int epoch) {
        if (iteration < warmupSteps) {
            return peak * iteration / Math.max(1, warmupSteps);
        }
        double progress = (iteration - warmupSteps) / (double) Math.max(1, totalSteps - warmupSteps);
        switch (decay) {
            case LINEAR:
                return peak * Math.max(0.0, 1.0 - progress);
            case COSINE:
                return peak * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * Math.min(1.0, progress))));
            default:
                return peak;
        }
    }

    @Override
    public ISchedule clone() {
        return new LearningRateSchedule(peak, warmupSteps, totalSteps, decay);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s(peak=%g, warmup=%d, total=%d)", decay.name().toLowerCase(Locale.ROOT), peak, warmupSteps,
                totalSteps);
    }
}
