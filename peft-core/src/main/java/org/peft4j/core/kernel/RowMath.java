package org.peft4j.core.kernel;

/**
 * The inner loops of the CPU kernels, over ranges of {@code float[]}: what {@link CpuKernels} spends its
 * time in. Two implementations give the same results to float rounding: {@link ScalarRowMath}, plain
 * loops, and {@code VectorRowMath}, SIMD through the JDK's incubating Vector API, used when the JVM runs
 * with {@code --add-modules jdk.incubator.vector} (as {@code bin/peft4j} and the tests do).
 */
interface RowMath {
    /** Name for logs and benchmarks: "scalar" or "vector(N lanes)". */
    String name();

    /** v[i] = f(v[i]) for i in [from, to). */
    void activate(Activation fn, float[] v, int from, int to);

    /** g[i] *= f'(v[i]) for i in [from, to). */
    void activateBackward(Activation fn, float[] v, float[] g, int from, int to);

    /** max of a[o .. o+len). */
    float max(float[] a, int o, int len);

    /** Σ a[o .. o+len), accumulated in double. */
    double sum(float[] a, int o, int len);

    /** Σ e^(a[i] − shift) without changing a. */
    double sumExp(float[] a, int o, int len, float shift);

    /** a[i] = e^(a[i] − shift)·scale in place; returns Σ e^(a[i] − shift). */
    double expInPlace(float[] a, int o, int len, float shift, float scale);

    /** a[i] *= s. */
    void scale(float[] a, int o, int len, float s);

    /** Σ a[ao+i]·b[bo+i]. */
    double dot(float[] a, int ao, float[] b, int bo, int len);

    /** dp[i] = p[i]·(dp[i] − dot): the backward of a softmax row. */
    void softmaxBackwardRow(float[] p, float[] dp, int o, int len, float dot);

    /**
     * One small matrix product, {@code c[co + i·ldc + j] = Σ_p a(i, p)·b[bo + p·ldb + j]} for i < m, j < n
     * (overwrites c), where {@code a(i, p) = a[ao + i·aRowStride + p·aColStride]}: b and c are row-major
     * with row strides ldb and ldc (blocks of larger matrices), a is read through its strides, so a
     * transposed a costs nothing.
     */
    void multiply(float[] a, int ao, int aRowStride, int aColStride, float[] b, int bo, int ldb, float[] c, int co, int ldc, int m, int n,
            int k);

    /**
     * One row of LayerNorm (mean given) or RMSNorm (mean null): y = (x − mean)·rstd·γ (+ β); writes the
     * row's mean (0 for RMSNorm) and rstd to {@code stats[0..1]}.
     */
    void normRow(float[] x, int o, int d, float[] gamma, float[] beta, double eps, boolean centered, float[] y, float[] stats);

    /**
     * Backward of one normalized row: writes dx, adds dy·x̂ into dg and dy into db (when non-null). x̂ and
     * dx̂ are scratch arrays of length d.
     */
    void normBackwardRow(float[] dy, float[] x, int o, int d, float[] gamma, float mean, float rstd, boolean centered, float[] dx,
            float[] dg, float[] db, float[] xhat, float[] dxhat);

    /** The best implementation this JVM can run: SIMD if the Vector API module is present, else scalar loops. */
    static RowMath best() {
        return VectorApi.instance("VectorRowMath", RowMath.class).orElseGet(ScalarRowMath::new);
    }
}
