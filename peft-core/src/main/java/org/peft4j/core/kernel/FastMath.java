package org.peft4j.core.kernel;

/**
 * Float-precision special functions for the CPU kernels: plain arithmetic the JIT can keep in
 * registers, instead of {@code Math.tanh} (about 20 ns a call here) and {@code Math.exp}. Accuracy
 * is checked against double-precision references in FastMathTest.
 */
final class FastMath {
    static final float INV_SQRT2 = (float) (1.0 / Math.sqrt(2.0));
    static final float INV_SQRT_2PI = (float) (1.0 / Math.sqrt(2.0 * Math.PI));
    /** √(2/π) and 0.044715 of the tanh form of GELU. */
    static final float GELU_TANH_C = (float) Nd4jKernels.GELU_TANH_C;
    static final float GELU_TANH_A = (float) Nd4jKernels.GELU_TANH_A;

    // erf(x) ≈ x·P(x²)/Q(x²) on [−4, 4] (the rational fit XLA and Eigen use for float; |error| < 5e-7)
    static final float ERF_A13 = -2.72614225801306e-10f;
    static final float ERF_A11 = 2.77068142495902e-08f;
    static final float ERF_A9 = -2.10102402082508e-06f;
    static final float ERF_A7 = -5.69250639462346e-05f;
    static final float ERF_A5 = -7.34990630326855e-04f;
    static final float ERF_A3 = -2.95459980854025e-03f;
    static final float ERF_A1 = -1.60960333262415e-02f;
    static final float ERF_B8 = -1.45660718464996e-05f;
    static final float ERF_B6 = -2.13374055278905e-04f;
    static final float ERF_B4 = -1.68282697438203e-03f;
    static final float ERF_B2 = -7.37332916720468e-03f;
    static final float ERF_B0 = -1.42647390514189e-02f;

    // tanh(x) ≈ x·P(x²)/Q(x²) on [−7.9053, 7.9053], where float tanh is ±1 beyond (Eigen's float fit)
    static final float TANH_CLAMP = 7.90531110763549805f;
    static final float TANH_A13 = -2.76076847742355e-16f;
    static final float TANH_A11 = 2.00018790482477e-13f;
    static final float TANH_A9 = -8.60467152213735e-11f;
    static final float TANH_A7 = 5.12229709037114e-08f;
    static final float TANH_A5 = 1.48572235717979e-05f;
    static final float TANH_A3 = 6.37261928875436e-04f;
    static final float TANH_A1 = 4.89352455891786e-03f;
    static final float TANH_B6 = 1.19825839466702e-06f;
    static final float TANH_B4 = 1.18534705686654e-04f;
    static final float TANH_B2 = 2.26843463243900e-03f;
    static final float TANH_B0 = 4.89352518554385e-03f;

    // exp(x) = 2^n · e^r with n = round(x/ln 2), r = x − n·ln 2 in [−ln2/2, ln2/2] (Cody–Waite split of ln 2)
    static final float LOG2E = 1.44269504088896341f;
    static final float LN2_HI = 0.693359375f;
    static final float LN2_LO = -2.12194440e-4f;
    static final float EXP_MIN = -87.33654f;   // below: e^x is under the smallest normal float
    static final float EXP_MAX = 88.72283f;    // above: e^x overflows
    static final float ROUND_MAGIC = 12582912f; // 1.5·2²³
    /** The bits of {@link #ROUND_MAGIC}: the bits of ROUND_MAGIC + k are these plus k for |k| < 2²². */
    static final int ROUND_MAGIC_BITS = Float.floatToRawIntBits(ROUND_MAGIC);

    private FastMath() {
    }

    static float erf(float x) {
        float c = Math.max(-4f, Math.min(4f, x));
        float x2 = c * c;
        float p = horner(x2, ERF_A13, ERF_A11, ERF_A9, ERF_A7, ERF_A5, ERF_A3, ERF_A1);
        float q = horner(x2, ERF_B8, ERF_B6, ERF_B4, ERF_B2, ERF_B0);
        return c * p / q;
    }

    static float tanh(float x) {
        float c = Math.max(-TANH_CLAMP, Math.min(TANH_CLAMP, x));
        float x2 = c * c;
        // separate multiplies and adds, not horner(): Eigen's fit reaches exactly ±1 at the clamp only so
        float p = ((((((TANH_A13 * x2 + TANH_A11) * x2 + TANH_A9) * x2 + TANH_A7) * x2 + TANH_A5) * x2 + TANH_A3) * x2 + TANH_A1);
        float q = (((TANH_B6 * x2 + TANH_B4) * x2 + TANH_B2) * x2 + TANH_B0);
        return c * p / q;
    }

    /** e^x with relative error below 2e-7; 0 where e^x is below the smallest normal float, +∞ above the range. */
    static float exp(float x) {
        float c = Math.max(EXP_MIN, Math.min(EXP_MAX, x));
        // round to nearest without a branch: adding 1.5·2²³ pushes the fraction bits out of the float
        float n = (c * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
        float r = Math.fma(n, -LN2_LO, Math.fma(n, -LN2_HI, c));
        // e^r by its Taylor series to r⁷: the remainder is below 6e-9 for |r| ≤ ln2/2
        float p = horner(r, 1f / 5040, 1f / 720, 1f / 120, 1f / 24, 1f / 6, 1f / 2, 1f, 1f);
        float scaled = p * Float.intBitsToFloat(((int) n + 127) << 23);
        return x < EXP_MIN ? 0f : x > EXP_MAX ? Float.POSITIVE_INFINITY : scaled;
    }

    /**
     * The polynomial with coefficients {@code c} (highest power first) at x, by Horner's rule with one
     * fused multiply-add per step: half the operations of separate multiplies and adds, and one rounding
     * each. {@code VectorRowMath} evaluates the same steps lane-wise, so the two agree bit for bit.
     */
    static float horner(float x, float... c) {
        float p = c[0];
        for (int i = 1; i < c.length; i++) {
            p = Math.fma(p, x, c[i]);
        }
        return p;
    }

    /**
     * sech²(x) = 1 − tanh²(x), computed as 4e/(1 + e)² with e = e^(−2|x|): exact where 1 − tanh² would
     * cancel to noise (large |x|), which matters in the backward passes of tanh and tanh-GELU.
     */
    static float sech2(float x) {
        float e = exp(-2f * Math.abs(x));
        float d = 1f + e;
        return 4f * e / (d * d);
    }

    static float sigmoid(float x) {
        return 1f / (1f + exp(-x));
    }
}
