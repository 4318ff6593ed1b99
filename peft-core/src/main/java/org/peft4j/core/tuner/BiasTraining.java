package org.peft4j.core.tuner;

/**
 * Which biases of the base model train together with an adapter (HF PEFT's {@code bias} option). Trained
 * biases are saved with the adapter; disabling the adapter does not revert them.
 */
public enum BiasTraining {
    /** No bias trains ({@code "none"}). */
    NONE,
    /** Every bias of the model trains ({@code "all"}). */
    ALL,
    /** Only the biases of the adapted layers train ({@code "lora_only"} for LoRA). */
    ADAPTED_ONLY
}
