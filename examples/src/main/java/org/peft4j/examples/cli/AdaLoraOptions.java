package org.peft4j.examples.cli;

import java.util.List;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.adalora.AdaLoraConfig;
import picocli.CommandLine.Option;

/**
 * The options of {@code train --method adalora} (a picocli mixin); lora_alpha, lora_dropout and the targets come
 * from the --lora-* and --target-modules options. Defaults are HF PEFT's; total_step defaults to the trainer's
 * own step count.
 */
public final class AdaLoraOptions {
    @Option(names = "--init-r", paramLabel = "N", defaultValue = "12", description = "AdaLoRA: triplets per module at the start (init_r).")
    int initR;

    @Option(names = "--target-r", paramLabel = "N", defaultValue = "8", description = "AdaLoRA: average triplets per module at the end (target_r).")
    int targetR;

    @Option(names = "--tinit", paramLabel = "N", defaultValue = "0", description = "AdaLoRA: steps before the budget starts to fall.")
    int tinit;

    @Option(names = "--tfinal", paramLabel = "N", defaultValue = "0", description = "AdaLoRA: steps at the end with the final budget.")
    int tfinal;

    @Option(names = "--delta-t", paramLabel = "N", defaultValue = "1", description = "AdaLoRA: steps between two rank allocations (deltaT).")
    int deltaT;

    @Option(names = "--beta1", paramLabel = "X", defaultValue = "0.85", description = "AdaLoRA: smoothing of the importance.")
    double beta1;

    @Option(names = "--beta2", paramLabel = "X", defaultValue = "0.85", description = "AdaLoRA: smoothing of the uncertainty.")
    double beta2;

    @Option(names = "--orth-reg-weight", paramLabel = "X", defaultValue = "0.5", description = "AdaLoRA: weight of the orthogonal regularizer.")
    double orthRegWeight;

    @Option(names = "--total-step", paramLabel = "N", description = "AdaLoRA: steps of the budget schedule; default: the training's steps.")
    Integer totalStep;

    /** The AdaLoRA config of these options with LoRA's shared ones. */
    AdaLoraConfig config(TaskType taskType, double loraAlpha, double loraDropout, List<String> targetModules) {
        AdaLoraConfig.Builder b = AdaLoraConfig.builder().initR(initR).targetR(targetR).tinit(tinit).tfinal(tfinal).deltaT(deltaT)
                .beta1(beta1).beta2(beta2).orthRegWeight(orthRegWeight).totalStep(totalStep).loraAlpha(loraAlpha).loraDropout(loraDropout)
                .taskType(taskType);
        if (targetModules != null && !targetModules.isEmpty()) {
            if (targetModules.size() == 1 && targetModules.get(0).equals("all-linear")) {
                b.allLinear();
            } else {
                b.targetModules(targetModules.toArray(new String[0]));
            }
        }
        return b.build();
    }
}
