package org.peft4j.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.nn.Init;

/**
 * The fast CPU kernels against the portable ND4J kernels, in float, on the same random inputs; run for
 * both inner loops by {@link ScalarKernelParityTest} and {@link VectorKernelParityTest}. The portable
 * kernels are themselves checked against finite differences (LayerGradientTest), so agreement here
 * makes the CPU path's backward passes correct too.
 */
abstract class KernelParityTest {
    /** The inner loops under test. */
    abstract RowMath math();

    private final Kernels cpu = new CpuKernels(math());
    private final Kernels portable = new Nd4jKernels();
    private final SplittableRandom rng = new SplittableRandom(42);

    private INDArray randn(long... shape) {
        return Init.normal(DataType.FLOAT, 1.0, rng, shape);
    }

    private static void assertClose(INDArray expected, INDArray actual, double tol, String what) {
        assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(actual.shape()), what + " shape");
        double maxDiff = Nd4j.math().abs(expected.castTo(DataType.DOUBLE).sub(actual.castTo(DataType.DOUBLE))).maxNumber().doubleValue();
        double scale = Math.max(1.0, Nd4j.math().abs(expected.castTo(DataType.DOUBLE)).maxNumber().doubleValue());
        assertTrue(maxDiff <= tol * scale, what + ": max difference " + maxDiff + " > " + tol * scale);
    }

    @Test
    void layerNormForwardAndBackward() {
        INDArray x = randn(37, 64).muli(3).addi(1.5);
        INDArray gamma = randn(64);
        INDArray beta = randn(64);
        Kernels.NormOutput a = cpu.layerNorm(x, gamma, beta, 1e-5);
        Kernels.NormOutput b = portable.layerNorm(x, gamma, beta, 1e-5);
        assertClose(b.y(), a.y(), 1e-5, "y");
        INDArray dy = randn(37, 64);
        INDArray dgA = randn(64);
        INDArray dgB = dgA.dup();
        INDArray dbA = randn(64);
        INDArray dbB = dbA.dup();
        INDArray dxA = cpu.layerNormBackward(dy, x, gamma, a.mean(), a.rstd(), dgA, dbA);
        INDArray dxB = portable.layerNormBackward(dy, x, gamma, b.mean(), b.rstd(), dgB, dbB);
        assertClose(dxB, dxA, 1e-5, "dx");
        assertClose(dgB, dgA, 1e-5, "dGamma");
        assertClose(dbB, dbA, 1e-5, "dBeta");
    }

    @Test
    void rmsNormForwardAndBackward() {
        INDArray x = randn(19, 48);
        INDArray gamma = randn(48);
        Kernels.NormOutput a = cpu.rmsNorm(x, gamma, 1e-6);
        Kernels.NormOutput b = portable.rmsNorm(x, gamma, 1e-6);
        assertClose(b.y(), a.y(), 1e-5, "y");
        INDArray dy = randn(19, 48);
        INDArray dgA = Nd4j.zeros(DataType.FLOAT, 48);
        INDArray dgB = Nd4j.zeros(DataType.FLOAT, 48);
        assertClose(portable.rmsNormBackward(dy, x, gamma, b.rstd(), dgB), cpu.rmsNormBackward(dy, x, gamma, a.rstd(), dgA), 1e-5, "dx");
        assertClose(dgB, dgA, 1e-5, "dGamma");
    }

    @ParameterizedTest
    @EnumSource(Activation.class)
    void activations(Activation fn) {
        INDArray x = randn(33, 50).muli(3);
        assertClose(portable.activate(fn, x), cpu.activate(fn, x), 2e-6, fn + " forward");
        INDArray dy = randn(33, 50);
        assertClose(portable.activateBackward(fn, x, dy), cpu.activateBackward(fn, x, dy), 2e-6, fn + " backward");
    }

    @Test
    void columnSums() {
        INDArray dy = randn(101, 17);
        INDArray a = randn(17);
        INDArray b = a.dup();
        cpu.addColumnSums(dy, a);
        portable.addColumnSums(dy, b);
        assertClose(b, a, 1e-5, "column sums");
        assertClose(dy.sum(0).addi(b.sub(dy.sum(0))), a, 1e-5, "accumulates");
    }

    /**
     * The small-product loop of {@link RowMath#multiply} against a double-precision reference: shapes that
     * cross its 4-row blocks and its 2-vector, 1-vector and lane tails (16 or 8 lanes), a read plain and
     * transposed through its strides, b and c as blocks of wider matrices (row strides ldb, ldc).
     */
    @ParameterizedTest
    @CsvSource({"false", "true"})
    void smallProductsThroughStrides(boolean transposedA) {
        int[][] shapes = {{7, 53, 5}, {16, 32, 32}, {1, 1, 3}, {13, 128, 64}};
        for (int[] shape : shapes) {
            int m = shape[0];
            int n = shape[1];
            int k = shape[2];
            int ldb = n + 3;
            int ldc = n + 5;
            float[] a = new float[m * k + 2];
            float[] b = new float[k * ldb + 1];
            float[] c = new float[m * ldc + 4];
            for (float[] x : new float[][] {a, b, c}) {
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rng.nextGaussian();
                }
            }
            float[] untouched = c.clone();
            int aRow = transposedA ? 1 : k;
            int aCol = transposedA ? m : 1;
            math().multiply(a, 2, aRow, aCol, b, 1, ldb, c, 4, ldc, m, n, k);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < ldc; j++) {
                    int at = 4 + i * ldc + j;
                    if (j >= n) {
                        assertEquals(untouched[at], c[at], "outside the block, row " + i + " column " + j);
                        continue;
                    }
                    double expected = 0;
                    for (int p = 0; p < k; p++) {
                        expected += (double) a[2 + i * aRow + p * aCol] * b[1 + p * ldb + j];
                    }
                    assertEquals(expected, c[at], 1e-5 * Math.max(1, Math.abs(expected)), java.util.Arrays.toString(shape) + " at " + i + ", " + j);
                }
            }
            assertEquals(untouched[0], c[0], "before the block");
        }
    }

    /**
     * The fused head-by-head attention against the composition of batched products, masked softmax and its
     * backward: with and without dropout's keep-mask, causal with past keys (S > T), and padding on the
     * right (the prefix path) and on the left (the element-wise path).
     */
    @ParameterizedTest
    @CsvSource({"false,false", "true,false", "false,true", "true,true"})
    void fusedAttentionForwardAndBackward(boolean causal, boolean dropout) {
        int batch = 2;
        int heads = 3;
        int t = 6;
        int s = 9;
        int hd = 20;
        int[] keyMask = new int[batch * s];
        java.util.Arrays.fill(keyMask, 1);
        keyMask[s - 1] = 0;                 // sequence 0: right padding
        keyMask[s] = 0;                     // sequence 1: left padding
        keyMask[s + 1] = 0;
        AttentionMask mask = new AttentionMask(batch, heads, t, s, causal, keyMask);
        INDArray q = randn(batch * heads, t, hd);
        INDArray k = randn(batch * heads, s, hd);
        INDArray v = randn(batch * heads, s, hd);
        INDArray keep = null;
        if (dropout) {
            float[] scaled = new float[batch * heads * t * s];
            for (int i = 0; i < scaled.length; i++) {
                scaled[i] = rng.nextDouble() < 0.2 ? 0f : 1.25f;
            }
            keep = Nd4j.create(scaled, new long[] {batch * heads, t, s}, 'c');
        }
        double scale = 1 / Math.sqrt(hd);
        Kernels.AttentionOutput a = cpu.attention(q, k, v, scale, mask, keep);
        Kernels.AttentionOutput b = portable.attention(q, k, v, scale, mask, keep);
        assertClose(b.probs(), a.probs(), 1e-5, "probs");
        assertClose(b.context(), a.context(), 1e-5, "context");
        assertEquals(0.0, a.probs().getDouble(0, 0, s - 1), "a padded key gets no weight");
        INDArray dContext = randn((long) batch * t, (long) heads * hd);
        Kernels.AttentionGradients ga = cpu.attentionBackward(dContext, q, k, v, a.probs(), keep, scale, batch);
        Kernels.AttentionGradients gb = portable.attentionBackward(dContext, q, k, v, b.probs(), keep, scale, batch);
        assertClose(gb.dq(), ga.dq(), 1e-5, "dq");
        assertClose(gb.dk(), ga.dk(), 1e-5, "dk");
        assertClose(gb.dv(), ga.dv(), 1e-5, "dv");
    }

    @Test
    void splitAndMergeHeadsWithColumnOffsets() {
        int batch = 3;
        int seq = 5;
        int heads = 2;
        int headDim = 4;
        INDArray qkv = randn((long) batch * seq, 3 * heads * headDim);
        for (int part = 0; part < 3; part++) {
            int offset = part * heads * headDim;
            INDArray a = cpu.splitHeads(qkv, offset, heads, headDim, batch, seq);
            INDArray b = portable.splitHeads(qkv, offset, heads, headDim, batch, seq);
            assertEquals(b, a, "split part " + part);
            // element check against the definition: [b·H + h, t, i] = x[b·T + t, offset + h·hd + i]
            assertEquals(qkv.getFloat(2 * seq + 3, offset + headDim + 1), a.getFloat(2 * heads + 1, 3, 1));
            INDArray dstA = Nd4j.zeros(DataType.FLOAT, (long) batch * seq, 3 * heads * headDim);
            INDArray dstB = dstA.dup();
            cpu.mergeHeads(a, dstA, offset, batch, seq);
            portable.mergeHeads(b, dstB, offset, batch, seq);
            assertEquals(dstB, dstA, "merge part " + part);
            assertEquals(qkv.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                    org.nd4j.linalg.indexing.NDArrayIndex.interval(offset, offset + heads * headDim)),
                    dstA.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                            org.nd4j.linalg.indexing.NDArrayIndex.interval(offset, offset + heads * headDim)), "round trip");
        }
    }

    @Test
    void maskedSoftmaxWithCausalPaddingAndPast() {
        int batch = 2;
        int heads = 3;
        int q = 4;
        int k = 6;   // two past positions
        int[] keyMask = {1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0};
        AttentionMask mask = new AttentionMask(batch, heads, q, k, true, keyMask);
        INDArray scores = randn((long) batch * heads, q, k).muli(4);
        INDArray a = cpu.maskedSoftmax(scores.dup(), mask);
        INDArray b = portable.maskedSoftmax(scores.dup(), mask);
        assertClose(b, a, 1e-6, "softmax");
        // hidden keys get exactly zero; rows sum to one
        assertEquals(0f, a.getFloat(0, 0, 3), "causal: query 0 sees keys 0..2 only");
        assertEquals(0f, a.getFloat(heads, 3, 0), "padding key of sequence 1");
        assertClose(Nd4j.ones(DataType.FLOAT, (long) batch * heads, q), a.sum(2), 1e-6, "rows sum to 1");
        INDArray dp = randn((long) batch * heads, q, k);
        assertClose(portable.softmaxBackward(b, dp.dup()), cpu.softmaxBackward(a, dp.dup()), 1e-5, "softmax backward");
    }

    @Test
    void softmaxWithLeftPaddingTakesTheElementWisePath() {
        int batch = 2;
        int heads = 2;
        int q = 5;
        int k = 5;
        int[] keyMask = {0, 0, 1, 1, 1, 1, 1, 1, 1, 0};    // left padding in sequence 0, right padding in sequence 1
        for (boolean causal : new boolean[] {false, true}) {
            AttentionMask mask = new AttentionMask(batch, heads, q, k, causal, keyMask);
            INDArray scores = randn((long) batch * heads, q, k).muli(3);
            assertClose(portable.maskedSoftmax(scores.dup(), mask), cpu.maskedSoftmax(scores.dup(), mask), 1e-6, "causal " + causal);
        }
    }

    @Test
    void longRowsCrossTheVectorWidthAndItsTail() {
        // 77 keys: several full SIMD registers and a tail
        AttentionMask mask = new AttentionMask(1, 3, 77, 77, true, null);
        INDArray scores = randn(3, 77, 77).muli(5);
        assertClose(portable.maskedSoftmax(scores.dup(), mask), cpu.maskedSoftmax(scores.dup(), mask), 1e-6, "softmax");
        INDArray x = randn(13, 77).muli(2).addi(0.5);
        INDArray gamma = randn(77);
        INDArray beta = randn(77);
        Kernels.NormOutput a = cpu.layerNorm(x, gamma, beta, 1e-5);
        Kernels.NormOutput b = portable.layerNorm(x, gamma, beta, 1e-5);
        assertClose(b.y(), a.y(), 1e-5, "layer norm, 77 wide");
        INDArray dy = randn(13, 77);
        INDArray dgA = randn(77);
        INDArray dgB = dgA.dup();
        assertClose(portable.layerNormBackward(dy, x, gamma, b.mean(), b.rstd(), dgB, null),
                cpu.layerNormBackward(dy, x, gamma, a.mean(), a.rstd(), dgA, null), 1e-5, "layer norm backward, 77 wide");
        assertClose(dgB, dgA, 1e-5, "dGamma, 77 wide");
        INDArray logits = randn(5, 77).muli(3);
        int[] labels = {3, 76, -100, 0, 40};
        assertClose(portable.crossEntropy(logits, labels, -100, 0.5, true).gradLogits(),
                cpu.crossEntropy(logits, labels, -100, 0.5, true).gradLogits(), 1e-6, "cross-entropy, 77 wide");
        for (Activation fn : Activation.values()) {
            INDArray v = randn(3, 77).muli(4);
            INDArray g = randn(3, 77);
            assertClose(portable.activate(fn, v), cpu.activate(fn, v), 2e-6, fn + " forward");
            assertClose(portable.activateBackward(fn, v, g), cpu.activateBackward(fn, v, g), 2e-6, fn + " backward");
        }
    }

    @Test
    void fullyHiddenRowsAreUniformOnBothPaths() {
        AttentionMask mask = new AttentionMask(1, 1, 2, 2, false, new int[] {0, 0});
        INDArray scores = randn(1, 2, 2);
        INDArray expected = Nd4j.valueArrayOf(new long[] {1, 2, 2}, 0.5f, DataType.FLOAT);
        assertClose(expected, cpu.maskedSoftmax(scores.dup(), mask), 1e-7, "cpu");
        assertClose(expected, portable.maskedSoftmax(scores.dup(), mask), 1e-7, "portable");
    }

    @Test
    void crossEntropyWithIgnoredRows() {
        INDArray logits = randn(9, 13).muli(3);
        int[] labels = {0, 12, -100, 5, 5, -100, 7, 1, 3};
        Kernels.CrossEntropyOutput a = cpu.crossEntropy(logits, labels, -100, 0.25, true);
        Kernels.CrossEntropyOutput b = portable.crossEntropy(logits, labels, -100, 0.25, true);
        assertEquals(7, a.count());
        assertEquals(b.count(), a.count());
        assertEquals(b.lossSum(), a.lossSum(), 1e-4);
        assertClose(b.gradLogits(), a.gradLogits(), 1e-6, "dlogits");
        // hand check of row 0: −log softmax(z)[0]
        double max = logits.getRow(0).maxNumber().doubleValue();
        double lse = max + Math.log(org.nd4j.linalg.ops.transforms.Transforms.exp(logits.getRow(0).castTo(DataType.DOUBLE).sub(max)).sumNumber().doubleValue());
        Kernels.CrossEntropyOutput single = cpu.crossEntropy(logits.getRow(0).reshape(1, 13).dup(), new int[] {0}, -100, 1.0, false);
        assertEquals(lse - logits.getDouble(0, 0), single.lossSum(), 1e-5);
        assertEquals(0.0, a.gradLogits().getRow(2).sumNumber().doubleValue(), 0.0, "ignored row has no gradient");
    }

    @Test
    void gatherAndScatterAddWithRepeatedIds() {
        INDArray table = randn(11, 6);
        int[] ids = {3, 0, 3, 10, 7};
        assertEquals(portable.gatherRows(table, ids), cpu.gatherRows(table, ids));
        assertEquals(table.getRow(10), cpu.gatherRows(table, ids).getRow(3));
        INDArray rows = randn(5, 6);
        INDArray ta = Nd4j.zeros(DataType.FLOAT, 11, 6);
        INDArray tb = ta.dup();
        cpu.scatterAddRows(ta, ids, rows);
        portable.scatterAddRows(tb, ids, rows);
        assertClose(tb, ta, 1e-6, "scatter");
        assertClose(rows.getRow(0).add(rows.getRow(2)), ta.getRow(3), 1e-6, "repeated id adds up");
    }
}
