package org.peft4j.lora.adalora;

/**
 * AdaLoRA's budget: the number of triplets kept over all modules at optimizer step t (0-based, as HF's
 * {@code global_step}). Until {@code tinit} it is the initial budget b0 (no masking); after
 * {@code totalStep − tfinal} it is the target budget bT (masking every step); in between it is
 * ⌊(b0 − bT)·(1 − (t − tinit)/(totalStep − tfinal − tinit))³ + bT⌋, and the triplets are re-allocated every
 * {@code deltaT} steps.
 *
 * @param initBudget   b0: init_r times the number of modules (the triplets held at the start)
 * @param targetBudget bT: target_r times the number of modules
 * @param tinit        steps at the initial budget
 * @param tfinal       steps at the final budget
 * @param deltaT       steps between allocations while the budget falls
 * @param totalStep    optimizer steps of the training
 */
public record BudgetSchedule(int initBudget, int targetBudget, int tinit, int tfinal, int deltaT, int totalStep) {
    public BudgetSchedule {
        if (tinit >= totalStep - tfinal) {
            throw new IllegalArgumentException("The supplied schedule values don't allow for a budgeting phase: tinit (" + tinit
                    + ") must be < total_step (" + totalStep + ") - tfinal (" + tfinal + ")");
        }
        if (deltaT < 1) {
            throw new IllegalArgumentException("deltaT must be >= 1, got " + deltaT);
        }
    }

    /** The step at which the final allocation is made: totalStep − tfinal. */
    public int finalStep() {
        return totalStep - tfinal;
    }

    /** The budget at step {@code step}. */
    public int budget(int step) {
        if (step <= tinit) {
            return initBudget;
        }
        if (step > finalStep()) {
            return targetBudget;
        }
        double rest = 1.0 - (double) (step - tinit) / (finalStep() - tinit);
        return (int) ((initBudget - targetBudget) * Math.pow(rest, 3) + targetBudget);
    }

    /** True if the triplets are re-allocated after step {@code step} (always at and after the final step). */
    public boolean allocates(int step) {
        if (step <= tinit) {
            return false;
        }
        return step >= finalStep() || step % deltaT == 0;
    }
}
