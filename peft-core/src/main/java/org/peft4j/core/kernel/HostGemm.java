package org.peft4j.core.kernel;

import java.nio.FloatBuffer;
import java.util.Optional;

/**
 * A single-precision matrix product over host memory, {@code c = α·op(a)·op(b) + β·c}, for the CPU
 * kernels' large products. All three buffers hold c-ordered matrices from index 0: a is {@code [m, k]}
 * ({@code [k, m]} when transposed), b is {@code [k, n]} ({@code [n, k]} when transposed), c is
 * {@code [m, n]}.
 */
interface HostGemm {
    /** System property choosing the large products' engine: {@code auto} (the default: Java where fast) or {@code nd4j}. */
    String PROPERTY = "peft4j.gemm";

    /** Name for logs and benchmarks. */
    String name();

    /**
     * c = α·op(a)·op(b) + β·c + bias, the {@code [n]} row bias added to every row (null: none); c is not read
     * when β is 0.
     */
    void multiply(FloatBuffer a, boolean transposeA, FloatBuffer b, boolean transposeB, FloatBuffer c, int m, int n, int k, float alpha,
            float beta, FloatBuffer bias);

    /**
     * The Java product if this JVM can run it fast (the Vector API module present and 16 float lanes,
     * i.e. AVX-512) and {@value #PROPERTY} does not say {@code nd4j}; empty where ND4J's GEMM is used.
     */
    static Optional<HostGemm> best() {
        String choice = System.getProperty(PROPERTY, "auto").trim().toLowerCase(java.util.Locale.ROOT);
        if (!choice.equals("auto") && !choice.equals("nd4j")) {
            throw new IllegalArgumentException("system property " + PROPERTY + " is '" + choice + "'; allowed: auto, nd4j");
        }
        if (choice.equals("nd4j")) {
            return Optional.empty();
        }
        // VectorGemm.supported() runs only once the class has loaded, i.e. with the Vector API present
        return VectorApi.instance("VectorGemm", HostGemm.class).filter(gemm -> VectorGemm.supported());
    }
}
