package org.peft4j.core.kernel;

import java.nio.FloatBuffer;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link HostGemm} in Java with 512-bit SIMD lanes (the JDK's incubating Vector API), blocked for the
 * caches like BLIS: B is packed once per call into strips {@value #NR} columns wide; each thread takes a
 * range of C's rows, {@value #MC} at a time, copies the A block it needs into a small buffer and runs
 * the 8 × 48 register-blocked micro-kernel over it, accumulating a tile of C that stays in cache until
 * it is written out once. Why it exists: ND4J's bundled OpenBLAS runs the kernel {@code
 * OPENBLAS_CORETYPE} names, and on AVX-512 machines set to Haswell that is a 256-bit kernel; this loop
 * ran the BERT step's products about 1.6× faster than OpenBLAS on the same shapes (docs/benchmarks.md).
 *
 * <p>Loaded only when the JVM runs with {@code --add-modules jdk.incubator.vector}, and used only
 * where the preferred species has 16 float lanes: with 8 (AVX2) the 24 accumulators do not fit the 16
 * registers and OpenBLAS is the faster choice.
 */
final class VectorGemm implements HostGemm {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final int LANES = 16;
    /** Rows of C per micro-kernel call. */
    private static final int MR = 8;
    /** Columns of C per micro-kernel call: three vectors. */
    static final int NR = 3 * LANES;
    /** Rows of C a task works on at a time: its tile of C and block of A stay in the core's L2 cache. */
    static final int MC = 64;
    /** Depth of one pass over the A block and B strips: a strip's slice (kc × NR floats) stays in L1. */
    static final int KC = 256;
    /** Strips of B one pass of an A block goes over before the next: kc × 384 floats, kept in L2. */
    private static final int NC_STRIPS = 8;
    /** Most floats of op(B) packed at once by default (16 MB); wider products (a large vocabulary's head) go panel by panel. */
    static final long MAX_PACKED_B = 1L << 22;

    /** Widest panel of C in columns, which bounds each task's tile of C (MC × this) to 1 MB. */
    private static final int MAX_PANEL_WIDTH = 4096;

    private final Scratch scratch = new Scratch();
    private final long maxPackedB;

    /** The product with the default panel size. */
    VectorGemm() {
        this(MAX_PACKED_B);
    }

    /** The product packing at most {@code maxPackedB} floats of B at once (tests use small panels). */
    VectorGemm(long maxPackedB) {
        this.maxPackedB = maxPackedB;
    }

    /** True if this JVM's preferred float species has the 16 lanes the micro-kernel is written for. */
    static boolean supported() {
        return FloatVector.SPECIES_PREFERRED.length() == LANES;
    }

    @Override
    public String name() {
        return "vector gemm (" + MR + "×" + NR + ")";
    }

    @Override
    public void multiply(FloatBuffer a, boolean transposeA, FloatBuffer b, boolean transposeB, FloatBuffer c, int m, int n, int k,
            float alpha, float beta, FloatBuffer bias) {
        float[] biasRow = null;
        if (bias != null) {
            biasRow = scratch.get(5, n);
            bias.get(0, biasRow, 0, n);
        }
        int panelWidth = (int) Math.max(NR, Math.min(Math.min(n + NR - 1L, MAX_PANEL_WIDTH), maxPackedB / k) / NR * NR);
        for (int j0 = 0; j0 < n; j0 += panelWidth) {
            multiplyPanel(a, transposeA, b, transposeB, c, m, n, k, alpha, beta, biasRow, j0, Math.min(panelWidth, n - j0));
        }
    }

    /** Columns [j0, j0 + width) of C: packs that panel of op(B), then the tasks work through their rows of C. */
    private void multiplyPanel(FloatBuffer a, boolean transposeA, FloatBuffer b, boolean transposeB, FloatBuffer c, int m, int n, int k,
            float alpha, float beta, float[] bias, int j0, int width) {
        int strips = (width + NR - 1) / NR;
        int paddedWidth = strips * NR;
        float[] packedB = scratch.get(0, (long) paddedWidth * k);
        Parallel.rows(strips, k * NR, (from, to) -> packStrips(b, transposeB, n, k, j0, width, from, to, packedB));
        Parallel.tasks(Parallel.tasksFor((m + MR - 1) / MR), m, (task, from, to) -> {
            float[] aBlock = scratch.get(1, (long) MC * KC);
            float[] cTile = scratch.get(2, (long) MC * paddedWidth);
            float[] line = scratch.get(3, Math.max(width, MC));
            for (int i0 = from; i0 < to; i0 += MC) {
                int mc = Math.min(MC, to - i0);
                int paddedMc = (mc + MR - 1) / MR * MR;
                for (int k0 = 0; k0 < k; k0 += KC) {
                    int kc = Math.min(KC, k - k0);
                    copyABlock(a, transposeA, m, k, i0, mc, paddedMc, k0, kc, aBlock, line);
                    // NC_STRIPS strips of B (kc × 384 floats) stay in L2 while every 8-row block of A passes over them
                    for (int s0 = 0; s0 < strips; s0 += NC_STRIPS) {
                        int s1 = Math.min(strips, s0 + NC_STRIPS);
                        for (int r = 0; r < paddedMc; r += MR) {
                            for (int s = s0; s < s1; s++) {
                                microKernel(aBlock, r * kc, kc, packedB, (s * k + k0) * NR, cTile, r * paddedWidth + s * NR, paddedWidth,
                                        k0 > 0);
                            }
                        }
                    }
                }
                writeTile(cTile, paddedWidth, c, n, i0, j0, mc, width, alpha, beta, bias, line);
            }
        });
    }

    /**
     * Packs strips [from, to) of the panel of op(B) whose columns are [panel, panel + width): strip s holds
     * rows p of op(B) as NR consecutive floats at (s·k + p)·NR.
     */
    private void packStrips(FloatBuffer b, boolean transposed, int n, int k, int panel, int width, int from, int to, float[] packed) {
        float[] line = scratch.get(4, Math.max(k, NR));
        for (int s = from; s < to; s++) {
            int j0 = panel + s * NR;
            int cols = Math.min(NR, panel + width - j0);
            int base = s * k * NR;
            if (transposed) {               // op(B)[p, j] = b[j, p]: row j of b is column j of the strip
                for (int j = 0; j < cols; j++) {
                    b.get(j0 * k + j * k, line, 0, k);
                    for (int p = 0; p < k; p++) {
                        packed[base + p * NR + j] = line[p];
                    }
                }
            } else {                        // op(B)[p, j] = b[p, j]: a strip row is a piece of b's row p
                for (int p = 0; p < k; p++) {
                    b.get(p * n + j0, packed, base + p * NR, cols);
                }
            }
            if (cols < NR) {                // zero columns past n, so the micro-kernel may run the full width
                for (int p = 0; p < k; p++) {
                    Arrays.fill(packed, base + p * NR + cols, base + (p + 1) * NR, 0f);
                }
            }
        }
    }

    /** Copies op(A)[i0 .. i0+mc, k0 .. k0+kc] row-major (row length kc) into block, zeroing rows mc .. paddedMc. */
    private static void copyABlock(FloatBuffer a, boolean transposed, int m, int k, int i0, int mc, int paddedMc, int k0, int kc,
            float[] block, float[] line) {
        if (transposed) {                   // op(A)[i, p] = a[p, i]: row p of a holds column p of the block
            for (int p = 0; p < kc; p++) {
                a.get((k0 + p) * m + i0, line, 0, mc);
                for (int r = 0; r < mc; r++) {
                    block[r * kc + p] = line[r];
                }
            }
        } else {
            for (int r = 0; r < mc; r++) {
                a.get((i0 + r) * k + k0, block, r * kc, kc);
            }
        }
        Arrays.fill(block, mc * kc, paddedMc * kc, 0f);
    }

    /**
     * Writes the tile's rows [0, mc) to C's rows i0 .. and columns j0 .. j0+width: c = α·tile + β·c + bias
     * (c is not read when β is 0; bias is indexed by C's column, null for none).
     */
    private static void writeTile(float[] tile, int tileWidth, FloatBuffer c, int n, int i0, int j0, int mc, int width, float alpha,
            float beta, float[] bias, float[] row) {
        int upper = F.loopBound(width);
        for (int r = 0; r < mc; r++) {
            int t = r * tileWidth;
            int out = (i0 + r) * n + j0;
            if (alpha == 1f && beta == 0f && bias == null) {
                c.put(out, tile, t, width);
                continue;
            }
            if (beta != 0f) {
                c.get(out, row, 0, width);
            }
            int j = 0;
            for (; j < upper; j += LANES) {
                FloatVector v = load(tile, t + j).mul(alpha);
                if (beta != 0f) {
                    v = load(row, j).fma(FloatVector.broadcast(F, beta), v);
                }
                if (bias != null) {
                    v = v.add(load(bias, j0 + j));
                }
                v.intoArray(row, j);
            }
            for (; j < width; j++) {
                row[j] = alpha * tile[t + j] + (beta == 0f ? 0f : beta * row[j]) + (bias == null ? 0f : bias[j0 + j]);
            }
            c.put(out, row, 0, width);
        }
    }

    /**
     * c[8 rows × 48 columns at c0, row stride ldc] (+)= a[8 rows at a0, row stride kc, kc columns] ·
     * strip[kc rows × 48 at b0]. Written out by hand: the 24 accumulators must stay in registers, which
     * C2 does only for plain locals.
     */
    private static void microKernel(float[] a, int a0, int kc, float[] b, int b0, float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
        FloatVector c40, c41, c42, c50, c51, c52, c60, c61, c62, c70, c71, c72;
        if (accumulate) {
            int o = c0;
            c00 = load(c, o); c01 = load(c, o + LANES); c02 = load(c, o + 2 * LANES); o += ldc;
            c10 = load(c, o); c11 = load(c, o + LANES); c12 = load(c, o + 2 * LANES); o += ldc;
            c20 = load(c, o); c21 = load(c, o + LANES); c22 = load(c, o + 2 * LANES); o += ldc;
            c30 = load(c, o); c31 = load(c, o + LANES); c32 = load(c, o + 2 * LANES); o += ldc;
            c40 = load(c, o); c41 = load(c, o + LANES); c42 = load(c, o + 2 * LANES); o += ldc;
            c50 = load(c, o); c51 = load(c, o + LANES); c52 = load(c, o + 2 * LANES); o += ldc;
            c60 = load(c, o); c61 = load(c, o + LANES); c62 = load(c, o + 2 * LANES); o += ldc;
            c70 = load(c, o); c71 = load(c, o + LANES); c72 = load(c, o + 2 * LANES);
        } else {
            c00 = FloatVector.zero(F);
            c01 = c00; c02 = c00; c10 = c00; c11 = c00; c12 = c00; c20 = c00; c21 = c00; c22 = c00; c30 = c00; c31 = c00; c32 = c00;
            c40 = c00; c41 = c00; c42 = c00; c50 = c00; c51 = c00; c52 = c00; c60 = c00; c61 = c00; c62 = c00; c70 = c00; c71 = c00;
            c72 = c00;
        }
        int r0 = a0, r1 = r0 + kc, r2 = r1 + kc, r3 = r2 + kc, r4 = r3 + kc, r5 = r4 + kc, r6 = r5 + kc, r7 = r6 + kc;
        for (int p = 0; p < kc; p++) {
            int bp = b0 + p * NR;
            FloatVector b0v = load(b, bp), b1v = load(b, bp + LANES), b2v = load(b, bp + 2 * LANES);
            FloatVector x;
            x = FloatVector.broadcast(F, a[r0 + p]); c00 = x.fma(b0v, c00); c01 = x.fma(b1v, c01); c02 = x.fma(b2v, c02);
            x = FloatVector.broadcast(F, a[r1 + p]); c10 = x.fma(b0v, c10); c11 = x.fma(b1v, c11); c12 = x.fma(b2v, c12);
            x = FloatVector.broadcast(F, a[r2 + p]); c20 = x.fma(b0v, c20); c21 = x.fma(b1v, c21); c22 = x.fma(b2v, c22);
            x = FloatVector.broadcast(F, a[r3 + p]); c30 = x.fma(b0v, c30); c31 = x.fma(b1v, c31); c32 = x.fma(b2v, c32);
            x = FloatVector.broadcast(F, a[r4 + p]); c40 = x.fma(b0v, c40); c41 = x.fma(b1v, c41); c42 = x.fma(b2v, c42);
            x = FloatVector.broadcast(F, a[r5 + p]); c50 = x.fma(b0v, c50); c51 = x.fma(b1v, c51); c52 = x.fma(b2v, c52);
            x = FloatVector.broadcast(F, a[r6 + p]); c60 = x.fma(b0v, c60); c61 = x.fma(b1v, c61); c62 = x.fma(b2v, c62);
            x = FloatVector.broadcast(F, a[r7 + p]); c70 = x.fma(b0v, c70); c71 = x.fma(b1v, c71); c72 = x.fma(b2v, c72);
        }
        int o = c0;
        c00.intoArray(c, o); c01.intoArray(c, o + LANES); c02.intoArray(c, o + 2 * LANES); o += ldc;
        c10.intoArray(c, o); c11.intoArray(c, o + LANES); c12.intoArray(c, o + 2 * LANES); o += ldc;
        c20.intoArray(c, o); c21.intoArray(c, o + LANES); c22.intoArray(c, o + 2 * LANES); o += ldc;
        c30.intoArray(c, o); c31.intoArray(c, o + LANES); c32.intoArray(c, o + 2 * LANES); o += ldc;
        c40.intoArray(c, o); c41.intoArray(c, o + LANES); c42.intoArray(c, o + 2 * LANES); o += ldc;
        c50.intoArray(c, o); c51.intoArray(c, o + LANES); c52.intoArray(c, o + 2 * LANES); o += ldc;
        c60.intoArray(c, o); c61.intoArray(c, o + LANES); c62.intoArray(c, o + 2 * LANES); o += ldc;
        c70.intoArray(c, o); c71.intoArray(c, o + LANES); c72.intoArray(c, o + 2 * LANES);
    }

    private static FloatVector load(float[] x, int offset) {
        return FloatVector.fromArray(F, x, offset);
    }
}
