package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.kernel.AttentionMask;
import org.peft4j.core.kernel.Kernels;

/**
 * Scaled dot-product attention over heads, without projections: context = softmax(q·kᵀ/√headDim +
 * mask)·v per head, heads merged into rows {@code [batch·seq, heads·headDim]}. Past keys/values of the
 * tape's {@link SequenceContext} (a learned prefix) are prepended to the given keys and values, and
 * receive gradients when they ask for them; with a {@link KeyValueCache} in the context (generation,
 * inference only) the given keys and values are appended to the cache and attention covers every
 * cached position. Keys and values may have fewer heads than
 * queries (grouped-query attention: each kv head serves {@code numHeads/numKvHeads} consecutive query
 * heads, as HF's {@code repeat_kv}). Masks: causal (optional) and key padding from the context.
 *
 * <p>The modules that own the projections ({@link MultiHeadAttention}, BERT's self-attention) call
 * {@link #forward} and {@link #backward} at the point of their own forward and backward where the
 * attention math belongs; what this core saves sits on the tape between their entries.
 */
public final class AttentionCore {
    private final int layerIndex;
    private final int numHeads;
    private final int numKvHeads;
    private final int headDim;
    private final boolean causal;
    private final Dropout dropout;

    private record Saved(INDArray q, INDArray k, INDArray v, INDArray probs, INDArray keep, int batch, int seq, int past) {
    }

    /**
     * dL/dq {@code [batch·heads, seq, headDim]}, and dL/dk, dL/dv {@code [batch·kvHeads, seq, headDim]} of
     * the keys and values given to forward (the past positions' gradients went to the past's accumulators).
     */
    public record Gradients(INDArray dq, INDArray dk, INDArray dv) {
    }

