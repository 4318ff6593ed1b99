package org.peft4j.core.kernel;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.api.ops.impl.scatter.ScatterAdd;
import org.nd4j.linalg.api.ops.impl.shape.OneHot;
import org.nd4j.linalg.api.ops.impl.transforms.custom.LogSoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The portable kernels: only ND4J ops, so they run on any backend (CUDA included) and serve as the
 * reference that {@link CpuKernels} is tested against. Written for clarity, not CPU speed.
 */
public final class Nd4jKernels implements Kernels {
    /** Score given to hidden keys before softmax; exp of it underflows to exactly 0. */
    static final double HIDDEN_SCORE = -1e9;

    @Override
    public INDArray matmul(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
        return Gemm.mm(a, b, transposeA, transposeB);
    }

    @Override
    public void matmulInto(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB, double alpha, double beta) {
        Gemm.mmInto(a, b, c, transposeA, transposeB, alpha, beta);
    }

    @Override
    public String name() {
        return "nd4j";
    }

    @Override
    public NormOutput layerNorm(INDArray x, INDArray gamma, INDArray beta, double eps) {
        long n = x.rows();
        INDArray mean = x.mean(1).reshape(n, 1);
        INDArray centered = x.subColumnVector(mean);
        INDArray var = centered.mul(centered).mean(1).reshape(n, 1);
        INDArray rstd = Transforms.pow(var.addi(eps), -0.5, false);
        INDArray y = centered.muliColumnVector(rstd).muliRowVector(gamma).addiRowVector(beta);
        return new NormOutput(y, mean, rstd);
    }

    @Override
    public INDArray layerNormBackward(INDArray dy, INDArray x, INDArray gamma, INDArray mean, INDArray rstd, INDArray dGamma,
            INDArray dBeta) {
        long n = x.rows();
        INDArray xhat = x.subColumnVector(mean.reshape(n, 1)).muliColumnVector(rstd.reshape(n, 1));
        if (dGamma != null) {
            addColumnSums(dy.mul(xhat), dGamma);
        }
        if (dBeta != null) {
            addColumnSums(dy, dBeta);
        }
        // dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)), dx̂ = dy · γ
        INDArray dxhat = dy.mulRowVector(gamma);
        INDArray meanDxhat = dxhat.mean(1).reshape(n, 1);
        INDArray meanDxhatXhat = dxhat.mul(xhat).mean(1).reshape(n, 1);
        return dxhat.subiColumnVector(meanDxhat).subi(xhat.muliColumnVector(meanDxhatXhat)).muliColumnVector(rstd.reshape(n, 1));
    }

    @Override
    public NormOutput rmsNorm(INDArray x, INDArray gamma, double eps) {
        long n = x.rows();
        INDArray rstd = Transforms.pow(x.mul(x).mean(1).reshape(n, 1).addi(eps), -0.5, false);
        INDArray y = x.mulColumnVector(rstd).muliRowVector(gamma);
        return new NormOutput(y, null, rstd);
    }

    @Override
    public INDArray rmsNormBackward(INDArray dy, INDArray x, INDArray gamma, INDArray rstd, INDArray dGamma) {
        long n = x.rows();
        INDArray xhat = x.mulColumnVector(rstd.reshape(n, 1));
        if (dGamma != null) {
            addColumnSums(dy.mul(xhat), dGamma);
        }
        // dx = rstd · (dx̂ − x̂ · mean(dx̂ · x̂)), dx̂ = dy · γ
        INDArray dxhat = dy.mulRowVector(gamma);
        INDArray meanDxhatXhat = dxhat.mul(xhat).mean(1).reshape(n, 1);
        return dxhat.subi(xhat.muliColumnVector(meanDxhatXhat)).muliColumnVector(rstd.reshape(n, 1));
    }

    @Override
    public INDArray activate(Activation fn, INDArray x) {
        switch (fn) {
            case GELU:
                return erfTerm(x).addi(1.0).muli(x).muli(0.5);
            case GELU_TANH:
                return Transforms.tanh(tanhGeluInner(x), false).addi(1.0).muli(x).muli(0.5);
            case SILU:
                return Transforms.sigmoid(x, true).muli(x);
            case RELU:
                return Transforms.relu(x, true);
            case TANH:
                return Transforms.tanh(x, true);
            default:
                throw new IllegalArgumentException("unsupported activation " + fn);
        }
    }

