package org.peft4j.core.kernel;

import java.nio.FloatBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The fast CPU path: plain Java loops over host copies of the data. ND4J's CPU element-wise ops were
 * measured 6–40× slower than PyTorch here (layer norm, its backward, column sums, GELU); these loops
 * are a copy in, one pass, a copy out, in reused per-thread buffers. FLOAT only: other types (DOUBLE
 * for gradient checks) go to the portable {@link Nd4jKernels}, which is also the reference these loops
 * are tested against.
 */
public final class CpuKernels implements Kernels {
    private final Nd4jKernels portable = new Nd4jKernels();
    private final Scratch scratch = new Scratch();
    private final RowMath math;
    private final HostGemm gemm;   // null: every product goes to ND4J's GEMM

    /**
     * The CPU kernels with SIMD inner loops when the JVM has the Vector API module (plain loops
     * otherwise), and the Java matrix product where it is faster than ND4J's ({@link HostGemm#best()}).
     */
    public CpuKernels() {
        this(RowMath.best(), HostGemm.best().orElse(null));
        if (gemm != null) {
            OpenBlasThreads.useOneThread();
        }
    }

    /** The CPU kernels with the given inner loops, all products through ND4J (tests compare the two loops). */
    CpuKernels(RowMath math) {
        this(math, null);
    }

    /** The CPU kernels with the given inner loops and Java matrix product (null: ND4J's). */
    CpuKernels(RowMath math, HostGemm gemm) {
        this.math = math;
        this.gemm = gemm;
    }

    /** "cpu", the inner loops and the Java product if any, e.g. "cpu (vector(16 lanes), vector gemm (8×48))". */
    @Override
    public String name() {
        return "cpu (" + math.name() + (gemm == null ? "" : ", " + gemm.name()) + ")";
    }

    // ---------------------------------------------------------------- matrix products

    /** Smallest m, n and k the Java product takes; thinner products (LoRA's rank-r ones) stay with ND4J. */
    static final int MIN_HOST_GEMM_SIZE = 32;

    /** True if the Java product takes this FLOAT product: every size at least the minimum, every operand indexable by int. */
    private boolean hostGemm(Gemm.Shape shape, INDArray... xs) {
        long m = shape.m();
        long n = shape.n();
        long k = shape.k();
        return gemm != null && fast(xs) && Math.min(m, Math.min(n, k)) >= MIN_HOST_GEMM_SIZE && m * n <= Integer.MAX_VALUE
                && m * k <= Integer.MAX_VALUE && n * k <= Integer.MAX_VALUE;
    }

    @Override
    public INDArray matmul(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
        Gemm.Shape shape = Gemm.Shape.of(a, b, transposeA, transposeB);
        return hostGemm(shape, a, b) ? hostProduct(a, b, shape, transposeA, transposeB, null) : Gemm.mm(a, b, transposeA, transposeB);
    }

    @Override
    public void matmulInto(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB, double alpha, double beta) {
        Gemm.Shape shape = Gemm.Shape.of(a, b, transposeA, transposeB);
        shape.checkOutput(c);
        if (!hostGemm(shape, a, b, c) || !HostArrays.isContiguous(c)) {
            Gemm.mmInto(a, b, c, transposeA, transposeB, alpha, beta);
            return;
        }
        hostMultiply(a, b, c, shape, transposeA, transposeB, alpha, beta, null);
    }

    @Override
    public INDArray linear(INDArray x, INDArray w, boolean transposeW, INDArray bias) {
        Gemm.Shape shape = Gemm.Shape.of(x, w, false, transposeW);
        shape.checkBias(bias);
        return hostGemm(shape, x, w, bias) ? hostProduct(x, w, shape, false, transposeW, bias) : Kernels.super.linear(x, w, transposeW, bias);
    }

