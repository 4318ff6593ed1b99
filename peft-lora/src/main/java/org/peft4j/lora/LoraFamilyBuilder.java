package org.peft4j.lora;

import org.peft4j.core.tuner.PeftConfigBuilder;
import org.peft4j.core.tuner.TargetSpec;

/**
 * The builder settings LoRA and AdaLoRA configs share beyond every method's ({@link PeftConfigBuilder}):
 * the scaling numerator, dropout on the adapter's input, target_modules "all-linear" and the weight layout.
 * Defaults as HF PEFT: lora_alpha 8, lora_dropout 0.
 *
 * @param <B> the concrete builder
 */
public abstract class LoraFamilyBuilder<B extends LoraFamilyBuilder<B>> extends PeftConfigBuilder<B> {
    protected double loraAlpha = 8;
    protected double loraDropout = 0.0;
    protected Boolean fanInFanOut;

    protected LoraFamilyBuilder() {
    }

    /** The scaling numerator. */
    public B loraAlpha(double alpha) {
        this.loraAlpha = alpha;
        return self();
    }

    /** Dropout on the adapter's input during training. */
    public B loraDropout(double p) {
        this.loraDropout = p;
        return self();
    }

    /** target_modules "all-linear": every Linear except the output head. */
    public B allLinear() {
        return targetModulesRegex(TargetSpec.ALL_LINEAR);
    }

    /** Whether wrapped weights are stored [in, out]; null derives it from each layer. */
    public B fanInFanOut(Boolean value) {
        this.fanInFanOut = value;
        return self();
    }
}
