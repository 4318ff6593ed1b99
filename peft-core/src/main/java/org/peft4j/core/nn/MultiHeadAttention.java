package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.kernel.AttentionMask;
import org.peft4j.core.kernel.Gemm;
import org.peft4j.core.kernel.Kernels;

/**
 * Multi-head scaled dot-product self-attention over x {@code [batch·seq, hidden]}:
 * softmax(q·kᵀ/√headDim + mask)·v per head, then an output projection. The projections are children,
 * either one fused q|k|v layer (GPT-2's {@code c_attn}) or three separate ones (LLaMA's
 * {@code q_proj, k_proj, v_proj}), so methods can wrap them. Keys and values may have fewer heads than
 * queries (grouped-query attention); past keys/values from the tape's {@link SequenceContext} (a
 * learned prefix) are prepended to this layer's own and receive gradients when they ask for them. With a
 * {@link KeyValueCache} in the context (generation, inference only) this layer's keys and values are
 * appended to the cache and attention covers every cached position. Masks: causal (optional) and key
 * padding from the context.
 */
public final class MultiHeadAttention extends Layer {
    private final int layerIndex;
    private final int numHeads;
    private final int numKvHeads;
    private final int headDim;
    private final boolean causal;
    private final Slot<Layer> fusedQkv;
    private final Slot<Layer> query;
    private final Slot<Layer> key;
    private final Slot<Layer> value;
    private final Slot<Layer> output;
    private final Dropout attentionDropout;
    private final Dropout outputDropout;
    private final PositionEncoding positions;

    /** Rotary or other position encodings applied to q and k per head; the identity when absent. */
    public interface PositionEncoding {
        /** Applies the encoding to {@code x [batch·heads, seq, headDim]} whose first row has position {@code start}. */
        INDArray apply(INDArray x, int start, int heads);

        /** Backward of {@link #apply}: dL/dx from dL/dy. */
        INDArray backward(INDArray gradOutput, int start, int heads);
    }

    private record Saved(INDArray q, INDArray k, INDArray v, INDArray probs, INDArray droppedProbs, int batch, int seq, int past) {
    }

    /** Shapes and options shared by both projection layouts. */
    public record Spec(int layerIndex, int numHeads, int numKvHeads, int headDim, boolean causal, double attentionDropout,
            double outputDropout) {
        public Spec {
            if (numHeads <= 0 || numKvHeads <= 0 || headDim <= 0) {
                throw new IllegalArgumentException("attention needs heads, kv heads and head size > 0, got " + numHeads + ", "
                        + numKvHeads + ", " + headDim);
            }
            if (numHeads % numKvHeads != 0) {
                throw new IllegalArgumentException("num_attention_heads (" + numHeads + ") must be a multiple of num_key_value_heads ("
                        + numKvHeads + ")");
            }
        }
    }

    private MultiHeadAttention(Spec spec, String[] names, Layer[] layers, PositionEncoding positions) {
        this.layerIndex = spec.layerIndex();
        this.numHeads = spec.numHeads();
        this.numKvHeads = spec.numKvHeads();
        this.headDim = spec.headDim();
        this.causal = spec.causal();
        this.attentionDropout = new Dropout(spec.attentionDropout());
        this.outputDropout = new Dropout(spec.outputDropout());
        this.positions = positions;
        if (layers.length == 2) {
            this.fusedQkv = child(names[0], Layer.class, layers[0]);
            this.query = null;
            this.key = null;
            this.value = null;
            this.output = child(names[1], Layer.class, layers[1]);
        } else {
            this.fusedQkv = null;
            this.query = child(names[0], Layer.class, layers[0]);
            this.key = child(names[1], Layer.class, layers[1]);
            this.value = child(names[2], Layer.class, layers[2]);
            this.output = child(names[3], Layer.class, layers[3]);
        }
    }