    /** op(a)·op(b) + bias (null: none) from the Java product, as a new array. */
    private INDArray hostProduct(INDArray a, INDArray b, Gemm.Shape shape, boolean transposeA, boolean transposeB, INDArray bias) {
        INDArray c = Nd4j.createUninitialized(DataType.FLOAT, shape.m(), shape.n());
        hostMultiply(a, b, c, shape, transposeA, transposeB, 1.0, 0.0, bias);
        return c;
    }

    private void hostMultiply(INDArray a, INDArray b, INDArray c, Gemm.Shape shape, boolean transposeA, boolean transposeB, double alpha,
            double beta, INDArray bias) {
        long start = System.nanoTime();
        gemm.multiply(HostArrays.buffer(HostArrays.contiguous(a)), transposeA, HostArrays.buffer(HostArrays.contiguous(b)), transposeB,
                HostArrays.buffer(c), shape.m(), shape.n(), shape.k(), (float) alpha, (float) beta,
                bias == null ? null : HostArrays.buffer(HostArrays.contiguous(bias)));
        GemmStatistics.record(GemmStatistics.Kind.JAVA, 1, shape.m(), shape.n(), shape.k(), System.nanoTime() - start);
    }

    private static boolean fast(INDArray... xs) {
        for (INDArray x : xs) {
            if (x != null && x.dataType() != DataType.FLOAT) {
                return false;
            }
        }
        return true;
    }

    /** x's values in scratch buffer {@code slot}. */
    private float[] read(INDArray x, int slot) {
        return HostArrays.readInto(x, scratch.get(slot, x.length()));
    }

    // ---------------------------------------------------------------- normalization

    @Override
    public NormOutput layerNorm(INDArray x, INDArray gamma, INDArray beta, double eps) {
        if (!fast(x, gamma, beta)) {
            return portable.layerNorm(x, gamma, beta, eps);
        }
        int n = (int) x.rows();
        int d = (int) x.columns();
        float[] xs = read(x, 0);
        float[] g = read(gamma, 1);
        float[] b = read(beta, 2);
        float[] y = scratch.get(3, (long) n * d);
        float[] means = scratch.get(4, n);
        float[] rstds = scratch.get(5, n);
        Parallel.rows(n, d, (from, to) -> {
            float[] stats = new float[2];
            for (int r = from; r < to; r++) {
                math.normRow(xs, r * d, d, g, b, eps, true, y, stats);
                means[r] = stats[0];
                rstds[r] = stats[1];
            }
        });
        return new NormOutput(HostArrays.create(y, n, d), HostArrays.create(means, n, 1), HostArrays.create(rstds, n, 1));
    }

    @Override
    public INDArray layerNormBackward(INDArray dy, INDArray x, INDArray gamma, INDArray mean, INDArray rstd, INDArray dGamma,
            INDArray dBeta) {
        if (!fast(dy, x, gamma, dGamma, dBeta)) {
            return portable.layerNormBackward(dy, x, gamma, mean, rstd, dGamma, dBeta);
        }
        return normBackward(dy, x, gamma, mean, rstd, dGamma, dBeta);
    }

    @Override
    public NormOutput rmsNorm(INDArray x, INDArray gamma, double eps) {
        if (!fast(x, gamma)) {
            return portable.rmsNorm(x, gamma, eps);
        }
        int n = (int) x.rows();
        int d = (int) x.columns();
        float[] xs = read(x, 0);
        float[] g = read(gamma, 1);
        float[] y = scratch.get(2, (long) n * d);
        float[] rstds = scratch.get(3, n);
        Parallel.rows(n, d, (from, to) -> {
            float[] stats = new float[2];
            for (int r = from; r < to; r++) {
                math.normRow(xs, r * d, d, g, null, eps, false, y, stats);
                rstds[r] = stats[1];
            }
        });
        return new NormOutput(HostArrays.create(y, n, d), null, HostArrays.create(rstds, n, 1));
    }

