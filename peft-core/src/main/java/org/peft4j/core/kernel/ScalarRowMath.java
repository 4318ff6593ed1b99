package org.peft4j.core.kernel;

import java.util.Arrays;

/** {@link RowMath} as plain Java loops: the reference the SIMD version is tested against. */
final class ScalarRowMath implements RowMath {
    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void activate(Activation fn, float[] v, int from, int to) {
        switch (fn) {
            case GELU:
                for (int i = from; i < to; i++) {
                    v[i] = 0.5f * v[i] * (1f + FastMath.erf(v[i] * FastMath.INV_SQRT2));
                }
                break;
            case GELU_TANH:
                for (int i = from; i < to; i++) {
                    float u = FastMath.GELU_TANH_C * (v[i] + FastMath.GELU_TANH_A * v[i] * v[i] * v[i]);
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
    public void activateBackward(Activation fn, float[] v, float[] g, int from, int to) {
        switch (fn) {
            case GELU:
                for (int i = from; i < to; i++) {
                    float xi = v[i];
                    float cdf = 0.5f * (1f + FastMath.erf(xi * FastMath.INV_SQRT2));
                    float pdf = FastMath.exp(-0.5f * xi * xi) * FastMath.INV_SQRT_2PI;
                    g[i] *= cdf + xi * pdf;
                }
                break;
            case GELU_TANH:
                for (int i = from; i < to; i++) {
                    float xi = v[i];
                    float u = FastMath.GELU_TANH_C * (xi + FastMath.GELU_TANH_A * xi * xi * xi);
                    // tanh and sech² from one e = e^(−2|u|): |t| = (1 − e)/(1 + e), sech² = 4e/(1 + e)² (no cancellation near ±1)
                    float e = FastMath.exp(-2f * Math.abs(u));
                    float r = 1f / (1f + e);
                    float t = Math.copySign((1f - e) * r, u);
                    float sech2 = 4f * e * r * r;
                    g[i] *= 0.5f * (1f + t) + 0.5f * xi * sech2 * FastMath.GELU_TANH_C * (1f + 3f * FastMath.GELU_TANH_A * xi * xi);
                }
                break;
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

    @Override
    public float max(float[] a, int o, int len) {
        float m = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < len; j++) {
            m = Math.max(m, a[o + j]);
        }
        return m;
    }

    @Override
    public double sum(float[] a, int o, int len) {
        double s = 0;
        for (int j = 0; j < len; j++) {
            s += a[o + j];
        }
        return s;
    }

    @Override
    public double sumExp(float[] a, int o, int len, float shift) {
        double s = 0;
        for (int j = 0; j < len; j++) {
            s += FastMath.exp(a[o + j] - shift);
        }
        return s;
    }

    @Override
    public double expInPlace(float[] a, int o, int len, float shift, float scale) {
        double s = 0;
        for (int j = 0; j < len; j++) {
            float e = FastMath.exp(a[o + j] - shift);
            s += e;
            a[o + j] = e * scale;
        }
        return s;
    }

    @Override
    public void scale(float[] a, int o, int len, float s) {
        for (int j = 0; j < len; j++) {
            a[o + j] *= s;
        }
    }

    @Override
    public double dot(float[] a, int ao, float[] b, int bo, int len) {
        double s = 0;
        for (int j = 0; j < len; j++) {
            s += a[ao + j] * b[bo + j];
        }
        return s;
    }

    @Override
    public void softmaxBackwardRow(float[] p, float[] dp, int o, int len, float dot) {
        for (int j = 0; j < len; j++) {
            dp[o + j] = p[o + j] * (dp[o + j] - dot);
        }
    }

    @Override
    public void multiply(float[] a, int ao, int aRowStride, int aColStride, float[] b, int bo, int ldb, float[] c, int co, int ldc, int m, int n,
            int k) {
        for (int i = 0; i < m; i++) {
            int ci = co + i * ldc;
            Arrays.fill(c, ci, ci + n, 0f);
            for (int p = 0; p < k; p++) {
                float av = a[ao + i * aRowStride + p * aColStride];
                int bp = bo + p * ldb;
                for (int j = 0; j < n; j++) {
                    c[ci + j] += av * b[bp + j];
                }
            }
        }
    }

    @Override
    public void normRow(float[] x, int o, int d, float[] gamma, float[] beta, double eps, boolean centered, float[] y, float[] stats) {
        float mean = centered ? (float) (sum(x, o, d) / d) : 0f;
        double sq = 0;
        for (int j = 0; j < d; j++) {
            float c = x[o + j] - mean;
            sq += c * c;
        }
        float rstd = (float) (1.0 / Math.sqrt(sq / d + eps));
        for (int j = 0; j < d; j++) {
            float v = (x[o + j] - mean) * rstd * gamma[j];
            y[o + j] = beta == null ? v : v + beta[j];
        }
        stats[0] = mean;
        stats[1] = rstd;
    }

    @Override
    public void normBackwardRow(float[] dy, float[] x, int o, int d, float[] gamma, float mean, float rstd, boolean centered, float[] dx,
            float[] dg, float[] db, float[] xhat, float[] dxhat) {
        double sumDxhat = 0;
        double sumDxhatXhat = 0;
        for (int j = 0; j < d; j++) {
            xhat[j] = (x[o + j] - mean) * rstd;
            dxhat[j] = dy[o + j] * gamma[j];
            sumDxhat += dxhat[j];
            sumDxhatXhat += dxhat[j] * xhat[j];
        }
        float meanDxhat = centered ? (float) (sumDxhat / d) : 0f;
        float meanDxhatXhat = (float) (sumDxhatXhat / d);
        for (int j = 0; j < d; j++) {
            dx[o + j] = rstd * (dxhat[j] - meanDxhat - xhat[j] * meanDxhatXhat);
        }
        if (dg != null) {
            for (int j = 0; j < d; j++) {
                dg[j] += dy[o + j] * xhat[j];
            }
        }
        if (db != null) {
            for (int j = 0; j < d; j++) {
                db[j] += dy[o + j];
            }
        }
    }
}
