package org.peft4j.core.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static org.peft4j.core.kernel.FastMath.*;

/**
 * {@link RowMath} with SIMD lanes (the JDK's incubating Vector API; 16 floats per operation with
 * AVX-512). The special functions are those of {@link FastMath} written lane-wise, so the two
 * implementations differ only by the order of additions in reductions. Loaded only when the JVM runs
 * with {@code --add-modules jdk.incubator.vector}; see {@link RowMath#best()}.
 */
final class VectorRowMath implements RowMath {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ScalarRowMath TAIL = new ScalarRowMath();

    @Override
    public String name() {
        return "vector(" + F.length() + " lanes)";
    }

    // ---------------------------------------------------------------- lane-wise special functions (FastMath's constants)

    /** a·b + c lane-wise in one rounding (FastMath's Math.fma). */
    private static FloatVector fma(FloatVector a, float b, FloatVector c) {
        return a.fma(FloatVector.broadcast(F, b), c);
    }

    /** FastMath.horner lane-wise: the same fused steps, so the same bits. */
    private static FloatVector horner(FloatVector x, float... c) {
        FloatVector p = FloatVector.broadcast(F, c[0]);
        for (int i = 1; i < c.length; i++) {
            p = p.fma(x, FloatVector.broadcast(F, c[i]));
        }
        return p;
    }

