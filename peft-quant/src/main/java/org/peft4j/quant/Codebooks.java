package org.peft4j.quant;

import org.apache.commons.math3.special.Erf;

/**
 * The code books of bitsandbytes, computed here in the same float32 steps as its Python code so that the
 * values agree bit for bit:
 *
 * <ul>
 *   <li>NF4: {@code create_normal_map(offset=0.9677083, use_extra_value=True)}: the standard normal quantiles
 *       Φ⁻¹ of 8 points {@code linspace(offset, 0.5, 9)[:-1]} (positive side) and of 7 points
 *       {@code linspace(offset, 0.5, 8)[:-1]} (negated: the negative side), plus 0, each rounded to float32,
 *       divided by the largest; 16 values from −1 to 1, sorted, so a code is the index of its value.</li>
 *   <li>FP4: bitsandbytes' 4-bit float (bit 3 the sign; magnitudes 0, 1/192, 2/3, 1, 1/3, 1/2, 1/6, 1/4 for
 *       codes 0–7) and the thresholds its quantizer compares with.</li>
 *   <li>The signed dynamic 8-bit map ({@code create_dynamic_map(signed=True)}) that double quantization uses for
 *       the block constants: for exponent i = 0…6, the midpoints of {@code linspace(0.1, 1, 2^i + 1)} times
 *       10^(i−6), both signs, plus 0 and 1; 256 values, sorted. torch's vectorised {@code linspace} rounds some
 *       of these points differently from one build (and CPU) to another, so a map may differ from a given
 *       bitsandbytes install's in the last bit of a few values; checkpoints carry the map they were made with
 *       ({@code nested_quant_map}) and loading uses that one.</li>
 * </ul>
 */
public final class Codebooks {
    /** The offset of bitsandbytes' NF4: the quantile that becomes ±1. */
    public static final float NF4_OFFSET = 0.9677083f;

    private static final float[] NF4 = normalMap(NF4_OFFSET);
    private static final float[] NF4_THRESHOLDS = midpoints(NF4);

