package org.peft4j.core.kernel;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The math of the engine: matrix products, the element-wise and data-movement ops with their backward
 * passes, and attention with its many small per-head products. Layers that hold a {@code Tape} take
 * their products from here; code without one (merging, rank allocation) calls ND4J's GEMM through
 * {@link Gemm} directly.
 *
 * <p>Two implementations give the same numbers: {@link Nd4jKernels} uses only ND4J ops and runs on
 * every backend (CUDA included); {@link CpuKernels} works on host memory in plain Java, which is much
 * faster than ND4J's CPU element-wise ops. {@link KernelChoice} picks one. Inputs are c-ordered
 * FLOAT or DOUBLE arrays; rows are {@code n = batch · seq}. Outputs are new arrays unless a method
 * says it adds into a target. Methods that "add into" a target accumulate (+=), they never overwrite.
 */
public interface Kernels {
    /** A short name for logs and benchmarks. */
    String name();

    /** Output of a normalization: y and per-row statistics backward needs ({@code mean} is null for RMSNorm). */
    record NormOutput(INDArray y, INDArray mean, INDArray rstd) {
    }

    /** Output of cross-entropy: summed loss over counted rows, their number, and dL/dlogits (or null). */
    record CrossEntropyOutput(double lossSum, int count, INDArray gradLogits) {
    }

    /** op(a)·op(b) as a new c-ordered {@code [m, n]} array, for 2-D a and b (op transposes when asked). */
    INDArray matmul(INDArray a, INDArray b, boolean transposeA, boolean transposeB);

    /** c = α·op(a)·op(b) + β·c in place; c is {@code [m, n]}. */
    void matmulInto(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB, double alpha, double beta);

    /**
     * A linear layer's forward: x·op(w) + bias {@code [n, out]}, the bias (null: none) added to every row.
     * The CPU kernels add it while writing the product out, saving a pass over y.
     */
    default INDArray linear(INDArray x, INDArray w, boolean transposeW, INDArray bias) {
        Gemm.Shape.of(x, w, false, transposeW).checkBias(bias);
        INDArray y = matmul(x, w, false, transposeW);
        return bias == null ? y : y.addiRowVector(bias);
    }

    /** y = (x − mean)·rstd·γ + β per row of x {@code [n, d]}; rstd = 1/√(var + eps), biased variance. */
    NormOutput layerNorm(INDArray x, INDArray gamma, INDArray beta, double eps);

    /** Returns dx; adds Σ dy·x̂ into dGamma and Σ dy into dBeta when they are non-null. */
    INDArray layerNormBackward(INDArray dy, INDArray x, INDArray gamma, INDArray mean, INDArray rstd, INDArray dGamma, INDArray dBeta);

    /** y = x·rstd·γ with rstd = 1/√(mean(x²) + eps) per row (HF LlamaRMSNorm). */
    NormOutput rmsNorm(INDArray x, INDArray gamma, double eps);

    /** Returns dx; adds Σ dy·x̂ into dGamma when non-null. */
    INDArray rmsNormBackward(INDArray dy, INDArray x, INDArray gamma, INDArray rstd, INDArray dGamma);

    /** y = f(x) element-wise. */
    INDArray activate(Activation fn, INDArray x);

    /** dx = f'(x)·dy element-wise. */
    INDArray activateBackward(Activation fn, INDArray x, INDArray dy);

    /** target[j] += Σ_i dy[i, j]: the gradient of a bias. {@code target} has dy.columns() elements. */
    void addColumnSums(INDArray dy, INDArray target);

    /**
     * Takes columns {@code [colOffset, colOffset + heads·headDim)} of x {@code [batch·seq, cols]} and
     * returns them per head: {@code [batch · heads, seq, headDim]}.
     */
    INDArray splitHeads(INDArray x, int colOffset, int heads, int headDim, int batch, int seq);

    /**
     * The inverse of {@link #splitHeads}: writes {@code heads3 [batch·heads, seq, headDim]} into columns
     * {@code [colOffset, colOffset + heads·headDim)} of {@code dst [batch·seq, cols]} (overwrites them).
     */
    void mergeHeads(INDArray heads3, INDArray dst, int colOffset, int batch, int seq);

    /** Output of {@link #attention}: the context with heads merged into rows, and the softmax weights backward needs. */
    record AttentionOutput(INDArray context, INDArray probs) {
    }

    /** Gradients of {@link #attention}: dL/dq {@code [batch·heads, T, hd]}, dL/dk and dL/dv {@code [batch·heads, S, hd]}. */
    record AttentionGradients(INDArray dq, INDArray dk, INDArray dv) {
    }

    /**
     * Scaled dot-product attention of every head: probs = softmax(q·kᵀ·scale) over the keys the mask
     * leaves visible, context = (probs ⊙ keep)·v, for q {@code [batch·heads, T, hd]} and k, v
     * {@code [batch·heads, S, hd]}; the context comes with heads merged into rows, {@code [batch·T,
     * heads·hd]}. {@code keep} is dropout's scaled keep-mask {@code [batch·heads, T, S]}, or null.
     */
    AttentionOutput attention(INDArray q, INDArray k, INDArray v, double scale, AttentionMask mask, INDArray keep);

    /**
     * The gradients of {@link #attention} for dL/dcontext {@code [batch·T, heads·hd]}, given its inputs,
     * the probs it returned and the same keep-mask.
     */
    AttentionGradients attentionBackward(INDArray dContext, INDArray q, INDArray k, INDArray v, INDArray probs, INDArray keep, double scale,
            int batch);

    /** Softmax over the last axis of scores {@code [batch·heads, queryLen, keyLen]} with hidden keys at 0, in place. */
    INDArray maskedSoftmax(INDArray scores, AttentionMask mask);

    /** dScores = p ⊙ (dp − Σ_k dp·p) over the last axis; may reuse dProbs' storage. */
    INDArray softmaxBackward(INDArray probs, INDArray dProbs);

    /**
     * Rotates the two halves of every vector of x {@code [n, seq, d]} by the angles of its position, as HF's
     * {@code apply_rotary_pos_emb} does: y = x·cos + rotate_half(x)·sin with rotate_half(x) = [−x₂, x₁], i.e.
     * {@code y[i] = x[i]·cos[t,i] − x[i+d/2]·sin[t,i]} and {@code y[i+d/2] = x[i+d/2]·cos[t,i] + x[i]·sin[t,i]}
     * for i < d/2, with cos and sin {@code [seq, d/2]}. With −sin it is the inverse rotation (the backward).
     */
    INDArray rotateHalves(INDArray x, INDArray cos, INDArray sin);

    /**
     * Cross-entropy of logits {@code [n, vocab]} against labels {@code [n]}; rows whose label is
     * {@code ignoreIndex} count nothing. With {@code withGrad}, dL/dlogits = (softmax − onehot)·gradScale
     * for counted rows and 0 for ignored ones.
     */
    CrossEntropyOutput crossEntropy(INDArray logits, int[] labels, int ignoreIndex, double gradScale, boolean withGrad);

    /** Rows {@code ids} of table {@code [vocab, d]}: {@code [ids.length, d]}. */
    INDArray gatherRows(INDArray table, int[] ids);

    /** target[ids[i]] += rows[i] for every i (repeated ids add up). */
    void scatterAddRows(INDArray target, int[] ids, INDArray rows);
}
