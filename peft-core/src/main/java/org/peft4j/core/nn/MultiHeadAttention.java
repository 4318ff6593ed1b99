package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.Kernels;

/**
 * Multi-head scaled dot-product self-attention over x {@code [batch·seq, hidden]}:
 * softmax(q·kᵀ/√headDim + mask)·v per head, then an output projection. The projections are children,
 * either one fused q|k|v layer (GPT-2's {@code c_attn}) or three separate ones (LLaMA's
 * {@code q_proj, k_proj, v_proj}), so methods can wrap them. The attention math itself (grouped-query
 * heads, past keys/values from the tape's {@link SequenceContext}, causal and key-padding masks) is
 * the {@link AttentionCore}; this layer adds the projections, position encodings and output dropout.
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
    private final AttentionCore core;
    private final Dropout outputDropout;
    private final PositionEncoding positions;

    /** Rotary or other position encodings applied to q and k per head; the identity when absent. */
    public interface PositionEncoding {
        /** Applies the encoding to {@code x [batch·heads, seq, headDim]} whose first row has position {@code start}. */
        INDArray apply(INDArray x, int start, int heads);

        /** Backward of {@link #apply}: dL/dx from dL/dy. */
        INDArray backward(INDArray gradOutput, int start, int heads);
    }

    private record Saved(int batch, int seq, int past) {
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
        this.core = new AttentionCore(spec.layerIndex(), spec.numHeads(), spec.numKvHeads(), spec.headDim(), spec.causal(),
                spec.attentionDropout());
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
        INDArray merged = core.forward(q, k, v, tape);                                      // [n, H·hd]
        INDArray out = output.get().forward(merged, tape);                                  // [n, hidden]
        out = outputDropout.forward(out, tape);
        tape.push(this, new Saved(batch, seq, past));
        return out;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        Kernels kernels = tape.kernels();
        INDArray g = outputDropout.backward(gradOutput, tape);
        INDArray dMerged = output.get().backward(g, tape);                                   // [n, H·hd]
        AttentionCore.Gradients grads = core.backward(dMerged, tape);
        INDArray dq = grads.dq();                                                            // [B·H, T, hd]
        INDArray dk = grads.dk();                                                            // [B·Hkv, T, hd]
        INDArray dv = grads.dv();
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
        INDArray dx = value.get().backward(AttentionCore.merge(kernels, dv, s.batch(), s.seq()), tape);
        dx.addi(key.get().backward(AttentionCore.merge(kernels, dk, s.batch(), s.seq()), tape));
        return dx.addi(query.get().backward(AttentionCore.merge(kernels, dq, s.batch(), s.seq()), tape));
    }

    @Override
    public String describe() {
        return "MultiHeadAttention(heads=" + numHeads + (numKvHeads != numHeads ? ", kv_heads=" + numKvHeads : "") + ", head_dim="
                + headDim + (causal ? ", causal" : "") + ")";
    }
}