    /** Attention with one projection producing q|k|v side by side (GPT-2's c_attn) and an output projection. */
    public static MultiHeadAttention fused(Spec spec, String qkvName, Layer qkv, String outName, Layer out) {
        return new MultiHeadAttention(spec, new String[] {qkvName, outName}, new Layer[] {qkv, out}, null);
    }

    /** Attention with separate q, k, v projections, an output projection and optional position encoding. */
    public static MultiHeadAttention separate(Spec spec, String[] names, Layer q, Layer k, Layer v, Layer out, PositionEncoding positions) {
        if (names.length != 4) {
            throw new IllegalArgumentException("separate attention needs 4 child names (q, k, v, out), got " + names.length);
        }
        return new MultiHeadAttention(spec, names, new Layer[] {q, k, v, out}, positions);
    }

    public int layerIndex() {
        return layerIndex;
    }

    public int numHeads() {
        return numHeads;
    }

    public int numKvHeads() {
        return numKvHeads;
    }

    public int headDim() {
        return headDim;
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        SequenceContext ctx = tape.context();
        Kernels kernels = tape.kernels();
        int batch = ctx.batch();
        int seq = ctx.seqLen();
        int past = ctx.pastLength();
        INDArray q;
        INDArray k;
        INDArray v;
        if (fusedQkv != null) {
            INDArray qkv = fusedQkv.get().forward(x, tape);                                  // [n, (H + 2·Hkv)·hd]
            q = kernels.splitHeads(qkv, 0, numHeads, headDim, batch, seq);                   // [B·H, T, hd]
            k = kernels.splitHeads(qkv, numHeads * headDim, numKvHeads, headDim, batch, seq); // [B·Hkv, T, hd]
            v = kernels.splitHeads(qkv, (numHeads + numKvHeads) * headDim, numKvHeads, headDim, batch, seq);
        } else {
            q = kernels.splitHeads(query.get().forward(x, tape), 0, numHeads, headDim, batch, seq);
            k = kernels.splitHeads(key.get().forward(x, tape), 0, numKvHeads, headDim, batch, seq);
            v = kernels.splitHeads(value.get().forward(x, tape), 0, numKvHeads, headDim, batch, seq);
        }
        if (positions != null) {
            q = positions.apply(q, past, numHeads);
            k = positions.apply(k, past, numKvHeads);
        }
        if (ctx.cache() != null) {
            if (tape.isRecording()) {
                throw new IllegalStateException("a key/value cache serves inference only: run attention with a cache on a tape that does not record");
            }
            INDArray[] cached = ctx.cache().append(layerIndex, k, v);                       // [B·Hkv, C + T, hd]
            k = cached[0];
            v = cached[1];
        }
        if (ctx.past() != null && ctx.past().length() > 0) {
            k = Nd4j.concat(1, ctx.past().keys(layerIndex), k);                             // [B·Hkv, P + C + T, hd]
            v = Nd4j.concat(1, ctx.past().values(layerIndex), v);
        }
        INDArray kFull = repeatKv(k, batch);                                                 // [B·H, S, hd]
        INDArray vFull = repeatKv(v, batch);
        INDArray qScaled = q.mul(1.0 / Math.sqrt(headDim));
        INDArray scores = Gemm.bmm(qScaled, kFull, false, true);                            // [B·H, T, S]
        AttentionMask mask = new AttentionMask(batch, numHeads, seq, past + seq, causal, ctx.keyMask());
        INDArray probs = kernels.maskedSoftmax(scores, mask);
        INDArray dropped = attentionDropout.forward(probs, tape);
        INDArray context = Gemm.bmm(dropped, vFull, false, false);                          // [B·H, T, hd]
        INDArray merged = Nd4j.createUninitialized(x.dataType(), (long) batch * seq, (long) numHeads * headDim);
        kernels.mergeHeads(context, merged, 0, batch, seq);                                 // [n, H·hd]
        INDArray out = output.get().forward(merged, tape);                                  // [n, hidden]
        out = outputDropout.forward(out, tape);
        tape.push(this, new Saved(qScaled, kFull, vFull, probs, dropped, batch, seq, past));
        return out;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        Kernels kernels = tape.kernels();
        INDArray g = outputDropout.backward(gradOutput, tape);
        INDArray dMerged = output.get().backward(g, tape);                                   // [n, H·hd]
        INDArray dContext = kernels.splitHeads(dMerged, 0, numHeads, headDim, s.batch(), s.seq()); // [B·H, T, hd]
        INDArray dDropped = Gemm.bmm(dContext, s.v(), false, true);                          // [B·H, T, S]
        INDArray dvFull = Gemm.bmm(s.droppedProbs(), dContext, true, false);                 // [B·H, S, hd]
        INDArray dProbs = attentionDropout.backward(dDropped, tape);
        INDArray dScores = kernels.softmaxBackward(s.probs(), dProbs);
        INDArray dq = Gemm.bmm(dScores, s.k(), false, false).muli(1.0 / Math.sqrt(headDim)); // [B·H, T, hd]
        INDArray dkFull = Gemm.bmm(dScores, s.q(), true, false);                             // [B·H, S, hd]
        INDArray dk = sumKvGroups(dkFull, s.batch());                                        // [B·Hkv, S, hd]
        INDArray dv = sumKvGroups(dvFull, s.batch());
        if (s.past() > 0) {
            dk = splitPastGradient(dk, s.past(), tape.context().past(), true);
            dv = splitPastGradient(dv, s.past(), tape.context().past(), false);
        }
        if (positions != null) {
            dq = positions.backward(dq, s.past(), numHeads);
            dk = positions.backward(dk, s.past(), numKvHeads);
        }
        long n = (long) s.batch() * s.seq();
        if (fusedQkv != null) {
            INDArray dQkv = Nd4j.createUninitialized(gradOutput.dataType(), n, (long) (numHeads + 2 * numKvHeads) * headDim);
            kernels.mergeHeads(dq, dQkv, 0, s.batch(), s.seq());
            kernels.mergeHeads(dk, dQkv, numHeads * headDim, s.batch(), s.seq());
            kernels.mergeHeads(dv, dQkv, (numHeads + numKvHeads) * headDim, s.batch(), s.seq());
            return fusedQkv.get().backward(dQkv, tape);
        }
        // separate projections: backward in reverse order of forward (v, k, q)
        INDArray dx = value.get().backward(merge(kernels, dv, numKvHeads, s), tape);
        dx.addi(key.get().backward(merge(kernels, dk, numKvHeads, s), tape));
        return dx.addi(query.get().backward(merge(kernels, dq, numHeads, s), tape));
    }

    private INDArray merge(Kernels kernels, INDArray heads3, int heads, Saved s) {
        INDArray out = Nd4j.createUninitialized(heads3.dataType(), (long) s.batch() * s.seq(), (long) heads * headDim);
        kernels.mergeHeads(heads3, out, 0, s.batch(), s.seq());
        return out;
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

    /** Adds the gradient of the past positions into the past's accumulators; returns this layer's own part. */
    private INDArray splitPastGradient(INDArray grad, int past, PastKeyValues pastKv, boolean keys) {
        long total = grad.size(1);
        if (pastKv.requiresGrad()) {
            INDArray target = keys ? pastKv.keyGrad(layerIndex) : pastKv.valueGrad(layerIndex);
            target.addi(grad.get(NDArrayIndex.all(), NDArrayIndex.interval(0, past), NDArrayIndex.all()));
        }
        return grad.get(NDArrayIndex.all(), NDArrayIndex.interval(past, total), NDArrayIndex.all()).dup('c');
    }

    @Override
    public String describe() {
        return "MultiHeadAttention(heads=" + numHeads + (numKvHeads != numHeads ? ", kv_heads=" + numKvHeads : "") + ", head_dim="
                + headDim + (causal ? ", causal" : "") + ")";
    }
}