    @Override
    public INDArray activateBackward(Activation fn, INDArray x, INDArray dy) {
        switch (fn) {
            case GELU: {
                // d/dx x·Φ(x) = Φ(x) + x·φ(x)
                INDArray cdf = erfTerm(x).addi(1.0).muli(0.5);
                INDArray pdf = Transforms.exp(x.mul(x).muli(-0.5), false).muli(1.0 / Math.sqrt(2 * Math.PI));
                return cdf.addi(pdf.muli(x)).muli(dy);
            }
            case GELU_TANH: {
                // y = 0.5·x·(1+t), t = tanh(u), u = c·(x + a·x³): y' = 0.5·(1+t) + 0.5·x·(1−t²)·c·(1 + 3a·x²)
                INDArray t = Transforms.tanh(tanhGeluInner(x), false);
                INDArray du = x.mul(x).muli(3 * GELU_TANH_A).addi(1.0).muli(GELU_TANH_C);
                INDArray oneMinusT2 = t.mul(t).rsubi(1.0);
                INDArray grad = oneMinusT2.muli(du).muli(x).muli(0.5).addi(t.addi(1.0).muli(0.5));
                return grad.muli(dy);
            }
            case SILU: {
                // d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x)))
                INDArray s = Transforms.sigmoid(x, true);
                INDArray grad = s.rsub(1.0).muli(x).addi(1.0).muli(s);
                return grad.muli(dy);
            }
            case RELU:
                return x.gt(0).castTo(x.dataType()).muli(dy);
            case TANH: {
                INDArray t = Transforms.tanh(x, true);
                return t.muli(t).rsubi(1.0).muli(dy);
            }
            default:
                throw new IllegalArgumentException("unsupported activation " + fn);
        }
    }

    static final double GELU_TANH_C = Math.sqrt(2 / Math.PI);
    static final double GELU_TANH_A = 0.044715;

    private static INDArray tanhGeluInner(INDArray x) {
        return x.mul(x).muli(x).muli(GELU_TANH_A).addi(x).muli(GELU_TANH_C);
    }

    private static INDArray erfTerm(INDArray x) {
        INDArray scaled = x.mul(1.0 / Math.sqrt(2.0));
        return Nd4j.exec(new Erf(scaled, scaled.ulike()));
    }

    @Override
    public void addColumnSums(INDArray dy, INDArray target) {
        // A row of ones times dy: GEMM is 10× faster than sum(0) on ND4J's CPU backend and as good on GPU.
        INDArray ones = Nd4j.ones(dy.dataType(), 1, dy.rows());
        Nd4j.gemm(ones, dy, target.reshape(1, dy.columns()), false, false, 1.0, 1.0);
    }

    @Override
    public INDArray splitHeads(INDArray x, int colOffset, int heads, int headDim, int batch, int seq) {
        INDArray cols = x.get(NDArrayIndex.all(), NDArrayIndex.interval(colOffset, colOffset + (long) heads * headDim));
        return cols.dup('c').reshape(batch, seq, heads, headDim).permute(0, 2, 1, 3).dup('c').reshape(batch * heads, seq, headDim);
    }

    @Override
    public void mergeHeads(INDArray heads3, INDArray dst, int colOffset, int batch, int seq) {
        long heads = heads3.size(0) / batch;
        long headDim = heads3.size(2);
        INDArray merged = heads3.reshape(batch, heads, seq, headDim).permute(0, 2, 1, 3).dup('c').reshape((long) batch * seq, heads * headDim);
        dst.get(NDArrayIndex.all(), NDArrayIndex.interval(colOffset, colOffset + heads * headDim)).assign(merged);
    }