    @Override
    public INDArray rmsNormBackward(INDArray dy, INDArray x, INDArray gamma, INDArray rstd, INDArray dGamma) {
        if (!fast(dy, x, gamma, dGamma)) {
            return portable.rmsNormBackward(dy, x, gamma, rstd, dGamma);
        }
        return normBackward(dy, x, gamma, null, rstd, dGamma, null);
    }

    /**
     * Shared backward of LayerNorm (mean given) and RMSNorm (mean null):
     * dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), where RMSNorm has no mean(dx̂) term. Rows are split over
     * tasks; each task sums its own dγ and dβ, added up at the end.
     */
    private INDArray normBackward(INDArray dy, INDArray x, INDArray gamma, INDArray mean, INDArray rstd, INDArray dGamma, INDArray dBeta) {
        int n = (int) x.rows();
        int d = (int) x.columns();
        float[] dys = read(dy, 0);
        float[] xs = read(x, 1);
        float[] g = read(gamma, 2);
        float[] means = mean == null ? null : read(mean, 3);
        float[] rstds = read(rstd, 4);
        float[] dx = scratch.get(5, (long) n * d);
        int tasks = Parallel.tasks(n, d);
        float[][] dgParts = new float[tasks][dGamma == null ? 0 : d];
        float[][] dbParts = new float[tasks][dBeta == null ? 0 : d];
        Parallel.tasks(tasks, n, (task, from, to) -> {
            float[] dg = dGamma == null ? null : dgParts[task];
            float[] db = dBeta == null ? null : dbParts[task];
            float[] xhat = new float[d];
            float[] dxhat = new float[d];
            for (int r = from; r < to; r++) {
                math.normBackwardRow(dys, xs, r * d, d, g, means == null ? 0f : means[r], rstds[r], means != null, dx, dg, db, xhat, dxhat);
            }
        });
        if (dGamma != null) {
            addInto(dGamma, sumParts(dgParts));
        }
        if (dBeta != null) {
            addInto(dBeta, sumParts(dbParts));
        }
        return HostArrays.create(dx, n, d);
    }

    /** The element-wise sum of equal-length arrays. */
    private static float[] sumParts(float[][] parts) {
        float[] out = parts[0].clone();
        for (int p = 1; p < parts.length; p++) {
            for (int j = 0; j < out.length; j++) {
                out[j] += parts[p][j];
            }
        }
        return out;
    }

    private static void addInto(INDArray target, float[] delta) {
        FloatBuffer buf = HostArrays.buffer(target);
        for (int j = 0; j < target.length(); j++) {
            buf.put(j, buf.get(j) + delta[j]);
        }
    }

    // ---------------------------------------------------------------- activations

    @Override
    public INDArray activate(Activation fn, INDArray x) {
        if (!fast(x)) {
            return portable.activate(fn, x);
        }
        int len = (int) x.length();
        float[] v = read(x, 0);
        Parallel.rows(len, 1, (from, to) -> math.activate(fn, v, from, to));
        return HostArrays.create(v, x.shape());
    }

    @Override
    public INDArray activateBackward(Activation fn, INDArray x, INDArray dy) {
        if (!fast(x, dy)) {
            return portable.activateBackward(fn, x, dy);
        }
        int len = (int) x.length();
        float[] v = read(x, 0);
        float[] g = read(dy, 1);
        Parallel.rows(len, 1, (from, to) -> math.activateBackward(fn, v, g, from, to));
        return HostArrays.create(g, x.shape());
    }

    // ---------------------------------------------------------------- reductions and data movement

    @Override
    public void addColumnSums(INDArray dy, INDArray target) {
        if (!fast(dy, target)) {
            portable.addColumnSums(dy, target);
            return;
        }
        int n = (int) dy.rows();
        int d = (int) dy.columns();
        float[] g = read(dy, 0);
        float[] sums = new float[d];
        for (int r = 0; r < n; r++) {
            int o = r * d;
            for (int j = 0; j < d; j++) {
                sums[j] += g[o + j];
            }
        }
        addInto(target, sums);
    }

