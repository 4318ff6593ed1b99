package org.peft4j.quant;

import java.util.Locale;

/** The formats a frozen weight can be stored in. */
public enum QuantType {
    /** 4-bit NormalFloat (bitsandbytes' {@code nf4}): block-wise absmax, 16 quantiles of N(0, 1). */
    NF4,
    /** 4-bit float (bitsandbytes' {@code fp4}: 1 sign, 2 exponent, 1 mantissa bit), block-wise absmax. */
    FP4,
    /** 8-bit integers with one absmax per output row (bitsandbytes' LLM.int8() weights, without outlier columns). */
    INT8;

    /** True for the block-wise 4-bit formats. */
    public boolean fourBit() {
        return this != INT8;
    }

    /** bitsandbytes' name: {@code nf4}, {@code fp4} or {@code int8}. */
    public String bnbName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@code nf4}, {@code fp4} or {@code int8} (any case). */
    public static QuantType parse(String name) {
        for (QuantType t : values()) {
            if (t.name().equalsIgnoreCase(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown quantization '" + name + "'; allowed: nf4, fp4, int8");
    }
}