    /** bitsandbytes' FP4 values by code; bit 3 is the sign. */
    private static final float[] FP4 = {
        0.0f, 0.005208333333f, 0.66666667f, 1.0f, 0.33333333f, 0.5f, 0.16666667f, 0.25f,
        -0.0f, -0.005208333333f, -0.66666667f, -1.0f, -0.33333333f, -0.5f, -0.16666667f, -0.25f};
    /** The magnitude codes of FP4 in increasing value: 0, 1/192, 1/6, 1/4, 1/3, 1/2, 2/3, 1. */
    private static final int[] FP4_BY_MAGNITUDE = {0, 1, 6, 7, 4, 5, 2, 3};
    /** bitsandbytes' decision thresholds between consecutive FP4 magnitudes (its literals, not exact midpoints). */
    private static final float[] FP4_THRESHOLDS = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f, 0.4166667f, 0.583333f, 0.8333333f};

    private static final float[] DYNAMIC8 = dynamicMap();

    private Codebooks() {
    }

    /** NF4's 16 values, sorted; index 7 is 0. A new array. */
    public static float[] nf4() {
        return NF4.clone();
    }

    /** FP4's 16 values by code (bit 3 the sign). A new array. */
    public static float[] fp4() {
        return FP4.clone();
    }

    /** The signed dynamic 8-bit map of double quantization: 256 values, sorted. A new array. */
    public static float[] dynamic8() {
        return DYNAMIC8.clone();
    }

    /** The 16 values of a 4-bit format, by code. */
    static float[] table(QuantType type) {
        return switch (type) {
            case NF4 -> NF4;
            case FP4 -> FP4;
            default -> throw new IllegalArgumentException(type + " is not a 4-bit format; 4-bit formats: NF4, FP4");
        };
    }

    /** The dynamic map without a copy. */
    static float[] dynamicTable() {
        return DYNAMIC8;
    }

    /**
     * The 4-bit code of a value already divided by its block's absmax, as bitsandbytes' quantizer picks it:
     * NF4 takes the value whose interval holds x, where the boundaries are the midpoints between neighbours and
     * a value on a boundary goes down; FP4 sets the sign bit for x &lt; 0 and compares |x| with its thresholds.
     * NaN (a block of zeros) gives code 0.
     */
    static int code4(QuantType type, float x) {
        if (type == QuantType.NF4) {
            return above(NF4_THRESHOLDS, x);
        }
        int sign = x < 0 ? 8 : 0;
        return FP4_BY_MAGNITUDE[above(FP4_THRESHOLDS, Math.abs(x))] + sign;
    }

    /** How many of the sorted thresholds x exceeds (a binary search; NaN exceeds none). */
    private static int above(float[] thresholds, float x) {
        int lo = 0;
        int hi = thresholds.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (x > thresholds[mid]) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /**
     * The 8-bit code of x (already divided by its block's absmax) in the dynamic map, by bitsandbytes' search:
     * seven halving steps from the middle of the map, then the nearer of the last value and its neighbour on x's
     * side (a tie goes to the last value visited).
     */
    static int code8(float x) {
        float[] code = DYNAMIC8;
        int pivot = 127;
        int upperPivot = 255;
        int lowerPivot = 0;
        float lower = -1.0f;
        float upper = 1.0f;
        float val = code[pivot];
        for (int step = 64; step > 0; step >>= 1) {
            if (x > val) {
                lowerPivot = pivot;
                lower = val;
                pivot += step;
            } else {
                upperPivot = pivot;
                upper = val;
                pivot -= step;
            }
            val = code[pivot];
        }
        if (upperPivot == 255) {
            upper = code[upperPivot];
        }
        if (lowerPivot == 0) {
            lower = code[lowerPivot];
        }
        if (x > val) {
            float midpoint = (upper + val) * 0.5f;
            return x > midpoint ? upperPivot : pivot;
        }
        float midpoint = (lower + val) * 0.5f;
        return x < midpoint ? lowerPivot : pivot;
    }

    /** NF4 as create_normal_map builds it (see the class comment). */
    static float[] normalMap(float offset) {
        float[] positive = linspace(offset, 0.5f, 9);
        float[] negative = linspace(offset, 0.5f, 8);
        float[] v = new float[16];
        for (int i = 0; i < 8; i++) {
            v[8 + 7 - i] = (float) normalQuantile(positive[i]);        // decreasing p: fill from the top
        }
        for (int i = 0; i < 7; i++) {
            v[i] = (float) -normalQuantile(negative[i]);
        }
        v[7] = 0.0f;
        float max = v[15];
        for (int i = 0; i < 16; i++) {
            v[i] = v[i] / max;                                           // float32 division, as torch's values /= values.max()
        }
        return v;
    }

    /** Φ⁻¹(p) in double, as scipy's norm.ppf: √2·erf⁻¹(2p − 1). */
    static double normalQuantile(double p) {
        return Math.sqrt(2.0) * Erf.erfInv(2.0 * p - 1.0);
    }

    /** torch.linspace in float32: start + i·step for the first half, end − (steps − 1 − i)·step for the rest. */
    static float[] linspace(float start, float end, int steps) {
        float[] out = new float[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++) {
            out[i] = i < halfway ? start + step * i : end - step * (steps - i - 1);
        }
        return out;
    }

    /**
     * The midpoints between consecutive sorted values as bitsandbytes' NF4 kernel holds them: the double midpoint
     * written as its shortest decimal (the float literals of its source) and that decimal rounded to float32,
     * which differs from rounding the double itself for −0.8480964004993439.
     */
    private static float[] midpoints(float[] sorted) {
        float[] out = new float[sorted.length - 1];
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.parseFloat(Double.toString(((double) sorted[i] + sorted[i + 1]) / 2.0));
        }
        return out;
    }

    /** create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8) in float32. */
    private static float[] dynamicMap() {
        float[] data = new float[256];
        int k = 0;
        for (int i = 0; i < 7; i++) {
            float[] boundaries = linspace(0.1f, 1.0f, (1 << i) + 1);
            float scale = (float) Math.pow(10.0, i - 6);
            for (int j = 0; j + 1 < boundaries.length; j++) {
                float mean = (boundaries[j] + boundaries[j + 1]) / 2.0f;
                data[k++] = scale * mean;
                data[k++] = -scale * mean;
            }
        }
        data[k++] = 0.0f;
        data[k] = 1.0f;
        java.util.Arrays.sort(data);
        return data;
    }
}
