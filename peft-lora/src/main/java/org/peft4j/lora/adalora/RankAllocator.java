package org.peft4j.lora.adalora;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.peft4j.core.kernel.Gemm;
import org.peft4j.core.param.Param;
import org.peft4j.core.train.TrainingHook;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * AdaLoRA's rank allocation for one training adapter (HF PEFT's {@code RankAllocator} plus
 * {@code update_and_allocate}), run by the trainer as a {@link TrainingHook}:
 *
 * <ul>
 *   <li>loss: orth_reg_weight times the mean over every A and B of ‖A·Aᵀ − I‖_F and ‖Bᵀ·B − I‖_F (the Frobenius
 *       norm itself, not its square, as HF PEFT computes it), with its gradient;</li>
 *   <li>after each update before {@code total_step − tfinal}: the importance I = |w·∂L/∂w| of every entry of A, E
 *       and B, its smoothing Ī ← β1·Ī + (1 − β1)·I and uncertainty Ū ← β2·Ū + (1 − β2)·|I − Ī|; when the
 *       {@link BudgetSchedule} allocates, every triplet's score (Ī·Ū of its λ plus the mean Ī·Ū of its row of A
 *       and of its column of B) and the masking of the b0 − b lowest-scored triplets (λ set to 0);</li>
 *   <li>at {@code total_step − tfinal}: the final allocation to the target budget, which fixes the rank_pattern;
 *       after it the masked λ are set to 0 again after every update.</li>
 * </ul>
 *
 * <p>The gradients are read before the update (the optimizer turns them into updates in place) and the
 * importance is computed after it, with the updated weights, as HF does when update_and_allocate runs after
 * optimizer.step(). Exactly b0 − b triplets are masked (ties broken by module order); HF masks every triplet
 * scored at or below the (b0 − b)-th lowest score, which differs only on ties. Unlike HF, every module keeps at
 * least its best-scored triplet (HF can leave a module at rank 0; peft4j loads such files but does not train
 * them further); since target_r ≥ 1 the
 * budget always leaves room for that. Every allocation updates the
 * adapter's rank_pattern; the budget and the rank of every module are logged about ten times over the
 * budgeting phase and at the final allocation, and kept in {@link #history()}.
 */
public final class RankAllocator implements TrainingHook {
    private static final Logger LOG = LoggerFactory.getLogger(RankAllocator.class);

    private final String adapter;
    private final Map<String, AdaLoraLayer> layers;
    private final Consumer<AdaLoraConfig> configUpdate;
    private final Map<Param, Scores> scores = new IdentityHashMap<>();
    private final List<Allocation> history = new ArrayList<>();
    private AdaLoraConfig config;
    private BudgetSchedule schedule;
    private int lastLogged = -1_000_000;

    /** The smoothed importance Ī and uncertainty Ū of one param, and its gradient of the current step. */
    private record Scores(INDArray sensitivity, INDArray uncertainty, INDArray grad) {
    }

    /**
     * One allocation.
     *
     * @param step   the optimizer step after which it was made (0-based)
     * @param budget the triplets kept over all modules
     * @param ranks  the kept triplets of each module, by path
     */
    public record Allocation(int step, int budget, Map<String, Integer> ranks) {
    }

    /**
     * @param adapter      the adapter that trains
     * @param config       its config; total_step may be unset until {@link #onStart}
     * @param layers       the AdaLoRA layers holding it, by module path
     * @param configUpdate receives the config whenever total_step or rank_pattern change
     */
    public RankAllocator(String adapter, AdaLoraConfig config, Map<String, AdaLoraLayer> layers, Consumer<AdaLoraConfig> configUpdate) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("AdaLoRA adapter '" + adapter + "' is held by no layer");
        }
        this.adapter = adapter;
        this.config = config;
        this.layers = new LinkedHashMap<>(layers);
        this.configUpdate = configUpdate;
    }

    /** Fills in total_step from the trainer's schedule when the config leaves it unset, and sets up the budget. */
    @Override
    public void onStart(int totalSteps) {
        Integer configured = config.totalStep();
        if (configured == null) {
            try {
                config = config.withTotalStep(totalSteps);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("AdaLoRA's total_step is unset, so it takes the trainer's " + totalSteps + " steps; "
                        + e.getMessage(), e);
            }
            configUpdate.accept(config);
        } else if (configured != totalSteps) {
            LOG.warn("AdaLoRA adapter '{}' has total_step {} but the trainer runs {} steps; the budget follows total_step",
                    adapter, configured, totalSteps);
        }
        int initBudget = layers.values().stream().mapToInt(l -> l.heldTriplets(adapter).length).sum();
        lastLogged = -1_000_000;
        schedule = new BudgetSchedule(initBudget, config.targetR() * layers.size(), config.tinit(), config.tfinal(), config.deltaT(),
                config.totalStep());
        scores.clear();
        history.clear();
        LOG.info("AdaLoRA adapter '{}': budget {} triplets over {} modules, falling after global step {} to {} at global step {} "
                + "(0-based, of {} steps; re-allocated every {} steps), orth_reg_weight {}", adapter, initBudget, layers.size(), config.tinit(),
                schedule.targetBudget(), schedule.finalStep(), config.totalStep(), config.deltaT(), config.orthRegWeight());
    }

    /** The schedule of the current run (after {@link #onStart}). */
    public BudgetSchedule schedule() {
        return schedule;
    }

    /** The config as the allocator has updated it (total_step, rank_pattern). */
    public AdaLoraConfig config() {
        return config;
    }

    /** Every allocation made in this run, in order. */
    public List<Allocation> history() {
        return List.copyOf(history);
    }

    // ------------------------------------------------------------------------------------------------
    // orthogonal regularization

    /** Adds orth_reg_weight · mean(‖A·Aᵀ − I‖_F, ‖Bᵀ·B − I‖_F over all modules) and its gradient. */
    @Override
    public double addLoss() {
        return regularizer(true);
    }

    /** orth_reg_weight · mean(‖A·Aᵀ − I‖_F, ‖Bᵀ·B − I‖_F over all modules), without gradients. */
    public double regularization() {
        return regularizer(false);
    }

    private double regularizer(boolean addGradients) {
        double w = config.orthRegWeight();
        if (w == 0) {
            return 0.0;
        }
        double coefficient = w / (2.0 * layers.size());
        double sum = 0;
        for (AdaLoraLayer layer : layers.values()) {
            sum += orthogonality(layer.loraA(adapter), true, addGradients ? coefficient : 0);
            sum += orthogonality(layer.loraB(adapter), false, addGradients ? coefficient : 0);
        }
        return coefficient * sum;
    }

    /**
     * ‖M‖_F with M = P·Pᵀ − I ({@code rows}, P = A) or Pᵀ·P − I (P = B); adds coefficient·∂‖M‖/∂P, which is
     * 2·M·P/‖M‖ or 2·P·M/‖M‖, into P's gradient unless the coefficient is 0.
     */
    private static double orthogonality(Param p, boolean rows, double coefficient) {
        INDArray v = p.value();
        INDArray m = rows ? Gemm.mm(v, v, false, true) : Gemm.mm(v, v, true, false);
        m.subi(Nd4j.eye(m.rows()).castTo(m.dataType()));
        double norm = m.norm2Number().doubleValue();
        if (coefficient != 0 && p.isTrainable() && norm > 0) {
            INDArray g = rows ? Gemm.mm(m, v, false, false) : Gemm.mm(v, m, false, false);
            p.grad().addi(g.muli(2.0 * coefficient / norm));
        }
        return norm;
    }

    // ------------------------------------------------------------------------------------------------
    // allocation

    @Override
    public void beforeUpdate(int step) {
        if (step >= schedule.finalStep()) {
            return;
        }
        for (AdaLoraLayer layer : layers.values()) {
            for (Param p : params(layer)) {
                scoresOf(p).grad().assign(p.grad());
            }
        }
    }

    @Override
    public void afterUpdate(int step) {
        int end = schedule.finalStep();
        if (step < end) {
            updateImportance();
            if (schedule.allocates(step)) {
                maskToBudget(step, schedule.budget(step));
            }
        } else if (step == end) {
            maskToBudget(step, schedule.budget(step));
            scores.clear();
        } else {
            for (AdaLoraLayer layer : layers.values()) {
                layer.keep(adapter, keptHeld(layer));                 // masked λ moved in the update: zero again
            }
        }
    }

    /** Ī and Ū of every entry of A, E and B from the gradients saved before the update and the updated weights. */
    void updateImportance() {
        double b1 = config.beta1();
        double b2 = config.beta2();
        for (AdaLoraLayer layer : layers.values()) {
            for (Param p : params(layer)) {
                Scores s = scoresOf(p);
                INDArray ipt = Transforms.abs(p.value().mul(s.grad()), false);             // I = |w·g|
                s.sensitivity().muli(b1).addi(ipt.mul(1 - b1));                             // Ī ← β1·Ī + (1 − β1)·I
                s.uncertainty().muli(b2).addi(Transforms.abs(ipt.subi(s.sensitivity()), false).muli(1 - b2)); // Ū ← β2·Ū + (1 − β2)·|I − Ī|
            }
        }
    }

    /** The score of every triplet the layer holds: Ī·Ū of λ_j plus the means of Ī·Ū over row j of A and column j of B. */
    double[] tripletScores(AdaLoraLayer layer) {
        int r = layer.heldTriplets(adapter).length;
        double[] e = elementScore(layer.loraE(adapter)).reshape(r).toDoubleVector();
        double[] a = elementScore(layer.loraA(adapter)).mean(1).toDoubleVector();
        double[] b = elementScore(layer.loraB(adapter)).mean(0).toDoubleVector();
        double[] out = new double[r];
        for (int j = 0; j < r; j++) {
            out[j] = e[j] + a[j] + b[j];
        }
        return out;
    }

    /** Ī·Ū of every entry of {@code p} (zeros before the first update). */
    private INDArray elementScore(Param p) {
        Scores s = scores.get(p);
        return s == null ? Nd4j.zeros(p.value().dataType(), p.shape()) : s.sensitivity().mul(s.uncertainty());
    }

    /** Keeps the {@code budget} best-scored triplets over all modules and masks the others; updates rank_pattern. */
    void maskToBudget(int step, int budget) {
        record Entry(double score, int layer, int row) {
        }
        List<AdaLoraLayer> list = new ArrayList<>(layers.values());
        List<Entry> entries = new ArrayList<>();
        List<boolean[]> keep = new ArrayList<>();
        for (int l = 0; l < list.size(); l++) {
            double[] s = tripletScores(list.get(l));
            int best = 0;
            for (int j = 1; j < s.length; j++) {
                best = s[j] > s[best] ? j : best;
            }
            for (int j = 0; j < s.length; j++) {
                if (j != best) {                                            // every module keeps its best triplet
                    entries.add(new Entry(s[j], l, j));
                }
            }
            boolean[] k = new boolean[s.length];
            Arrays.fill(k, true);
            keep.add(k);
        }
        int masked = Math.max(0, Math.min(entries.size(), schedule.initBudget() - budget));
        entries.sort(Comparator.comparingDouble(Entry::score));        // stable: ties keep module order
        for (int i = 0; i < masked; i++) {
            keep.get(entries.get(i).layer())[entries.get(i).row()] = false;
        }
        Map<String, List<Boolean>> pattern = new LinkedHashMap<>();
        Map<String, Integer> ranks = new LinkedHashMap<>();
        int l = 0;
        for (Map.Entry<String, AdaLoraLayer> e : layers.entrySet()) {
            e.getValue().keep(adapter, keep.get(l++));
            pattern.put(e.getKey() + AdaLoraConfig.PATTERN_SUFFIX, e.getValue().keptTriplets(adapter));
            ranks.put(e.getKey(), e.getValue().rank(adapter));
        }
        config = config.withRankPattern(pattern);
        configUpdate.accept(config);
        Allocation allocation = new Allocation(step, ranks.values().stream().mapToInt(Integer::intValue).sum(), ranks);
        history.add(allocation);
        int every = Math.max(1, (schedule.finalStep() - schedule.tinit()) / 10);
        if (step == schedule.finalStep() || step - lastLogged >= every) {
            lastLogged = step;
            LOG.info("AdaLoRA adapter '{}' global step {} of {}: budget {} (start {}, target {}), ranks {}", adapter, step, config.totalStep(),
                    allocation.budget(), schedule.initBudget(), schedule.targetBudget(), ranks);
        }
    }

    /** The keep flags of the triplets {@code layer} holds, from its kept pattern. */
    private boolean[] keptHeld(AdaLoraLayer layer) {
        int[] held = layer.heldTriplets(adapter);
        List<Boolean> kept = layer.keptTriplets(adapter);
        boolean[] out = new boolean[held.length];
        for (int j = 0; j < held.length; j++) {
            out[j] = kept.get(held[j]);
        }
        return out;
    }

    private List<Param> params(AdaLoraLayer layer) {
        return List.of(layer.loraA(adapter), layer.loraE(adapter), layer.loraB(adapter));
    }

    private Scores scoresOf(Param p) {
        return scores.computeIfAbsent(p, k -> {
            try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                return new Scores(Nd4j.zeros(p.value().dataType(), p.shape()), Nd4j.zeros(p.value().dataType(), p.shape()),
                        Nd4j.zeros(p.value().dataType(), p.shape()));
            }
        });
    }
}
