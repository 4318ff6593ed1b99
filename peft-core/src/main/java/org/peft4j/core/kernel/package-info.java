/**
 * The element-wise and data-movement math with its backward passes, in two implementations that give
 * the same numbers: {@link org.peft4j.core.kernel.Nd4jKernels} (ND4J ops only, runs on CUDA) and
 * {@link org.peft4j.core.kernel.CpuKernels} (plain Java over host memory, much faster on the CPU).
 * Matrix products go to ND4J's GEMM through {@link org.peft4j.core.kernel.Gemm}.
 */
package org.peft4j.core.kernel;
