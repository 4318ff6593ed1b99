package org.peft4j.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The CPU kernels' float special functions against double-precision references. */
class FastMathTest {
    @Test
    void erfMatchesAHighPrecisionReference() {
        double worst = 0;
        for (double x = -6; x <= 6; x += 0.001) {
            worst = Math.max(worst, Math.abs(FastMath.erf((float) x) - referenceErf((float) x)));
        }
        assertTrue(worst < 5e-7, "erf max abs error " + worst);
    }

    /** erf by its Taylor series (|x| < 3) or the continued fraction of erfc, in double. */
    static double referenceErf(double x) {
        double ax = Math.abs(x);
        if (ax < 3) {
            double sum = 0;
            double term = ax;
            for (int n = 0; n < 200; n++) {
                sum += term / (2 * n + 1);
                term *= -ax * ax / (n + 1);
            }
            return Math.signum(x) * 2 / Math.sqrt(Math.PI) * sum;
        }
        double f = ax;
        for (int k = 60; k >= 1; k--) {
            f = ax + (k / 2.0) / f;
        }
        return Math.signum(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f);
    }

    @Test
    void tanhWithinFloatPrecision() {
        double worst = 0;
        for (double x = -12; x <= 12; x += 0.0007) {
            worst = Math.max(worst, Math.abs(FastMath.tanh((float) x) - Math.tanh((float) x)));
        }
        assertTrue(worst < 4e-7, "tanh max abs error " + worst);
        assertEquals(1f, FastMath.tanh(50f));
        assertEquals(-1f, FastMath.tanh(-1e30f));
    }

    @Test
    void expRelativeErrorAndRange() {
        double worst = 0;
        for (double x = -87; x <= 88; x += 0.0013) {
            double ref = Math.exp((float) x);
            worst = Math.max(worst, Math.abs(FastMath.exp((float) x) - ref) / ref);
        }
        assertTrue(worst < 2e-7, "exp max relative error " + worst);
        assertEquals(1f, FastMath.exp(0f));
        assertEquals(0f, FastMath.exp(-1e9f), "masked scores vanish");
        assertEquals(0f, FastMath.exp(-200f));
        assertEquals(Float.POSITIVE_INFINITY, FastMath.exp(100f));
        assertEquals(0f, FastMath.exp(-88f), "below the smallest normal float: flushed to zero");
    }

    @Test
    void sech2IsAccurateWhereOneMinusTanhSquaredCancels() {
        for (double x = -40; x <= 40; x += 0.01) {
            double ref = 1 / Math.pow(Math.cosh((float) x), 2);
            float got = FastMath.sech2((float) x);
            assertTrue(Math.abs(got - ref) <= 3e-7 * ref + 1e-37, "x=" + x + ": " + got + " vs " + ref);
        }
    }

    @Test
    void sigmoidIsStableAtTheExtremes() {
        assertEquals(1f, FastMath.sigmoid(200f));
        assertEquals(0f, FastMath.sigmoid(-200f));
        assertEquals(0.5f, FastMath.sigmoid(0f));
        for (double x = -30; x <= 30; x += 0.01) {
            assertEquals(1 / (1 + Math.exp(-x)), FastMath.sigmoid((float) x), 2e-7, "x=" + x);
        }
    }
}