    @Override
    public AttentionOutput attention(INDArray q, INDArray k, INDArray v, double scale, AttentionMask mask, INDArray keep) {
        int batch = mask.batch();
        int seq = (int) q.size(1);
        INDArray probs = maskedSoftmax(Gemm.bmm(q, k, false, true).muli(scale), mask);        // [B·H, T, S]
        INDArray context = Gemm.bmm(keep == null ? probs : probs.mul(keep), v, false, false);  // [B·H, T, hd]
        INDArray merged = Nd4j.createUninitialized(q.dataType(), (long) batch * seq, q.size(0) / batch * q.size(2));
        mergeHeads(context, merged, 0, batch, seq);
        return new AttentionOutput(merged, probs);
    }

    @Override
    public AttentionGradients attentionBackward(INDArray dContext, INDArray q, INDArray k, INDArray v, INDArray probs, INDArray keep,
            double scale, int batch) {
        int heads = (int) (q.size(0) / batch);
        INDArray dc = splitHeads(dContext, 0, heads, (int) q.size(2), batch, (int) q.size(1));  // [B·H, T, hd]
        INDArray dDropped = Gemm.bmm(dc, v, false, true);                                  // [B·H, T, S]
        INDArray dv = Gemm.bmm(keep == null ? probs : probs.mul(keep), dc, true, false);   // [B·H, S, hd]
        INDArray dScores = softmaxBackward(probs, keep == null ? dDropped : dDropped.muli(keep)).muli(scale);
        INDArray dq = Gemm.bmm(dScores, k, false, false);
        INDArray dk = Gemm.bmm(dScores, q, true, false);
        return new AttentionGradients(dq, dk, dv);
    }

    @Override
    public INDArray maskedSoftmax(INDArray scores, AttentionMask mask) {
        if (!mask.isEmpty()) {
            // visible: 1/0 per (batch, query, key), broadcast over heads; hidden scores become exactly HIDDEN_SCORE.
            // A query that sees no key gets all scores 0, hence uniform weights (ND4J's DOUBLE softmax of a row of
            // HIDDEN_SCORE alone is 0/0 = NaN, as it does not subtract the row's maximum).
            float[] visible = new float[mask.batch() * mask.queryLen() * mask.keyLen()];
            float[] hidden = new float[visible.length];
            int i = 0;
            for (int b = 0; b < mask.batch(); b++) {
                for (int q = 0; q < mask.queryLen(); q++) {
                    boolean seesAny = false;
                    for (int k = 0; k < mask.keyLen() && !seesAny; k++) {
                        seesAny = mask.visible(b, q, k);
                    }
                    for (int k = 0; k < mask.keyLen(); k++, i++) {
                        boolean v = mask.visible(b, q, k);
                        visible[i] = v ? 1f : 0f;
                        hidden[i] = v || !seesAny ? 0f : (float) HIDDEN_SCORE;
                    }
                }
            }
            INDArray vis = Nd4j.createFromArray(visible).castTo(scores.dataType()).reshape(mask.batch(), mask.queryLen(), mask.keyLen());
            INDArray hid = Nd4j.createFromArray(hidden).castTo(scores.dataType()).reshape(mask.batch(), mask.queryLen(), mask.keyLen());
            INDArray s4 = scores.reshape(mask.batch(), mask.heads(), mask.queryLen(), mask.keyLen());
            Nd4j.exec(new BroadcastMulOp(s4, vis, s4, 0, 2, 3));
            Nd4j.exec(new org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp(s4, hid, s4, 0, 2, 3));
        }
        Nd4j.exec(new SoftMax(scores, scores, -1));
        return scores;
    }

    @Override
    public INDArray softmaxBackward(INDArray probs, INDArray dProbs) {
        INDArray rowDot = dProbs.mul(probs).sum(2);                     // [bh, q]
        Nd4j.exec(new BroadcastSubOp(dProbs, rowDot, dProbs, 0, 1));
        return dProbs.muli(probs);
    }