    /**
     * @param layerIndex       which layer's past keys/values this attention reads
     * @param numHeads         query heads
     * @param numKvHeads       key/value heads; must divide numHeads
     * @param headDim          size of one head
     * @param causal           hide keys after each query's position
     * @param attentionDropout dropout probability on the attention weights
     */
    public AttentionCore(int layerIndex, int numHeads, int numKvHeads, int headDim, boolean causal, double attentionDropout) {
        if (layerIndex < 0) {
            throw new IllegalArgumentException("attention layer index must be >= 0, got " + layerIndex);
        }
        if (numHeads <= 0 || numKvHeads <= 0 || headDim <= 0) {
            throw new IllegalArgumentException("attention needs heads, kv heads and head size > 0, got " + numHeads + ", " + numKvHeads
                    + ", " + headDim);
        }
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("number of attention heads (" + numHeads + ") must be a multiple of the number of key/value heads ("
                    + numKvHeads + ")");
        }
        this.layerIndex = layerIndex;
        this.numHeads = numHeads;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        this.causal = causal;
        this.dropout = new Dropout(attentionDropout);
    }

    /** The layer whose past keys/values this attention reads. */
    public int layerIndex() {
        return layerIndex;
    }

    /** Number of query heads. */
    public int numHeads() {
        return numHeads;
    }

    /** Number of key/value heads. */
    public int numKvHeads() {
        return numKvHeads;
    }

    /** Size of one head. */
    public int headDim() {
        return headDim;
    }

    /** True if each query sees only keys at or before its position. */
    public boolean causal() {
        return causal;
    }

    /**
     * Returns the merged context {@code [batch·seq, heads·headDim]} for q {@code [batch·heads, seq, headDim]}
     * and k, v {@code [batch·kvHeads, seq, headDim]} of this pass's own positions.
     */
    public INDArray forward(INDArray q, INDArray k, INDArray v, Tape tape) {
        SequenceContext ctx = tape.context();
        Kernels kernels = tape.kernels();
        int batch = ctx.batch();
        int seq = ctx.seqLen();
        int past = ctx.pastLength();
        checkHeads("q", q, numHeads, batch, seq);
        checkHeads("k", k, numKvHeads, batch, seq);
        checkHeads("v", v, numKvHeads, batch, seq);
        if (ctx.cache() != null) {
            if (tape.isRecording()) {
                throw new IllegalStateException("a key/value cache serves inference only: run attention with a cache on a tape that does not record");
            }
            INDArray[] cached = ctx.cache().append(layerIndex, k, v);                                       // [B·Hkv, C + T, hd]
            k = cached[0];
            v = cached[1];
        }
        if (ctx.past() != null && ctx.past().length() > 0) {
            k = Nd4j.concat(1, ctx.past().keys(layerIndex), k);                                             // [B·Hkv, P + C + T, hd]
            v = Nd4j.concat(1, ctx.past().values(layerIndex), v);
        }
        INDArray kFull = repeatKv(k, batch);                                                                    // [B·H, S, hd]
        INDArray vFull = repeatKv(v, batch);
        AttentionMask mask = new AttentionMask(batch, numHeads, seq, past + seq, causal, ctx.keyMask());
        INDArray keep = dropout.keepMask(new long[] {(long) batch * numHeads, seq, past + seq}, q.dataType(), tape);  // null: no dropout
        Kernels.AttentionOutput out = kernels.attention(q, kFull, vFull, 1.0 / Math.sqrt(headDim), mask, keep);  // context [B·T, H·hd]
        tape.push(this, new Saved(q, kFull, vFull, out.probs(), keep, batch, seq, past));
        return out.context();
    }

    /** Returns dL/dq, dL/dk, dL/dv for dL/d(context) {@code [batch·seq, heads·headDim]}; adds the past's gradients. */
    public Gradients backward(INDArray gradContext, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        Kernels.AttentionGradients full = tape.kernels().attentionBackward(gradContext, s.q(), s.k(), s.v(), s.probs(), s.keep(),
                1.0 / Math.sqrt(headDim), s.batch());
        INDArray dk = sumKvGroups(full.dk(), s.batch());                                                        // [B·Hkv, S, hd]
        INDArray dv = sumKvGroups(full.dv(), s.batch());
        if (s.past() > 0) {
            dk = splitPastGradient(dk, s.past(), tape.context().past(), true);
            dv = splitPastGradient(dv, s.past(), tape.context().past(), false);
        }
        return new Gradients(full.dq(), dk, dv);
    }

    /** Heads {@code [batch·heads, seq, headDim]} as rows {@code [batch·seq, heads·headDim]} in a new array. */
    public static INDArray merge(Kernels kernels, INDArray heads3, int batch, int seq) {
        long heads = heads3.size(0) / batch;
        INDArray out = Nd4j.createUninitialized(heads3.dataType(), (long) batch * seq, heads * heads3.size(2));
        kernels.mergeHeads(heads3, out, 0, batch, seq);
        return out;
    }

    private void checkHeads(String what, INDArray x, int heads, int batch, int seq) {
        if (x.rank() != 3 || x.size(0) != (long) batch * heads || x.size(1) != seq || x.size(2) != headDim) {
            throw new IllegalArgumentException("attention " + what + " must be [batch*heads, seq, headDim] = [" + (long) batch * heads + ", "
                    + seq + ", " + headDim + "], got " + java.util.Arrays.toString(x.shape()));
        }
    }

    /** [B·Hkv, S, hd] → [B·H, S, hd], each kv head serving H/Hkv consecutive query heads (HF repeat_kv). */
    private INDArray repeatKv(INDArray kv, int batch) {
        int groups = numHeads / numKvHeads;
        if (groups == 1) {
            return kv;
        }
        long s = kv.size(1);
        INDArray kv4 = kv.reshape(batch, numKvHeads, 1, s, headDim);
        INDArray repeated = Nd4j.createUninitialized(kv.dataType(), batch, numKvHeads, groups, s, headDim);
        for (int g = 0; g < groups; g++) {
            repeated.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(g), NDArrayIndex.all(), NDArrayIndex.all())
                    .assign(kv4.reshape(batch, numKvHeads, s, headDim));
        }
        return repeated.reshape((long) batch * numHeads, s, headDim);
    }

    /** Backward of {@link #repeatKv}: sums the gradients of each group of query heads. */
    private INDArray sumKvGroups(INDArray full, int batch) {
        int groups = numHeads / numKvHeads;
        if (groups == 1) {
            return full;
        }
        long s = full.size(1);
        return full.reshape(batch, numKvHeads, groups, s, headDim).sum(2).reshape((long) batch * numKvHeads, s, headDim);
    }

    /** Adds the gradient of the past positions into the past's accumulators; returns this pass's own part. */
    private INDArray splitPastGradient(INDArray grad, int past, PastKeyValues pastKv, boolean keys) {
        long total = grad.size(1);
        if (pastKv.requiresGrad()) {
            INDArray target = keys ? pastKv.keyGrad(layerIndex) : pastKv.valueGrad(layerIndex);
            target.addi(grad.get(NDArrayIndex.all(), NDArrayIndex.interval(0, past), NDArrayIndex.all()));
        }
        return grad.get(NDArrayIndex.all(), NDArrayIndex.interval(past, total), NDArrayIndex.all()).dup('c');
    }

    @Override
    public String toString() {
        return "AttentionCore(heads=" + numHeads + (numKvHeads != numHeads ? ", kv_heads=" + numKvHeads : "") + ", head_dim=" + headDim
                + (causal ? ", causal" : "") + ")";
    }
}
