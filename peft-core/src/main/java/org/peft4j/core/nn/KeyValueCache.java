package org.peft4j.core.nn;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The keys and values of every token a decoder has seen so far, per attention layer, for generation: each
 * forward pass of a model given the cache attends to the cached positions and appends its own keys and
 * values (after rotary encoding), so the next pass only runs the new tokens.
 *
 * <p>Protocol, driven by the model: it puts the cache in the pass's {@link SequenceContext}
 * ({@link SequenceContext#setCache}); every {@link MultiHeadAttention} calls {@link #append} once with its
 * layer index; the model then calls {@link #commit} to make the new positions part of the cache. Until the
 * commit, {@link #length()} does not change, so a pass that fails half way leaves the cache as it was.
 *
 * <p>Each layer keeps one buffer {@code [batch·kvHeads, capacity, headDim]} outside every workspace, grown
 * by doubling. The cache is for inference only; close it to free its buffers.
 */
public final class KeyValueCache implements AutoCloseable {
    private static final int MIN_CAPACITY = 16;

    private final List<INDArray> keys = new ArrayList<>();
    private final List<INDArray> values = new ArrayList<>();
    private final List<Integer> pending = new ArrayList<>();   // rows appended by each layer since the last commit
    private int length;
    private int batch;
    /** [batch][length] flattened, 1 = visible; null while every cached position is visible. */
    private int[] keyMask;

    /** An empty cache; its buffers are allocated by the first pass that appends to it. */
    public KeyValueCache() {
    }

    /** Number of cached positions. */
    public int length() {
        return length;
    }

    /** Number of sequences the cached positions belong to (0 while the cache is empty). */
    public int batch() {
        return length == 0 ? 0 : batch;
    }

    /** Number of layers that have appended to the cache. */
    public int numLayers() {
        return keys.size();
    }

    /** Which cached positions may be attended to, {@code [batch · length]} with 1 = visible; null if all may. */
    public int[] keyMask() {
        return keyMask == null ? null : keyMask.clone();
    }

    /**
     * Writes {@code k} and {@code v} ({@code [batch·kvHeads, seq, headDim]}) of {@code layer} after the cached
     * positions and returns that layer's keys and values of all positions, cached and new:
     * {@code [batch·kvHeads, length + seq, headDim]}, as new arrays in the current workspace.
     */
    public INDArray[] append(int layer, INDArray k, INDArray v) {
        if (layer < 0 || layer > keys.size()) {
            throw new IllegalArgumentException("layer " + layer + " cannot append: the cache holds layers 0.." + (keys.size() - 1)
                    + " and layers must first append in order 0, 1, ...");
        }
        if (k.rank() != 3 || !Arrays.equals(k.shape(), v.shape())) {
            throw new IllegalArgumentException("cached keys and values must both be [batch*kvHeads, seq, headDim], got "
                    + Arrays.toString(k.shape()) + " and " + Arrays.toString(v.shape()));
        }
        int seq = (int) k.size(1);
        if (layer == keys.size()) {
            if (length > 0) {
                throw new IllegalStateException("layer " + layer + " appended to a cache of " + length
                        + " positions that it had no part in; a cache belongs to one model");
            }
            keys.add(allocate(k, Math.max(MIN_CAPACITY, seq)));
            values.add(allocate(v, Math.max(MIN_CAPACITY, seq)));
            pending.add(0);
        }
        INDArray keyBuffer = keys.get(layer);
        if (keyBuffer.size(0) != k.size(0) || keyBuffer.size(2) != k.size(2)) {
            throw new IllegalArgumentException("layer " + layer + " appends keys " + Arrays.toString(k.shape()) + " to a cache of shape [" + keyBuffer.size(0)
                    + ", positions, " + keyBuffer.size(2) + "]");
        }
        if (length + seq > keyBuffer.size(1)) {
            long capacity = Math.max(2 * keyBuffer.size(1), length + seq);
            keys.set(layer, grow(keyBuffer, capacity));
            values.set(layer, grow(values.get(layer), capacity));
        }
        write(keys.get(layer), k);
        write(values.get(layer), v);
        pending.set(layer, seq);
        return new INDArray[] {firstRows(keys.get(layer), length + seq), firstRows(values.get(layer), length + seq)};
    }

    /**
     * Makes the positions appended in the pass described by {@code ctx} part of the cache: every layer must
     * have appended its {@code ctx.seqLen()} rows. Their visibility comes from the context's key mask.
     */
    public void commit(SequenceContext ctx) {
        int seq = ctx.seqLen();
        for (int layer = 0; layer < pending.size(); layer++) {
            if (pending.get(layer) != seq) {
                throw new IllegalStateException("cannot commit " + seq + " positions: layer " + layer + " appended " + pending.get(layer));
            }
        }
        if (length > 0 && ctx.batch() != batch) {
            throw new IllegalArgumentException("the cache holds " + batch + " sequences, the pass ran " + ctx.batch());
        }
        int[] ctxMask = ctx.keyMask();
        if (keyMask != null || ctxMask != null) {
            int newLength = length + seq;
            int[] mask = new int[ctx.batch() * newLength];
            for (int b = 0; b < ctx.batch(); b++) {
                for (int p = 0; p < length; p++) {
                    mask[b * newLength + p] = keyMask == null ? 1 : keyMask[b * length + p];
                }
                for (int t = 0; t < seq; t++) {   // the pass's own positions are the last seq of its keys
                    mask[b * newLength + length + t] = ctxMask == null ? 1 : ctxMask[b * ctx.keyLength() + ctx.keyLength() - seq + t];
                }
            }
            keyMask = mask;
        }
        batch = ctx.batch();
        length += seq;
        pending.replaceAll(ignored -> 0);
    }

    /** Frees the buffers; the cache is empty afterwards. */
    @Override
    public void close() {
        keys.forEach(INDArray::close);
        values.forEach(INDArray::close);
        keys.clear();
        values.clear();
        pending.clear();
        length = 0;
        keyMask = null;
    }

    @SuppressWarnings("try")
    private static INDArray allocate(INDArray like, long capacity) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return Nd4j.zeros(like.dataType(), like.size(0), capacity, like.size(2));
        }
    }

    /** A buffer of {@code capacity} positions holding the first {@code length} of {@code old}; closes old. */
    private INDArray grow(INDArray old, long capacity) {
        INDArray bigger = allocate(old, capacity);
        if (length > 0) {
            bigger.get(NDArrayIndex.all(), NDArrayIndex.interval(0, length), NDArrayIndex.all()).assign(firstRowsView(old, length));
        }
        old.close();
        return bigger;
    }

    private void write(INDArray buffer, INDArray rows) {
        buffer.get(NDArrayIndex.all(), NDArrayIndex.interval(length, length + rows.size(1)), NDArrayIndex.all()).assign(rows);
    }

    private static INDArray firstRowsView(INDArray buffer, long rows) {
        return buffer.get(NDArrayIndex.all(), NDArrayIndex.interval(0, rows), NDArrayIndex.all());
    }

    private static INDArray firstRows(INDArray buffer, long rows) {
        return firstRowsView(buffer, rows).dup('c');
    }
}