    @Override
    public INDArray splitHeads(INDArray x, int colOffset, int heads, int headDim, int batch, int seq) {
        if (!fast(x)) {
            return portable.splitHeads(x, colOffset, heads, headDim, batch, seq);
        }
        int cols = (int) x.columns();
        float[] src = read(x, 0);
        float[] dst = scratch.get(1, (long) batch * heads * seq * headDim);
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < seq; t++) {
                int row = (b * seq + t) * cols + colOffset;
                for (int h = 0; h < heads; h++) {
                    System.arraycopy(src, row + h * headDim, dst, ((b * heads + h) * seq + t) * headDim, headDim);
                }
            }
        }
        return HostArrays.create(dst, (long) batch * heads, seq, headDim);
    }

    @Override
    public void mergeHeads(INDArray heads3, INDArray dst, int colOffset, int batch, int seq) {
        if (!fast(heads3, dst) || !HostArrays.isContiguous(dst)) {
            portable.mergeHeads(heads3, dst, colOffset, batch, seq);
            return;
        }
        int heads = (int) (heads3.size(0) / batch);
        int headDim = (int) heads3.size(2);
        int cols = (int) dst.columns();
        float[] src = read(heads3, 0);
        FloatBuffer out = HostArrays.buffer(dst);
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int t = 0; t < seq; t++) {
                    out.put((b * seq + t) * cols + colOffset + h * headDim, src, ((b * heads + h) * seq + t) * headDim, headDim);
                }
            }
        }
    }

    /** dst[c·rows + r] = src[offset + r·cols + c]: the transpose of a row-major {@code [rows, cols]} block. */
    private static void transpose(float[] src, int offset, int rows, int cols, float[] dst) {
        for (int r = 0; r < rows; r++) {
            int row = offset + r * cols;
            for (int c = 0; c < cols; c++) {
                dst[c * rows + r] = src[row + c];
            }
        }
    }

    // ---------------------------------------------------------------- attention, one head at a time

    /*
     * Both passes work head by head with the head's scores in a per-thread buffer that stays in cache:
     * the [batch·heads, T, S] tensors (scores, dropped weights, their gradients) never go through ND4J
     * arrays, which saves about ten full passes over them per layer against the composition of
     * batched products, maskedSoftmax and softmaxBackward. Only the probs are written out, for backward.
     * Slots 0–6 of the scratch hold the caller's whole arrays; the per-head buffers use slots 7–11.
     */

    @Override
    public AttentionOutput attention(INDArray q, INDArray k, INDArray v, double scale, AttentionMask mask, INDArray keep) {
        if (!fast(q, k, v, keep)) {
            return portable.attention(q, k, v, scale, mask, keep);
        }
        long start = System.nanoTime();
        AttentionSizes z = AttentionSizes.of(q, k, v, mask.batch()).matching(mask);
        float[] qs = read(q, 0);
        float[] ks = read(k, 1);
        float[] vs = read(v, 2);
        float[] merged = scratch.get(3, (long) z.batch * z.t * z.heads * z.hd);
        INDArray probs = Nd4j.createUninitialized(DataType.FLOAT, z.items(), z.t, z.s);
        FloatBuffer probsOut = HostArrays.buffer(probs);
        FloatBuffer keepIn = keep == null ? null : HostArrays.buffer(HostArrays.contiguous(keep));
        int[] prefix = visiblePrefixes(mask);
        int headSize = z.t * z.s;
        Parallel.rows(z.items(), z.work(), (from, to) -> {
            float[] kT = scratch.get(7, (long) z.hd * z.s);
            float[] p = scratch.get(8, headSize);
            float[] keepRows = scratch.get(9, headSize);
            float[] dropped = scratch.get(11, headSize);
            for (int item = from; item < to; item++) {
                int b = item / z.heads;
                transpose(ks, item * z.s * z.hd, z.s, z.hd, kT);                                           // kᵀ [hd, S]
                math.multiply(qs, item * z.t * z.hd, z.hd, 1, kT, 0, z.s, p, 0, z.s, z.t, z.s, z.hd);           // scores [T, S]
                for (int i = 0; i < z.t; i++) {
                    math.scale(p, i * z.s, z.s, (float) scale);
                    softmaxRow(p, i * z.s, mask, prefix, b, i);
                }
                probsOut.put(item * headSize, p, 0, headSize);
                float[] weights = keepIn == null ? p : dropped(keepIn, item, headSize, p, keepRows, dropped);
                // context [T, hd] straight into its columns of the merged rows [B·T, H·hd]
                math.multiply(weights, 0, z.s, 1, vs, item * z.s * z.hd, z.hd, merged, (b * z.t * z.heads + item % z.heads) * z.hd,
                        z.heads * z.hd, z.t, z.hd, z.s);
            }
        });
        INDArray context = HostArrays.create(merged, (long) z.batch * z.t, (long) z.heads * z.hd);
        GemmStatistics.record(GemmStatistics.Kind.ATTENTION, 2L * z.items(), z.t, z.s, z.hd, System.nanoTime() - start);
        return new AttentionOutput(context, probs);
    }

    @Override
    public AttentionGradients attentionBackward(INDArray dContext, INDArray q, INDArray k, INDArray v, INDArray probs, INDArray keep,
            double scale, int batch) {
        if (!fast(dContext, q, k, v, probs, keep)) {
            return portable.attentionBackward(dContext, q, k, v, probs, keep, scale, batch);
        }
        long start = System.nanoTime();
        AttentionSizes z = AttentionSizes.of(q, k, v, batch);
        float[] dc = read(dContext, 0);
        float[] qs = read(q, 1);
        float[] ks = read(k, 2);
        float[] vs = read(v, 3);
        float[] dq = scratch.get(4, (long) z.items() * z.t * z.hd);
        float[] dk = scratch.get(5, (long) z.items() * z.s * z.hd);
        float[] dv = scratch.get(6, (long) z.items() * z.s * z.hd);
        FloatBuffer probsIn = HostArrays.buffer(HostArrays.contiguous(probs));
        FloatBuffer keepIn = keep == null ? null : HostArrays.buffer(HostArrays.contiguous(keep));
        int headSize = z.t * z.s;
        int dcRow = z.heads * z.hd;
        Parallel.rows(z.items(), z.work(), (from, to) -> {
            float[] vT = scratch.get(7, (long) z.hd * z.s);
            float[] p = scratch.get(8, headSize);
            float[] keepRows = scratch.get(9, headSize);
            float[] dp = scratch.get(10, headSize);
            float[] dropped = scratch.get(11, headSize);
            for (int item = from; item < to; item++) {
                int dcOffset = (item / z.heads * z.t * z.heads + item % z.heads) * z.hd;                      // head's columns of dContext
                probsIn.get(item * headSize, p, 0, headSize);
                float[] weights = keepIn == null ? p : dropped(keepIn, item, headSize, p, keepRows, dropped);
                transpose(vs, item * z.s * z.hd, z.s, z.hd, vT);                                           // vᵀ [hd, S]
                math.multiply(dc, dcOffset, dcRow, 1, vT, 0, z.s, dp, 0, z.s, z.t, z.s, z.hd);                  // d(weights) = dC·vᵀ
                math.multiply(weights, 0, 1, z.s, dc, dcOffset, dcRow, dv, item * z.s * z.hd, z.hd, z.s, z.hd, z.t); // dv = weightsᵀ·dC
                if (keepIn != null) {
                    multiplyInPlace(dp, keepRows, headSize);                                                // dropout's backward
                }
                for (int o = 0; o < headSize; o += z.s) {
                    math.softmaxBackwardRow(p, dp, o, z.s, (float) math.dot(dp, o, p, o, z.s));
                    math.scale(dp, o, z.s, (float) scale);                                                  // d(q·kᵀ)
                }
                math.multiply(dp, 0, z.s, 1, ks, item * z.s * z.hd, z.hd, dq, item * z.t * z.hd, z.hd, z.t, z.hd, z.s);   // dq = dS·k
                math.multiply(dp, 0, 1, z.s, qs, item * z.t * z.hd, z.hd, dk, item * z.s * z.hd, z.hd, z.s, z.hd, z.t);   // dk = dSᵀ·q
            }
        });
        AttentionGradients out = new AttentionGradients(HostArrays.create(dq, z.items(), z.t, z.hd), HostArrays.create(dk, z.items(), z.s, z.hd),
                HostArrays.create(dv, z.items(), z.s, z.hd));
        GemmStatistics.record(GemmStatistics.Kind.ATTENTION, 4L * z.items(), z.t, z.s, z.hd, System.nanoTime() - start);
        return out;
    }

    /** The sizes of one attention call: batch, heads, query length t, key length s, head size hd. */
    private record AttentionSizes(int batch, int heads, int t, int s, int hd) {
        static AttentionSizes of(INDArray q, INDArray k, INDArray v, int batch) {
            int items = Math.toIntExact(q.size(0));
            if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3 || k.size(0) != items || v.size(0) != items || batch <= 0
                    || items % batch != 0 || k.size(2) != q.size(2) || v.size(2) != q.size(2) || v.size(1) != k.size(1)) {
                throw new IllegalArgumentException("attention needs q [batch*heads, T, hd], k and v [batch*heads, S, hd] with batch " + batch
                        + ", got q " + Arrays.toString(q.shape()) + ", k " + Arrays.toString(k.shape()) + ", v " + Arrays.toString(v.shape()));
            }
            return new AttentionSizes(batch, items / batch, (int) q.size(1), (int) k.size(1), (int) q.size(2));
        }

        /** These sizes, after checking that the mask covers the same queries and keys. */
        AttentionSizes matching(AttentionMask mask) {
            if (mask.queryLen() != t || mask.keyLen() != s) {
                throw new IllegalArgumentException("attention mask covers " + mask.queryLen() + " queries and " + mask.keyLen()
                        + " keys, but q has " + t + " and k " + s);
            }
            return this;
        }

        int items() {
            return batch * heads;
        }

        /** Multiply-adds of one head's product, to size the parallel split. */
        int work() {
            return (int) Math.min(Integer.MAX_VALUE, (long) t * s * hd);
        }
    }

    /**
     * Head {@code item}'s weights after dropout, p ⊙ keep, into {@code dropped}, which it returns; the head's
     * keep-mask stays in {@code keepRows} for the backward of the same head.
     */
    private static float[] dropped(FloatBuffer keep, int item, int headSize, float[] p, float[] keepRows, float[] dropped) {
        keep.get(item * headSize, keepRows, 0, headSize);
        for (int i = 0; i < headSize; i++) {
            dropped[i] = p[i] * keepRows[i];
        }
        return dropped;
    }

    /** a[i] *= b[i] for i < n. */
    private static void multiplyInPlace(float[] a, float[] b, int n) {
        for (int i = 0; i < n; i++) {
            a[i] *= b[i];
        }
    }

    @Override
    public INDArray maskedSoftmax(INDArray scores, AttentionMask mask) {
        if (!fast(scores) || !HostArrays.isContiguous(scores)) {
            return portable.maskedSoftmax(scores, mask);
        }
        int rows = (int) scores.size(0);
        int q = (int) scores.size(1);
        int k = (int) scores.size(2);
        float[] s = read(scores, 0);
        int[] prefix = visiblePrefixes(mask);
        // one task row = one query of one head: [bh, i] → offset (bh·q + i)·k
        Parallel.rows(rows * q, k, (from, to) -> {
            for (int row = from; row < to; row++) {
                softmaxRow(s, row * k, mask, prefix, row / q / mask.heads(), row % q);
            }
        });
        HostArrays.buffer(scores).put(0, s, 0, rows * q * k);
        return scores;
    }

    /** Softmax in place of the scores of query i of sequence b, at s[o .. o + keyLen). */
    private void softmaxRow(float[] s, int o, AttentionMask mask, int[] prefix, int b, int i) {
        int k = mask.keyLen();
        int visible = prefix[b] < 0 ? -1 : mask.causal() ? Math.min(prefix[b], i + k - mask.queryLen() + 1) : prefix[b];
        if (visible >= 0) {
            softmaxPrefix(s, o, k, visible);
        } else {
            softmaxMasked(s, o, k, mask, b, i);
        }
    }

    /**
     * Per sequence, the number of leading visible keys if its key mask is ones then zeros (no mask: all
     * keys), or −1 if padding sits elsewhere (left padding); causal rows cut this further.
     */
    private static int[] visiblePrefixes(AttentionMask mask) {
        int[] out = new int[mask.batch()];
        for (int b = 0; b < out.length; b++) {
            if (mask.keyMask() == null) {
                out[b] = mask.keyLen();
                continue;
            }
            int o = b * mask.keyLen();
            int lead = 0;
            while (lead < mask.keyLen() && mask.keyMask()[o + lead] != 0) {
                lead++;
            }
            int rest = lead;
            while (rest < mask.keyLen() && mask.keyMask()[o + rest] == 0) {
                rest++;
            }
            out[b] = rest == mask.keyLen() ? lead : -1;
        }
        return out;
    }

    /** Softmax of a row whose visible keys are its first {@code visible}; the others get 0; none visible: uniform. */
    private void softmaxPrefix(float[] s, int o, int k, int visible) {
        if (visible == 0) {
            Arrays.fill(s, o, o + k, 1f / k);
            return;
        }
        float max = math.max(s, o, visible);
        double sum = math.expInPlace(s, o, visible, max, 1f);
        math.scale(s, o, visible, (float) (1.0 / sum));
        Arrays.fill(s, o + visible, o + k, 0f);
    }

    /** Softmax of a row under an arbitrary mask, element by element. */
    private static void softmaxMasked(float[] s, int o, int k, AttentionMask mask, int b, int i) {
        float max = Float.NEGATIVE_INFINITY;
        int visible = 0;
        for (int j = 0; j < k; j++) {
            if (mask.visible(b, i, j)) {
                max = Math.max(max, s[o + j]);
                visible++;
            }
        }
        if (visible == 0) {
            Arrays.fill(s, o, o + k, 1f / k);
            return;
        }
        double sum = 0;
        for (int j = 0; j < k; j++) {
            if (mask.visible(b, i, j)) {
                float e = FastMath.exp(s[o + j] - max);
                s[o + j] = e;
                sum += e;
            } else {
                s[o + j] = 0f;
            }
        }
        float inv = (float) (1.0 / sum);
        for (int j = 0; j < k; j++) {
            s[o + j] *= inv;
        }
    }

    @Override
    public INDArray softmaxBackward(INDArray probs, INDArray dProbs) {
        if (!fast(probs, dProbs)) {
            return portable.softmaxBackward(probs, dProbs);
        }
        int len = (int) probs.length();
        int k = (int) probs.size(probs.rank() - 1);
        float[] p = read(probs, 0);
        float[] dp = read(dProbs, 1);
        Parallel.rows(len / k, k, (from, to) -> {
            for (int o = from * k; o < to * k; o += k) {
                math.softmaxBackwardRow(p, dp, o, k, (float) math.dot(dp, o, p, o, k));
            }
        });
        return HostArrays.create(dp, probs.shape());
    }

    @Override
    public INDArray rotateHalves(INDArray x, INDArray cos, INDArray sin) {
        if (!fast(x, cos, sin)) {
            return portable.rotateHalves(x, cos, sin);
        }
        Nd4jKernels.checkRotation(x, cos, sin);
        int n = (int) x.size(0);
        int seq = (int) x.size(1);
        int d = (int) x.size(2);
        int half = d / 2;
        float[] xs = read(x, 0);
        float[] c = read(cos, 1);
        float[] s = read(sin, 2);
        float[] y = scratch.get(3, x.length());
        for (int r = 0; r < n; r++) {
            for (int t = 0; t < seq; t++) {
                int o = (r * seq + t) * d;
                int a = t * half;
                for (int i = 0; i < half; i++) {
                    float x1 = xs[o + i];
                    float x2 = xs[o + half + i];
                    y[o + i] = x1 * c[a + i] - x2 * s[a + i];
                    y[o + half + i] = x2 * c[a + i] + x1 * s[a + i];
                }
            }
        }
        return HostArrays.create(y, x.shape());
    }

    @Override
    public CrossEntropyOutput crossEntropy(INDArray logits, int[] labels, int ignoreIndex, double gradScale, boolean withGrad) {
        if (!fast(logits)) {
            return portable.crossEntropy(logits, labels, ignoreIndex, gradScale, withGrad);
        }
        int n = (int) logits.rows();
        int vocab = (int) logits.columns();
        Nd4jKernels.checkLabels(labels, n, vocab, ignoreIndex);
        float[] z = read(logits, 0);
        float scale = (float) gradScale;
        int tasks = Parallel.tasks(n, vocab);
        double[] lossParts = new double[tasks];
        int[] countParts = new int[tasks];
        Parallel.tasks(tasks, n, (task, from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * vocab;
                if (labels[r] == ignoreIndex) {
                    if (withGrad) {
                        Arrays.fill(z, o, o + vocab, 0f);
                    }
                    continue;
                }
                float max = math.max(z, o, vocab);
                double logSumExp = max + Math.log(math.sumExp(z, o, vocab, max));
                lossParts[task] += logSumExp - z[o + labels[r]];
                countParts[task]++;
                if (withGrad) {
                    math.expInPlace(z, o, vocab, (float) logSumExp, scale);       // softmax·scale
                    z[o + labels[r]] -= scale;
                }
            }
        });
        double lossSum = 0;
        int count = 0;
        for (int t = 0; t < tasks; t++) {            // in task order, so the sum is the same on every run
            lossSum += lossParts[t];
            count += countParts[t];
        }
        return new CrossEntropyOutput(lossSum, count, withGrad ? HostArrays.create(z, n, vocab) : null);
    }

    @Override
    public INDArray gatherRows(INDArray table, int[] ids) {
        if (!fast(table) || !HostArrays.isContiguous(table)) {
            return portable.gatherRows(table, ids);
        }
        Nd4jKernels.checkIds(table, ids);
        int d = (int) table.columns();
        FloatBuffer src = HostArrays.buffer(table);
        float[] out = scratch.get(0, (long) ids.length * d);
        for (int i = 0; i < ids.length; i++) {
            src.get(ids[i] * d, out, i * d, d);
        }
        return HostArrays.create(out, ids.length, d);
    }

    @Override
    public void scatterAddRows(INDArray target, int[] ids, INDArray rows) {
        if (!fast(target, rows) || !HostArrays.isContiguous(target)) {
            portable.scatterAddRows(target, ids, rows);
            return;
        }
        Nd4jKernels.checkIds(target, ids);
        int d = (int) target.columns();
        float[] add = read(rows, 0);
        FloatBuffer dst = HostArrays.buffer(target);
        float[] row = new float[d];
        for (int i = 0; i < ids.length; i++) {
            int o = ids[i] * d;
            dst.get(o, row, 0, d);
            for (int j = 0; j < d; j++) {
                row[j] += add[i * d + j];
            }
            dst.put(o, row, 0, d);
        }
    }
}
