package org.peft4j.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** Packing, round trips, the NF4 error on normal data, double quantization and the two dequantization paths. */
class Blockwise4BitTest {
    private static float[] gaussian(int n, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) gauss(rng);
        }
        return out;
    }

    private static double gauss(SplittableRandom rng) {
        double u = rng.nextDouble();
        double v = rng.nextDouble();
        return Math.sqrt(-2 * Math.log1p(-u)) * Math.cos(2 * Math.PI * v);
    }

    private static byte[] bytes(INDArray a) {
        byte[] out = new byte[(int) a.length()];
        HostBuffers.byteView(a).get(out);
        return out;
    }

    @Test
    void packsTheFirstOfEachPairInTheHighNibble() {
        // one block of 64: absmax 2; x/2 = 1, −1, 0, 0.5626170039176941 (NF4 codes 15, 0, 7, 13), then zeros (7)
        float[] w = new float[64];
        w[0] = 2f;
        w[1] = -2f;
        w[3] = 2f * 0.5626170039176941f;
        try (Blockwise4Bit q = Blockwise4Bit.quantize(w, 2, 32, QuantType.NF4, 64, false)) {
            byte[] packed = bytes(q.packed());
            assertEquals(32, packed.length);
            assertEquals((byte) 0xF0, packed[0]);                          // codes 15, 0
            assertEquals((byte) 0x7D, packed[1]);                          // codes 7, 13
            assertEquals((byte) 0x77, packed[2]);
            assertArrayEquals(new float[] {2f}, q.blockAbsmax());
            float[] back = new float[64];
            q.dequantize(0, 2, back);
            assertArrayEquals(w, back);                                   // these values are exactly representable
        }
    }

    @Test
    void quantizingTheDequantizedWeightAgainGivesTheSameBits() {
        for (QuantType type : new QuantType[] {QuantType.NF4, QuantType.FP4}) {
            for (int block : new int[] {32, 64, 256}) {
                float[] w = gaussian(37 * 23, 5 + block);
                try (Blockwise4Bit q = Blockwise4Bit.quantize(w, 37, 23, type, block, false)) {
                    float[] back = new float[w.length];
                    q.dequantize(0, 37, back);
                    try (Blockwise4Bit again = Blockwise4Bit.quantize(back, 37, 23, type, block, false)) {
                        if (type == QuantType.NF4) {
                            assertArrayEquals(bytes(q.packed()), bytes(again.packed()), type + " block " + block);
                        }                                                       // FP4's −0 (code 8) comes back as +0 (code 0)
                        assertArrayEquals(q.blockAbsmax(), again.blockAbsmax());
                        float[] twice = new float[w.length];
                        again.dequantize(0, 37, twice);
                        for (int i = 0; i < w.length; i++) {
                            assertEquals(back[i], twice[i], 0f, type + " block " + block + " value " + i);
                        }
                    }
                }
            }
        }
    }

    @Test
    void checkpointTensorsRoundTripBitExactly() {
        float[] w = gaussian(48 * 352, 3);
        for (boolean dq : new boolean[] {false, true}) {
            try (Blockwise4Bit q = Blockwise4Bit.quantize(w, 48, 352, QuantType.NF4, 64, dq)) {
                Map<String, INDArray> t = q.tensors();
                try (Blockwise4Bit back = Blockwise4Bit.fromTensors(t, "test")) {
                    float[] a = new float[w.length];
                    float[] b = new float[w.length];
                    q.dequantize(0, 48, a);
                    back.dequantize(0, 48, b);
                    assertArrayEquals(a, b);
                    assertEquals(dq, back.doubleQuant());
                }
            }
        }
    }

    /**
     * E[(x − Q(x))²] for x ~ N(0, 1) with NF4 in blocks of 64, by numerical integration: the block absmax M has density
     * 64·(2Φ(m) − 1)^63·2φ(m); given M = m, one value of the block is ±m (no error) and 63 are N(0, 1) conditioned
     * on |x| ≤ m, each rounded to the nearest of m·c_i (the code book's values, not the quantizer's code).
     */
    private static double expectedNf4Mse(int block) {
        float[] code = Codebooks.nf4();
        int mSteps = 600;
        double mLo = 0.5;
        double mHi = 6.5;
        double total = 0;
        double hm = (mHi - mLo) / mSteps;
        for (int i = 0; i <= mSteps; i++) {
            double m = mLo + i * hm;
            double inner = 2 * Phi(m) - 1;
            double density = block * Math.pow(inner, block - 1) * 2 * phi(m);
            int xSteps = 2000;
            double hx = 2 * m / xSteps;
            double err = 0;
            for (int k = 0; k <= xSteps; k++) {
                double x = -m + k * hx;
                double best = Double.MAX_VALUE;
                for (float c : code) {
                    best = Math.min(best, Math.abs(x - m * c));
                }
                err += simpson(k, xSteps) * best * best * phi(x);
            }
            err *= hx / 3 / inner;                                          // E[(x − Q)² | |x| ≤ m]
            total += simpson(i, mSteps) * density * err * (block - 1) / block;
        }
        return total * hm / 3;
    }

    private static double simpson(int k, int steps) {
        return k == 0 || k == steps ? 1 : (k % 2 == 1 ? 4 : 2);
    }

    private static double phi(double x) {
        return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    }

    private static double Phi(double x) {
        return 0.5 * org.apache.commons.math3.special.Erf.erfc(-x / Math.sqrt(2));
    }

    @Test
    void nf4ErrorOnNormalDataMatchesTheCodeBooksExpectedFigure() {
        double expected = expectedNf4Mse(64);
        assertTrue(expected > 0.005 && expected < 0.02, "the integral gives a plausible figure: " + expected);
        int rows = 512;
        int cols = 512;
        float[] w = gaussian(rows * cols, 11);
        double nf4;
        double fp4;
        try (Blockwise4Bit q = Blockwise4Bit.quantize(w, rows, cols, QuantType.NF4, 64, false);
             Blockwise4Bit f = Blockwise4Bit.quantize(w, rows, cols, QuantType.FP4, 64, false)) {
            nf4 = mse(q, w);
            fp4 = mse(f, w);
        }
        assertEquals(expected, nf4, 0.01 * expected, "NF4 MSE on N(0, 1): measured " + nf4 + ", integral " + expected);
        assertTrue(nf4 < fp4, "NF4 (" + nf4 + ") beats FP4 (" + fp4 + ") on normal data");
    }

    private static double mse(QuantizedWeight q, float[] w) {
        float[] back = new float[w.length];
        q.dequantize(0, q.rows(), back);
        double s = 0;
        for (int i = 0; i < w.length; i++) {
            double d = back[i] - w[i];
            s += d * d;
        }
        return s / w.length;
    }

    @Test
    void doubleQuantizationCostsAnEighthOfABitAndLittleAccuracy() {
        int rows = 1024;
        int cols = 1024;
        float[] w = gaussian(rows * cols, 13);
        try (Blockwise4Bit plain = Blockwise4Bit.quantize(w, rows, cols, QuantType.NF4, 64, false);
             Blockwise4Bit dq = Blockwise4Bit.quantize(w, rows, cols, QuantType.NF4, 64, true)) {
            double bitsPlain = 8.0 * plain.storedBytes() / w.length;
            double bitsDq = 8.0 * dq.storedBytes() / w.length;
            assertEquals(4.5, bitsPlain, 1e-9);                                    // 4 + 32/64
            assertEquals(4 + 8.0 / 64 + 32.0 / (64 * 256) + 32.0 / w.length, bitsDq, 1e-9);   // ≈ 4.127 (+ the offset)
            float[] a = plain.blockAbsmax();
            float[] b = dq.blockAbsmax();
            double worst = 0;
            for (int i = 0; i < a.length; i++) {
                worst = Math.max(worst, Math.abs(a[i] - b[i]) / a[i]);
            }
            assertTrue(worst < 0.02, "absmax read back within 2 %: " + worst);
            assertTrue(mse(dq, w) < 1.01 * mse(plain, w), "double quantization adds under 1 % to the error");
        }
    }

    @Test
    void hostAndNd4jDequantizationAgreeBitForBit() {
        int[][] shapes = {{7, 50}, {96, 48}, {33, 130}, {64, 64}};
        for (int[] s : shapes) {
            float[] w = gaussian(s[0] * s[1], s[0] + s[1]);
            QuantizedWeight[] weights = {
                Blockwise4Bit.quantize(w, s[0], s[1], QuantType.NF4, 64, false),
                Blockwise4Bit.quantize(w, s[0], s[1], QuantType.NF4, 64, true),
                Blockwise4Bit.quantize(w, s[0], s[1], QuantType.FP4, 32, true),
                Blockwise4Bit.quantize(w, s[0], s[1], QuantType.FP4, 128, false),
                RowwiseInt8.quantize(HostBuffers.floats(w, s[0], s[1]))};
            for (QuantizedWeight q : weights) {
                int align = q.rowAlignment();
                for (int r0 = 0; r0 < s[0]; r0 += align) {
                    int r1 = Math.min(s[0], r0 + Math.max(align, 2 * align));
                    float[] host = new float[(r1 - r0) * s[1]];
                    q.dequantize(r0, r1, host);
                    float[] nd4j = HostBuffers.rowMajor(q.dequantizeNd4j(r0, r1));
                    assertArrayEquals(host, nd4j, q + " rows " + r0 + ".." + r1);
                }
                float[] all = new float[s[0] * s[1]];
                q.dequantize(0, s[0], all);
                INDArray whole = q.dequantizeNd4j(0, s[0]);
                assertArrayEquals(all, HostBuffers.rowMajor(whole), q.toString());
                assertArrayEquals(HostBuffers.rowMajor(whole.get(NDArrayIndex.interval(s[0] - 1, s[0]), NDArrayIndex.all())),
                        java.util.Arrays.copyOfRange(all, (s[0] - 1) * s[1], s[0] * s[1]));
                q.close();
            }
        }
    }

    @Test
    void badInputsAreRefusedWithTheAllowedValues() {
        float[] w = new float[64];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Blockwise4Bit.quantize(w, 8, 8, QuantType.NF4, 16, false));
        assertTrue(e.getMessage().contains("[32, 4096]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Blockwise4Bit.quantize(w, 8, 8, QuantType.INT8, 64, false));
        assertTrue(e.getMessage().contains("NF4 or FP4"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Blockwise4Bit.quantize(w, 8, 9, QuantType.NF4, 64, false));
        assertTrue(e.getMessage().contains("72"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> QuantType.parse("nf8"));
        assertTrue(e.getMessage().contains("nf4, fp4, int8"), e.getMessage());
        try (Blockwise4Bit q = Blockwise4Bit.quantize(w, 8, 8, QuantType.NF4, 64, false)) {
            e = assertThrows(IllegalArgumentException.class, () -> q.dequantize(3, 9, new float[64]));
            assertTrue(e.getMessage().contains("[0, 8)"), e.getMessage());
        }
    }
}
