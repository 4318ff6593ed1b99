package org.peft4j.core.kernel;

import org.nd4j.linalg.factory.Nd4j;

/** Which {@link Kernels} a model runs: chosen explicitly, or by the ND4J backend in use. */
public enum KernelChoice {
    /** {@link CpuKernels} on ND4J's CPU backend, {@link Nd4jKernels} on any other (CUDA). */
    AUTO,
    /** Always {@link Nd4jKernels}: the reference, and the path the CUDA backend runs. */
    PORTABLE,
    /** Always {@link CpuKernels}; fails on a backend whose memory is not host memory. */
    CPU;

    /** The kernels this choice stands for on the current backend. */
    public Kernels resolve() {
        switch (this) {
            case PORTABLE:
                return new Nd4jKernels();
            case CPU:
                if (!isCpuBackend()) {
                    throw new IllegalStateException("CPU kernels need ND4J's CPU backend (nd4j-native), but the backend is "
                            + backendName() + "; use KernelChoice.AUTO or PORTABLE");
                }
                return new CpuKernels();
            default:
                return isCpuBackend() ? new CpuKernels() : new Nd4jKernels();
        }
    }

    /** Parses "auto", "portable" or "cpu" (any case). */
    public static KernelChoice parse(String name) {
        for (KernelChoice c : values()) {
            if (c.name().equalsIgnoreCase(name)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown kernel choice '" + name + "'; allowed: auto, portable, cpu");
    }

    /** True if ND4J runs on its native CPU backend, whose buffers are host memory. */
    public static boolean isCpuBackend() {
        return backendName().toLowerCase(java.util.Locale.ROOT).contains("cpu");
    }

    /** The simple class name of the ND4J backend, e.g. {@code CpuBackend} or {@code JCublasBackend}. */
    public static String backendName() {
        return Nd4j.getBackend().getClass().getSimpleName();
    }
}
