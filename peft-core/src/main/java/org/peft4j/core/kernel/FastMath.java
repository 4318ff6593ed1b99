package org.peft4j.core.kernel;

/** Float-precision special functions for the CPU kernels, written so the JIT can keep them branch-light. */
final class FastMath {
    static final float INV_SQRT2 = (float) (1.0 / Math.sqrt(2.0));
    static final float INV_SQRT_2PI = (float) (1.0 / Math.sqrt(2.0 * Math.PI));

    // erf(x) ≈ x·P(x²)/Q(x²) on [−4, 4] (rational minimax fit used by XLA and Eigen for float; |error| < 2e-7)
    private static final float A13 = -2.72614225801306e-10f;
    private static final float A11 = 2.77068142495902e-08f;
    private static final float A9 = -2.10102402082508e-06f;
    private static final float A7 = -5.69250639462346e-05f;
    private static final float A5 = -7.34990630326855e-04f;
    private static final float A3 = -2.95459980854025e-03f;
    private static final float A1 = -1.60960333262415e-02f;
    private static final float B8 = -1.45660718464996e-05f;
    private static final float B6 = -2.13374055278905e-04f;
    private static final float B4 = -1.68282697438203e-03f;
    private static final float B2 = -7.37332916720468e-03f;
    private static final float B0 = -1.42647390514189e-02f;

    private FastMath() {
    }

    static float erf(float x) {
        float c = Math.max(-4f, Math.min(4f, x));
        float x2 = c * c;
        float p = ((((((A13 * x2 + A11) * x2 + A9) * x2 + A7) * x2 + A5) * x2 + A3) * x2 + A1);
        float q = ((((B8 * x2 + B6) * x2 + B4) * x2 + B2) * x2 + B0);
        return c * p / q;
    }

    static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-x)));
    }

    static float tanh(float x) {
        return (float) Math.tanh(x);
    }
}
