package org.peft4j.core.kernel;

import java.nio.FloatBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

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

    @Override
    public String name() {
        return "cpu";
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
            for (int r = from; r < to; r++) {
                int o = r * d;
                double sum = 0;
                for (int j = 0; j < d; j++) {
                    sum += xs[o + j];
                }
                float mean = (float) (sum / d);
                double sq = 0;
                for (int j = 0; j < d; j++) {
                    float c = xs[o + j] - mean;
                    sq += c * c;
                }
                float rstd = (float) (1.0 / Math.sqrt(sq / d + eps));
                for (int j = 0; j < d; j++) {
                    y[o + j] = (xs[o + j] - mean) * rstd * g[j] + b[j];
                }
                means[r] = mean;
                rstds[r] = rstd;
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
            for (int r = from; r < to; r++) {
                int o = r * d;
                double sq = 0;
                for (int j = 0; j < d; j++) {
                    sq += xs[o + j] * xs[o + j];
                }
                float rstd = (float) (1.0 / Math.sqrt(sq / d + eps));
                for (int j = 0; j < d; j++) {
                    y[o + j] = xs[o + j] * rstd * g[j];
                }
                rstds[r] = rstd;
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
            float[] dg = dgParts[task];
            float[] db = dbParts[task];
            float[] xhat = new float[d];
            float[] dxhat = new float[d];
            for (int r = from; r < to; r++) {
                int o = r * d;
                float mu = means == null ? 0f : means[r];
                float rs = rstds[r];
                double sumDxhat = 0;
                double sumDxhatXhat = 0;
                for (int j = 0; j < d; j++) {
                    xhat[j] = (xs[o + j] - mu) * rs;
                    dxhat[j] = dys[o + j] * g[j];
                    sumDxhat += dxhat[j];
                    sumDxhatXhat += dxhat[j] * xhat[j];
                }
                float meanDxhat = means == null ? 0f : (float) (sumDxhat / d);
                float meanDxhatXhat = (float) (sumDxhatXhat / d);
                for (int j = 0; j < d; j++) {
                    dx[o + j] = rs * (dxhat[j] - meanDxhat - xhat[j] * meanDxhatXhat);
                }
                for (int j = 0; j < dg.length; j++) {
                    dg[j] += dys[o + j] * xhat[j];
                }
                for (int j = 0; j < db.length; j++) {
                    db[j] += dys[o + j];
                }
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
        Parallel.rows(len, 1, (from, to) -> activateRange(fn, v, from, to));
        return HostArrays.create(v, x.shape());
    }

    /** v[i] = f(v[i]) for i in [from, to). */
    private static void activateRange(Activation fn, float[] v, int from, int to) {
        switch (fn) {
            case GELU:
                for (int i = from; i < to; i++) {
                    v[i] = 0.5f * v[i] * (1f + FastMath.erf(v[i] * FastMath.INV_SQRT2));
                }
                break;
            case GELU_TANH:
                for (int i = from; i < to; i++) {
                    float u = (float) Nd4jKernels.GELU_TANH_C * (v[i] + (float) Nd4jKernels.GELU_TANH_A * v[i] * v[i] * v[i]);
                    v[i] = 0.5f * v[i] * (1f + FastMath.tanh(u));
                }
                break;
            case SILU:
                for (int i = from; i < to; i++) {
                    v[i] = v[i] * FastMath.sigmoid(v[i]);
                }
                break;
            case RELU:
                for (int i = from; i < to; i++) {
                    v[i] = v[i] > 0f ? v[i] : 0f;
                }
                break;
            case TANH:
                for (int i = from; i < to; i++) {
                    v[i] = FastMath.tanh(v[i]);
                }
                break;
            default:
                throw new IllegalArgumentException("unsupported activation " + fn);
        }
    }

    @Override
    public INDArray activateBackward(Activation fn, INDArray x, INDArray dy) {
        if (!fast(x, dy)) {
            return portable.activateBackward(fn, x, dy);
        }
        int len = (int) x.length();
        float[] v = read(x, 0);
        float[] g = read(dy, 1);
        Parallel.rows(len, 1, (from, to) -> activateBackwardRange(fn, v, g, from, to));
        return HostArrays.create(g, x.shape());
    }

    /** g[i] *= f'(v[i]) for i in [from, to). */
    private static void activateBackwardRange(Activation fn, float[] v, float[] g, int from, int to) {
        switch (fn) {
            case GELU:
                for (int i = from; i < to; i++) {
                    float xi = v[i];
                    float cdf = 0.5f * (1f + FastMath.erf(xi * FastMath.INV_SQRT2));
                    float pdf = FastMath.exp(-0.5f * xi * xi) * FastMath.INV_SQRT_2PI;
                    g[i] *= cdf + xi * pdf;
                }
                break;
            case GELU_TANH: {
                float c = (float) Nd4jKernels.GELU_TANH_C;
                float a = (float) Nd4jKernels.GELU_TANH_A;
                for (int i = from; i < to; i++) {
                    float xi = v[i];
                    float u = c * (xi + a * xi * xi * xi);
                    float t = FastMath.tanh(u);
                    // 1 − t² is exact enough while t is far from ±1; beyond, it cancels and sech² needs its own exp
                    float sech2 = Math.abs(u) < 2.5f ? (1f - t) * (1f + t) : FastMath.sech2(u);
                    g[i] *= 0.5f * (1f + t) + 0.5f * xi * sech2 * c * (1f + 3f * a * xi * xi);
                }
                break;
            }
            case SILU:
                for (int i = from; i < to; i++) {
                    float s = FastMath.sigmoid(v[i]);
                    g[i] *= s * (1f + v[i] * (1f - s));
                }
                break;
            case RELU:
                for (int i = from; i < to; i++) {
                    g[i] = v[i] > 0f ? g[i] : 0f;
                }
                break;
            case TANH:
                for (int i = from; i < to; i++) {
                    g[i] *= FastMath.sech2(v[i]);
                }
                break;
            default:
                throw new IllegalArgumentException("unsupported activation " + fn);
        }
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

    @Override
    public INDArray maskedSoftmax(INDArray scores, AttentionMask mask) {
        if (!fast(scores) || !HostArrays.isContiguous(scores)) {
            return portable.maskedSoftmax(scores, mask);
        }
        int rows = (int) scores.size(0);
        int q = (int) scores.size(1);
        int k = (int) scores.size(2);
        float[] s = read(scores, 0);
        // one task row = one query of one head: [bh, i] → offset (bh·q + i)·k
        Parallel.rows(rows * q, k, (from, to) -> {
            for (int row = from; row < to; row++) {
                int b = row / q / mask.heads();
                int i = row % q;
                int o = row * k;
                float max = Float.NEGATIVE_INFINITY;
                int visible = 0;
                for (int j = 0; j < k; j++) {
                    if (mask.isEmpty() || mask.visible(b, i, j)) {
                        max = Math.max(max, s[o + j]);
                        visible++;
                    }
                }
                if (visible == 0) {
                    Arrays.fill(s, o, o + k, 1f / k);
                    continue;
                }
                double sum = 0;
                for (int j = 0; j < k; j++) {
                    if (mask.isEmpty() || mask.visible(b, i, j)) {
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
        });
        HostArrays.buffer(scores).put(0, s, 0, rows * q * k);
        return scores;
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
                double dot = 0;
                for (int j = 0; j < k; j++) {
                    dot += dp[o + j] * p[o + j];
                }
                float fdot = (float) dot;
                for (int j = 0; j < k; j++) {
                    dp[o + j] = p[o + j] * (dp[o + j] - fdot);
                }
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
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < vocab; j++) {
                    max = Math.max(max, z[o + j]);
                }
                double sum = 0;
                for (int j = 0; j < vocab; j++) {
                    sum += FastMath.exp(z[o + j] - max);
                }
                double logSumExp = max + Math.log(sum);
                lossParts[task] += logSumExp - z[o + labels[r]];
                countParts[task]++;
                if (withGrad) {
                    float lse = (float) logSumExp;
                    for (int j = 0; j < vocab; j++) {
                        z[o + j] = FastMath.exp(z[o + j] - lse) * scale;
                    }
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