    @Override
    public INDArray rotateHalves(INDArray x, INDArray cos, INDArray sin) {
        checkRotation(x, cos, sin);
        long half = x.size(2) / 2;
        INDArray x1 = x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, half)).dup('c');            // [n, T, d/2]
        INDArray x2 = x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(half, 2 * half)).dup('c');
        INDArray x1Cos = Nd4j.exec(new BroadcastMulOp(x1, cos, x1.ulike(), 1, 2));
        INDArray x2Sin = Nd4j.exec(new BroadcastMulOp(x2, sin, x2.ulike(), 1, 2));
        INDArray x2Cos = Nd4j.exec(new BroadcastMulOp(x2, cos, x2.ulike(), 1, 2));
        INDArray x1Sin = Nd4j.exec(new BroadcastMulOp(x1, sin, x1.ulike(), 1, 2));
        INDArray y1 = x1Cos.subi(x2Sin);                 // x₁·cos − x₂·sin
        INDArray y2 = x2Cos.addi(x1Sin);                 // x₂·cos + x₁·sin
        return Nd4j.concat(2, y1, y2);
    }

    static void checkRotation(INDArray x, INDArray cos, INDArray sin) {
        if (x.rank() != 3 || x.size(2) % 2 != 0) {
            throw new IllegalArgumentException("rotary embedding needs x [n, seq, d] with an even d, got " + Arrays.toString(x.shape()));
        }
        long[] table = {x.size(1), x.size(2) / 2};
        if (!Arrays.equals(cos.shape(), table) || !Arrays.equals(sin.shape(), table)) {
            throw new IllegalArgumentException("rotary cos and sin must be [seq, d/2] = " + Arrays.toString(table) + ", got "
                    + Arrays.toString(cos.shape()) + " and " + Arrays.toString(sin.shape()));
        }
    }

    @Override
    public CrossEntropyOutput crossEntropy(INDArray logits, int[] labels, int ignoreIndex, double gradScale, boolean withGrad) {
        long n = logits.rows();
        int vocab = (int) logits.columns();
        checkLabels(labels, n, vocab, ignoreIndex);
        int[] safeLabels = new int[labels.length];
        float[] keep = new float[labels.length];
        int count = 0;
        for (int i = 0; i < labels.length; i++) {
            boolean counted = labels[i] != ignoreIndex;
            safeLabels[i] = counted ? labels[i] : -1;   // out of range: an all-zero one-hot row
            keep[i] = counted ? 1f : 0f;
            count += counted ? 1 : 0;
        }
        INDArray logProbs = logits.ulike();
        Nd4j.exec(new LogSoftMax(logits, logProbs));       // over the last axis
        INDArray oneHot = Nd4j.exec(new OneHot(Nd4j.createFromArray(safeLabels), vocab, -1, 1.0, 0.0, logits.dataType()))[0];
        double lossSum = -oneHot.mul(logProbs).sumNumber().doubleValue();
        INDArray grad = null;
        if (withGrad) {
            INDArray keepCol = Nd4j.createFromArray(keep).castTo(logits.dataType()).reshape(n, 1);
            grad = Transforms.exp(logProbs, false).subi(oneHot).muliColumnVector(keepCol).muli(gradScale);
        }
        return new CrossEntropyOutput(lossSum, count, grad);
    }

    static void checkLabels(int[] labels, long rows, int vocab, int ignoreIndex) {
        if (labels.length != rows) {
            throw new IllegalArgumentException("cross-entropy needs one label per row: " + rows + " rows, " + labels.length + " labels");
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] != ignoreIndex && (labels[i] < 0 || labels[i] >= vocab)) {
                throw new IllegalArgumentException("label " + labels[i] + " at row " + i + " is outside [0, " + vocab
                        + ") and is not the ignore index " + ignoreIndex);
            }
        }
    }

    @Override
    public INDArray gatherRows(INDArray table, int[] ids) {
        checkIds(table, ids);
        return Nd4j.pullRows(table, 1, ids, 'c');
    }

    @Override
    public void scatterAddRows(INDArray target, int[] ids, INDArray rows) {
        checkIds(target, ids);
        ScatterAdd op = new ScatterAdd(target, Nd4j.createFromArray(ids), rows);
        op.addOutputArgument(target);                          // in place: target is also the output
        Nd4j.exec(op);
    }

    static void checkIds(INDArray table, int[] ids) {
        long vocab = table.rows();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }

    static boolean isFloat(INDArray x) {
        return x.dataType() == DataType.FLOAT;
    }
}
