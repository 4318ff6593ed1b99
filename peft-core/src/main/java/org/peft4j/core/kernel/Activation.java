package org.peft4j.core.kernel;

import java.util.Arrays;
import java.util.Locale;

/** Element-wise non-linearities, with the names HF configs use for them. */
public enum Activation {
    /** x·Φ(x) with the exact normal CDF: 0.5·x·(1 + erf(x/√2)). HF "gelu". */
    GELU("gelu"),
    /** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). HF "gelu_new", "gelu_pytorch_tanh", "gelu_fast". */
    GELU_TANH("gelu_new"),
    /** x·sigmoid(x). HF "silu", "swish". */
    SILU("silu"),
    /** max(0, x). */
    RELU("relu"),
    /** tanh(x). */
    TANH("tanh");

    private final String hfName;

    Activation(String hfName) {
        this.hfName = hfName;
    }

    /** The name HF's {@code config.json} uses (the canonical one where several exist). */
    public String hfName() {
        return hfName;
    }

    /** Parses an HF activation name ({@code hidden_act}, {@code activation_function}). */
    public static Activation fromHfName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        switch (n) {
            case "gelu":
                return GELU;
            case "gelu_new":
            case "gelu_pytorch_tanh":
            case "gelu_fast":
                return GELU_TANH;
            case "silu":
            case "swish":
                return SILU;
            case "relu":
                return RELU;
            case "tanh":
                return TANH;
            default:
                throw new IllegalArgumentException("unsupported activation '" + name + "'; supported: gelu, gelu_new, gelu_pytorch_tanh, "
                        + "gelu_fast, silu, swish, relu, tanh (" + Arrays.toString(values()) + ")");
        }
    }
}
