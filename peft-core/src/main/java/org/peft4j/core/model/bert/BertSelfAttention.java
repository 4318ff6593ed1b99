package org.peft4j.core.model.bert;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.AttentionCore;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;

/**
 * Bidirectional multi-head self-attention without its output projection (HF's {@code BertSelfAttention}):
 * context = softmax(q·kᵀ/√headDim + padding mask)·v with q, k, v from the children {@code query},
 * {@code key}, {@code value}. Input x {@code [batch·seq, hidden]}, output the merged heads
 * {@code [batch·seq, hidden]}. Past keys/values of the tape's context are prepended to k and v.
 */
public final class BertSelfAttention extends Layer {
    private final Slot<Layer> query;
    private final Slot<Layer> key;
    private final Slot<Layer> value;
    private final AttentionCore core;

    private record Saved(int batch, int seq) {
    }

    /**
     * @param layerIndex       index of the enclosing layer (selects its past keys/values)
     * @param numHeads         attention heads
     * @param headDim          size of one head; the projections output numHeads·headDim
     * @param attentionDropout dropout on the attention weights
     */
    public BertSelfAttention(int layerIndex, int numHeads, int headDim, double attentionDropout, Layer query, Layer key, Layer value) {
        this.query = child("query", Layer.class, query);
        this.key = child("key", Layer.class, key);
        this.value = child("value", Layer.class, value);
        this.core = new AttentionCore(layerIndex, numHeads, numHeads, headDim, false, attentionDropout);
    }

    /** Number of attention heads. */
    public int numHeads() {
        return core.numHeads();
    }

    /** Size of one head. */
    public int headDim() {
        return core.headDim();
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        SequenceContext ctx = tape.context();
        Kernels kernels = tape.kernels();
        int batch = ctx.batch();
        int seq = ctx.seqLen();
        int heads = core.numHeads();
        int hd = core.headDim();
        INDArray q = kernels.splitHeads(query.get().forward(x, tape), 0, heads, hd, batch, seq);   // [B·H, T, hd]
        INDArray k = kernels.splitHeads(key.get().forward(x, tape), 0, heads, hd, batch, seq);
        INDArray v = kernels.splitHeads(value.get().forward(x, tape), 0, heads, hd, batch, seq);
        INDArray context = core.forward(q, k, v, tape);                                          // [B·T, H·hd]
        tape.push(this, new Saved(batch, seq));
        return context;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        Kernels kernels = tape.kernels();
        AttentionCore.Gradients g = core.backward(gradOutput, tape);
        // backward in reverse order of forward: value, key, query
        INDArray dx = value.get().backward(AttentionCore.merge(kernels, g.dv(), s.batch(), s.seq()), tape);
        dx.addi(key.get().backward(AttentionCore.merge(kernels, g.dk(), s.batch(), s.seq()), tape));
        return dx.addi(query.get().backward(AttentionCore.merge(kernels, g.dq(), s.batch(), s.seq()), tape));
    }

    @Override
    public String describe() {
        return "BertSelfAttention(heads=" + core.numHeads() + ", head_dim=" + core.headDim() + ")";
    }
}