    /** e^x lane-wise: FastMath.exp's range reduction and Taylor polynomial. */
    static FloatVector exp(FloatVector x) {
        FloatVector c = x.max(EXP_MIN).min(EXP_MAX);
        // t holds round(c·log2 e) in its low mantissa bits (FastMath.ROUND_MAGIC); reading the integer from
        // t's bits avoids a float-to-int conversion, which the Vector API compiles to a slow sequence
        FloatVector t = c.mul(LOG2E).add(ROUND_MAGIC);
        FloatVector n = t.sub(ROUND_MAGIC);
        FloatVector r = fma(n, -LN2_LO, fma(n, -LN2_HI, c));
        FloatVector p = horner(r, 1f / 5040, 1f / 720, 1f / 120, 1f / 24, 1f / 6, 1f / 2, 1f, 1f);
        IntVector bits = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS - 127).lanewise(VectorOperators.LSHL, 23);
        FloatVector scaled = p.mul(bits.reinterpretAsFloats());
        return scaled.blend(0f, x.compare(VectorOperators.LT, EXP_MIN)).blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_MAX));
    }

    static FloatVector erf(FloatVector x) {
        FloatVector c = x.max(-4f).min(4f);
        FloatVector x2 = c.mul(c);
        FloatVector p = horner(x2, ERF_A13, ERF_A11, ERF_A9, ERF_A7, ERF_A5, ERF_A3, ERF_A1);
        FloatVector q = horner(x2, ERF_B8, ERF_B6, ERF_B4, ERF_B2, ERF_B0);
        return c.mul(p).div(q);
    }

    static FloatVector tanh(FloatVector x) {
        FloatVector c = x.max(-TANH_CLAMP).min(TANH_CLAMP);
        FloatVector x2 = c.mul(c);
        // separate multiplies and adds, as FastMath.tanh: the fit saturates at exactly ±1 only so
        FloatVector p = x2.mul(TANH_A13).add(TANH_A11).mul(x2).add(TANH_A9).mul(x2).add(TANH_A7).mul(x2).add(TANH_A5).mul(x2).add(TANH_A3)
                .mul(x2).add(TANH_A1);
        FloatVector q = x2.mul(TANH_B6).add(TANH_B4).mul(x2).add(TANH_B2).mul(x2).add(TANH_B0);
        return c.mul(p).div(q);
    }

    /** sech²(x) = 4e/(1 + e)² with e = e^(−2|x|). */
    static FloatVector sech2(FloatVector x) {
        FloatVector e = exp(x.abs().mul(-2f));
        FloatVector d = e.add(1f);
        return e.mul(4f).div(d.mul(d));
    }

    /** 1/(1 + e^(−x)). */
    static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(F, 1f).div(exp(x.neg()).add(1f));
    }

    // ---------------------------------------------------------------- activations

    @Override
    public void activate(Activation fn, float[] v, int from, int to) {
        int i = from;
        int upper = from + F.loopBound(to - from);
        switch (fn) {
            case GELU:
                for (; i < upper; i += F.length()) {
                    FloatVector x = FloatVector.fromArray(F, v, i);
                    x.mul(0.5f).mul(erf(x.mul(FastMath.INV_SQRT2)).add(1f)).intoArray(v, i);
                }
                break;
            case GELU_TANH:
                for (; i < upper; i += F.length()) {
                    FloatVector x = FloatVector.fromArray(F, v, i);
                    FloatVector u = x.mul(x).mul(x).mul(FastMath.GELU_TANH_A).add(x).mul(FastMath.GELU_TANH_C);
                    x.mul(0.5f).mul(tanh(u).add(1f)).intoArray(v, i);
                }
                break;
            case SILU:
                for (; i < upper; i += F.length()) {
                    FloatVector x = FloatVector.fromArray(F, v, i);
                    x.mul(sigmoid(x)).intoArray(v, i);
                }
                break;
            case RELU:
                for (; i < upper; i += F.length()) {
                    FloatVector.fromArray(F, v, i).max(0f).intoArray(v, i);
                }
                break;
            case TANH:
                for (; i < upper; i += F.length()) {
                    tanh(FloatVector.fromArray(F, v, i)).intoArray(v, i);
                }
                break;
            default:
                throw new IllegalArgumentException("unsupported activation " + fn);
        }
        TAIL.activate(fn, v, i, to);
    }

    @Override
    public void activateBackward(Activation fn, float[] v, float[] g, int from, int to) {
        int i = from;
        int upper = from + F.loopBound(to - from);
        switch (fn) {
            case GELU:
                for (; i < upper; i += F.length()) {
                    FloatVector x = FloatVector.fromArray(F, v, i);
                    FloatVector cdf = erf(x.mul(FastMath.INV_SQRT2)).add(1f).mul(0.5f);
                    FloatVector pdf = exp(x.mul(x).mul(-0.5f)).mul(FastMath.INV_SQRT_2PI);
                    FloatVector.fromArray(F, g, i).mul(x.mul(pdf).add(cdf)).intoArray(g, i);
                }
                break;
            case GELU_TANH:
                for (; i < upper; i += F.length()) {
                    FloatVector x = FloatVector.fromArray(F, v, i);
                    FloatVector u = x.mul(x).mul(x).mul(FastMath.GELU_TANH_A).add(x).mul(FastMath.GELU_TANH_C);
                    // tanh and sech² from one e = e^(−2|u|): |t| = (1 − e)/(1 + e), sech² = 4e/(1 + e)²
                    FloatVector e = exp(u.abs().mul(-2f));
                    FloatVector r = FloatVector.broadcast(F, 1f).div(e.add(1f));
                    FloatVector magnitude = e.neg().add(1f).mul(r);
                    FloatVector t = magnitude.blend(magnitude.neg(), u.compare(VectorOperators.LT, 0f));
                    FloatVector sech2 = e.mul(4f).mul(r).mul(r);
                    FloatVector du = x.mul(x).mul(3f * FastMath.GELU_TANH_A).add(1f).mul(FastMath.GELU_TANH_C);
                    FloatVector grad = t.add(1f).mul(0.5f).add(x.mul(0.5f).mul(sech2).mul(du));
                    FloatVector.fromArray(F, g, i).mul(grad).intoArray(g, i);
                }
                break;
            case SILU:
                for (; i < upper; i += F.length()) {
                    FloatVector x = FloatVector.fromArray(F, v, i);
                    FloatVector s = sigmoid(x);
                    FloatVector grad = s.neg().add(1f).mul(x).add(1f).mul(s);
                    FloatVector.fromArray(F, g, i).mul(grad).intoArray(g, i);
                }
                break;
            case RELU:
                for (; i < upper; i += F.length()) {
                    FloatVector x = FloatVector.fromArray(F, v, i);
                    FloatVector.fromArray(F, g, i).blend(0f, x.compare(VectorOperators.LE, 0f)).intoArray(g, i);
                }
                break;
            case TANH:
                for (; i < upper; i += F.length()) {
                    FloatVector.fromArray(F, g, i).mul(sech2(FloatVector.fromArray(F, v, i))).intoArray(g, i);
                }
                break;
            default:
                throw new IllegalArgumentException("unsupported activation " + fn);
        }
        TAIL.activateBackward(fn, v, g, i, to);
    }

    // ---------------------------------------------------------------- reductions

    @Override
    public float max(float[] a, int o, int len) {
        int j = 0;
        int upper = F.loopBound(len);
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (; j < upper; j += F.length()) {
            m = m.max(FloatVector.fromArray(F, a, o + j));
        }
        float out = m.reduceLanes(VectorOperators.MAX);
        for (; j < len; j++) {
            out = Math.max(out, a[o + j]);
        }
        return out;
    }

    @Override
    public double sum(float[] a, int o, int len) {
        int j = 0;
        int upper = F.loopBound(len);
        FloatVector acc = FloatVector.zero(F);
        for (; j < upper; j += F.length()) {
            acc = acc.add(FloatVector.fromArray(F, a, o + j));
        }
        double out = acc.reduceLanes(VectorOperators.ADD);
        for (; j < len; j++) {
            out += a[o + j];
        }
        return out;
    }

    @Override
    public double sumExp(float[] a, int o, int len, float shift) {
        int j = 0;
        int upper = F.loopBound(len);
        FloatVector acc = FloatVector.zero(F);
        for (; j < upper; j += F.length()) {
            acc = acc.add(exp(FloatVector.fromArray(F, a, o + j).sub(shift)));
        }
        double out = acc.reduceLanes(VectorOperators.ADD);
        for (; j < len; j++) {
            out += FastMath.exp(a[o + j] - shift);
        }
        return out;
    }

    @Override
    public double expInPlace(float[] a, int o, int len, float shift, float scale) {
        int j = 0;
        int upper = F.loopBound(len);
        FloatVector acc = FloatVector.zero(F);
        for (; j < upper; j += F.length()) {
            FloatVector e = exp(FloatVector.fromArray(F, a, o + j).sub(shift));
            acc = acc.add(e);
            e.mul(scale).intoArray(a, o + j);
        }
        double out = acc.reduceLanes(VectorOperators.ADD);
        for (; j < len; j++) {
            float e = FastMath.exp(a[o + j] - shift);
            out += e;
            a[o + j] = e * scale;
        }
        return out;
    }

    @Override
    public void scale(float[] a, int o, int len, float s) {
        int j = 0;
        int upper = F.loopBound(len);
        for (; j < upper; j += F.length()) {
            FloatVector.fromArray(F, a, o + j).mul(s).intoArray(a, o + j);
        }
        for (; j < len; j++) {
            a[o + j] *= s;
        }
    }

    @Override
    public double dot(float[] a, int ao, float[] b, int bo, int len) {
        int j = 0;
        int upper = F.loopBound(len);
        FloatVector acc = FloatVector.zero(F);
        for (; j < upper; j += F.length()) {
            acc = FloatVector.fromArray(F, a, ao + j).fma(FloatVector.fromArray(F, b, bo + j), acc);
        }
        double out = acc.reduceLanes(VectorOperators.ADD);
        for (; j < len; j++) {
            out += a[ao + j] * b[bo + j];
        }
        return out;
    }

    @Override
    public void softmaxBackwardRow(float[] p, float[] dp, int o, int len, float dot) {
        int j = 0;
        int upper = F.loopBound(len);
        for (; j < upper; j += F.length()) {
            FloatVector.fromArray(F, dp, o + j).sub(dot).mul(FloatVector.fromArray(F, p, o + j)).intoArray(dp, o + j);
        }
        for (; j < len; j++) {
            dp[o + j] = p[o + j] * (dp[o + j] - dot);
        }
    }

    // ---------------------------------------------------------------- small matrix products

    /**
     * Blocks of 4 rows of c by 2 vectors of columns: 8 accumulators stay in registers while p runs over
     * k, so each loaded vector of b serves 4 rows (about 140 GFLOP/s on the 2-core machine for attention's
     * shapes, against 30 for ND4J's batched matmul). Leftover columns go by one vector, then by lane;
     * leftover rows one at a time.
     */
    @Override
    public void multiply(float[] a, int ao, int aRowStride, int aColStride, float[] b, int bo, int ldb, float[] c, int co, int ldc, int m, int n,
            int k) {
        int i = 0;
        for (; i + 4 <= m; i += 4) {
            multiplyFourRows(a, ao + i * aRowStride, aRowStride, aColStride, b, bo, ldb, c, co + i * ldc, ldc, n, k);
        }
        for (; i < m; i++) {
            multiplyOneRow(a, ao + i * aRowStride, aColStride, b, bo, ldb, c, co + i * ldc, n, k);
        }
    }

    private static void multiplyFourRows(float[] a, int a0, int aRowStride, int aColStride, float[] b, int bo, int ldb, float[] c, int c0,
            int ldc, int n, int k) {
        int lanes = F.length();
        int a1 = a0 + aRowStride;
        int a2 = a1 + aRowStride;
        int a3 = a2 + aRowStride;
        int j = 0;
        for (; j + 2 * lanes <= n; j += 2 * lanes) {
            FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (int p = 0; p < k; p++) {
                int bp = bo + p * ldb + j;
                FloatVector b0 = FloatVector.fromArray(F, b, bp);
                FloatVector b1 = FloatVector.fromArray(F, b, bp + lanes);
                int ap = p * aColStride;
                FloatVector x = FloatVector.broadcast(F, a[a0 + ap]);
                c00 = x.fma(b0, c00);
                c01 = x.fma(b1, c01);
                x = FloatVector.broadcast(F, a[a1 + ap]);
                c10 = x.fma(b0, c10);
                c11 = x.fma(b1, c11);
                x = FloatVector.broadcast(F, a[a2 + ap]);
                c20 = x.fma(b0, c20);
                c21 = x.fma(b1, c21);
                x = FloatVector.broadcast(F, a[a3 + ap]);
                c30 = x.fma(b0, c30);
                c31 = x.fma(b1, c31);
            }
            c00.intoArray(c, c0 + j);
            c01.intoArray(c, c0 + j + lanes);
            c10.intoArray(c, c0 + ldc + j);
            c11.intoArray(c, c0 + ldc + j + lanes);
            c20.intoArray(c, c0 + 2 * ldc + j);
            c21.intoArray(c, c0 + 2 * ldc + j + lanes);
            c30.intoArray(c, c0 + 3 * ldc + j);
            c31.intoArray(c, c0 + 3 * ldc + j + lanes);
        }
        for (; j + lanes <= n; j += lanes) {
            FloatVector c0v = FloatVector.zero(F), c1v = c0v, c2v = c0v, c3v = c0v;
            for (int p = 0; p < k; p++) {
                FloatVector bv = FloatVector.fromArray(F, b, bo + p * ldb + j);
                int ap = p * aColStride;
                c0v = FloatVector.broadcast(F, a[a0 + ap]).fma(bv, c0v);
                c1v = FloatVector.broadcast(F, a[a1 + ap]).fma(bv, c1v);
                c2v = FloatVector.broadcast(F, a[a2 + ap]).fma(bv, c2v);
                c3v = FloatVector.broadcast(F, a[a3 + ap]).fma(bv, c3v);
            }
            c0v.intoArray(c, c0 + j);
            c1v.intoArray(c, c0 + ldc + j);
            c2v.intoArray(c, c0 + 2 * ldc + j);
            c3v.intoArray(c, c0 + 3 * ldc + j);
        }
        for (; j < n; j++) {
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            for (int p = 0; p < k; p++) {
                float bv = b[bo + p * ldb + j];
                int ap = p * aColStride;
                s0 += a[a0 + ap] * bv;
                s1 += a[a1 + ap] * bv;
                s2 += a[a2 + ap] * bv;
                s3 += a[a3 + ap] * bv;
            }
            c[c0 + j] = s0;
            c[c0 + ldc + j] = s1;
            c[c0 + 2 * ldc + j] = s2;
            c[c0 + 3 * ldc + j] = s3;
        }
    }

    private static void multiplyOneRow(float[] a, int a0, int aColStride, float[] b, int bo, int ldb, float[] c, int c0, int n, int k) {
        int lanes = F.length();
        int j = 0;
        for (; j + lanes <= n; j += lanes) {
            FloatVector acc = FloatVector.zero(F);
            for (int p = 0; p < k; p++) {
                acc = FloatVector.broadcast(F, a[a0 + p * aColStride]).fma(FloatVector.fromArray(F, b, bo + p * ldb + j), acc);
            }
            acc.intoArray(c, c0 + j);
        }
        for (; j < n; j++) {
            float s = 0f;
            for (int p = 0; p < k; p++) {
                s += a[a0 + p * aColStride] * b[bo + p * ldb + j];
            }
            c[c0 + j] = s;
        }
    }

    // ---------------------------------------------------------------- normalization rows

    @Override
    public void normRow(float[] x, int o, int d, float[] gamma, float[] beta, double eps, boolean centered, float[] y, float[] stats) {
        float mean = centered ? (float) (sum(x, o, d) / d) : 0f;
        int upper = F.loopBound(d);
        int j = 0;
        FloatVector acc = FloatVector.zero(F);
        for (; j < upper; j += F.length()) {
            FloatVector c = FloatVector.fromArray(F, x, o + j).sub(mean);
            acc = c.fma(c, acc);
        }
        double sq = acc.reduceLanes(VectorOperators.ADD);
        for (; j < d; j++) {
            float c = x[o + j] - mean;
            sq += c * c;
        }
        float rstd = (float) (1.0 / Math.sqrt(sq / d + eps));
        for (j = 0; j < upper; j += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, o + j).sub(mean).mul(rstd).mul(FloatVector.fromArray(F, gamma, j));
            (beta == null ? v : v.add(FloatVector.fromArray(F, beta, j))).intoArray(y, o + j);
        }
        for (; j < d; j++) {
            float v = (x[o + j] - mean) * rstd * gamma[j];
            y[o + j] = beta == null ? v : v + beta[j];
        }
        stats[0] = mean;
        stats[1] = rstd;
    }

    @Override
    public void normBackwardRow(float[] dy, float[] x, int o, int d, float[] gamma, float mean, float rstd, boolean centered, float[] dx,
            float[] dg, float[] db, float[] xhat, float[] dxhat) {
        int upper = F.loopBound(d);
        int j = 0;
        FloatVector sumDxhat = FloatVector.zero(F);
        FloatVector sumDxhatXhat = FloatVector.zero(F);
        for (; j < upper; j += F.length()) {
            FloatVector xh = FloatVector.fromArray(F, x, o + j).sub(mean).mul(rstd);
            FloatVector dxh = FloatVector.fromArray(F, dy, o + j).mul(FloatVector.fromArray(F, gamma, j));
            xh.intoArray(xhat, j);
            dxh.intoArray(dxhat, j);
            sumDxhat = sumDxhat.add(dxh);
            sumDxhatXhat = dxh.fma(xh, sumDxhatXhat);
        }
        double s1 = sumDxhat.reduceLanes(VectorOperators.ADD);
        double s2 = sumDxhatXhat.reduceLanes(VectorOperators.ADD);
        for (; j < d; j++) {
            xhat[j] = (x[o + j] - mean) * rstd;
            dxhat[j] = dy[o + j] * gamma[j];
            s1 += dxhat[j];
            s2 += dxhat[j] * xhat[j];
        }
        float meanDxhat = centered ? (float) (s1 / d) : 0f;
        float meanDxhatXhat = (float) (s2 / d);
        for (j = 0; j < upper; j += F.length()) {
            FloatVector xh = FloatVector.fromArray(F, xhat, j);
            FloatVector.fromArray(F, dxhat, j).sub(meanDxhat).sub(xh.mul(meanDxhatXhat)).mul(rstd).intoArray(dx, o + j);
            FloatVector g = FloatVector.fromArray(F, dy, o + j);
            if (dg != null) {
                g.fma(xh, FloatVector.fromArray(F, dg, j)).intoArray(dg, j);
            }
            if (db != null) {
                g.add(FloatVector.fromArray(F, db, j)).intoArray(db, j);
            }
        }
        for (; j < d; j++) {
            dx[o + j] = rstd * (dxhat[j] - meanDxhat - xhat[j] * meanDxhatXhat);
            if (dg != null) {
                dg[j] += dy[o + j] * xhat[j];
            }
            if (db != null) {
                db[j] += dy[o + j];
            }
        }
    }
}
