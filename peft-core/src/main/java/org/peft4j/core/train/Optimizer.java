package org.peft4j.core.train;

import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.WeightDecay;
import org.nd4j.linalg.schedule.ISchedule;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry.NamedParam;

/**
 * Applies ND4J updaters to trainable params: per param, the updater turns the gradient into an update
 * in place (Adam, SGD, any {@link IUpdater}), decoupled weight decay (ND4J's {@link WeightDecay}, which
 * makes Adam into AdamW) adds lr·λ·θ, and θ −= update. Updater state is created on a param's first
 * step, outside any workspace.
 */
public final class Optimizer {
    private final IUpdater updater;
    private final double weightDecay;
    private final Predicate<NamedParam> decays;
    private final Map<Param, State> states = new IdentityHashMap<>();

    private record State(GradientUpdater<?> updater, INDArray stateView, WeightDecay decay) {
    }

    /**
     * @param updater     ND4J updater configuration (its learning rate or schedule is used)
     * @param weightDecay decoupled weight decay λ (0 for none)
     * @param decays      which params decay; HF's Trainer exempts biases and norm weights (rank-1 params)
     */
    public Optimizer(IUpdater updater, double weightDecay, Predicate<NamedParam> decays) {
        if (!(weightDecay >= 0)) {
            throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        }
        this.updater = updater.clone();
        this.weightDecay = weightDecay;
        this.decays = decays;
    }

    /** Adam (β1 0.9, β2 0.999, ε 1e-8) with learning rate {@code lr}. */
    public static Optimizer adam(double lr) {
        return new Optimizer(new Adam(lr, 0.9, 0.999, 1e-8), 0.0, np -> false);
    }

    /** AdamW: Adam with decoupled weight decay λ on params of rank ≥ 2. */
    public static Optimizer adamW(double lr, double weightDecay) {
        return new Optimizer(new Adam(lr, 0.9, 0.999, 1e-8), weightDecay, np -> np.param().value().rank() >= 2);
    }

    /** Plain SGD with learning rate {@code lr}. */
    public static Optimizer sgd(double lr) {
        return new Optimizer(new Sgd(lr), 0.0, np -> false);
    }

    /** A copy of this optimizer (no state) whose learning rate follows {@code schedule}. */
    public Optimizer withSchedule(ISchedule schedule) {
        IUpdater copy = updater.clone();
        copy.setLrAndSchedule(Double.NaN, schedule);
        return new Optimizer(copy, weightDecay, decays);
    }

    /** The learning rate at an iteration (0 for updaters without one). */
    public double learningRate(int iteration) {
        return updater.hasLearningRate() ? updater.getLearningRate(iteration, 0) : 0.0;
    }

    /** One update of every param in {@code params} from its gradient; the gradients are consumed. */
    public void step(List<NamedParam> params, int iteration) {
        double lr = learningRate(iteration);
        for (NamedParam np : params) {
            Param p = np.param();
            State s = states.computeIfAbsent(p, k -> newState(np));
            INDArray update = p.grad();                         // turned into the update in place
            s.updater().applyUpdater(update, iteration, 0);
            if (s.decay() != null) {
                s.decay().apply(p.value(), update, lr, iteration, 0);
            }
            p.value().subi(update);
        }
    }

    private State newState(NamedParam np) {
        Param p = np.param();
        long size = updater.stateSize(p.length());
        INDArray view = null;
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (size > 0) {
                view = Nd4j.createUninitialized(p.value().dataType(), 1, size);
            }
            GradientUpdater<?> u = updater.instantiate(view, true);
            if (view != null) {
                u.setStateViewArray(view, p.shape(), 'c', true);
            }
            WeightDecay decay = weightDecay > 0 && decays.test(np) ? new WeightDecay(weightDecay, true) : null;
            return new State(u, view, decay);
        }
    }

    /**
     * Sets the updater state of {@code params} from {@link #state} as saved in a checkpoint, creating it
     * where the optimizer has none yet; a param without saved state starts fresh.
     */
    public void restore(List<NamedParam> params, Map<String, INDArray> saved) {
        for (NamedParam np : params) {
            INDArray values = saved.get(np.path());
            if (values == null) {
                continue;
            }
            State s = states.computeIfAbsent(np.param(), k -> newState(np));
            if (s.stateView() == null || s.stateView().length() != values.length()) {
                throw new IllegalArgumentException("optimizer state of '" + np.path() + "' has " + values.length() + " values, but "
                        + updater.getClass().getSimpleName() + " keeps " + (s.stateView() == null ? 0 : s.stateView().length())
                        + " for it; resume with the same optimizer");
            }
            s.stateView().assign(values.reshape(s.stateView().shape()));
        }
    }

    /** Updater state by param path (e.g. Adam's m and v side by side), for checkpoints. */
    public Map<String, INDArray> state(List<NamedParam> params) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (NamedParam np : params) {
            State s = states.get(np.param());
            if (s != null && s.stateView() != null) {
                out.put(np.path(), s.stateView());
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return updater.getClass().getSimpleName() + (weightDecay > 0 ? " + weight decay " + weightDecay : "");
    }
}
