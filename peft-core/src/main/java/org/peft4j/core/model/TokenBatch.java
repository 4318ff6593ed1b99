package org.peft4j.core.model;

import java.util.Arrays;
import java.util.List;
import org.peft4j.core.tokenizer.Encoding;

/**
 * A batch of token sequences of equal length, flattened row-major: {@code ids[b·seqLen + t]}.
 *
 * @param batch         number of sequences
 * @param seqLen        tokens per sequence
 * @param ids           token ids {@code [batch·seqLen]}
 * @param attentionMask 1 for real tokens, 0 for padding, {@code [batch·seqLen]}; null if nothing is padded
 * @param labels        targets aligned with the ids (a causal LM shifts them itself, as HF does), -100 =
 *                      ignored; for sequence classification {@code [batch]}; null for inference
 * @param typeIds       segment ids aligned with the ids (BERT's {@code token_type_ids}), {@code [batch·seqLen]},
 *                      each ≥ 0; null means all 0 (one segment), as HF does when none are given
 */
public record TokenBatch(int batch, int seqLen, int[] ids, int[] attentionMask, int[] labels, int[] typeIds) {
    /** The label HF uses for positions that count no loss. */
    public static final int IGNORE_INDEX = -100;

    public TokenBatch {
        if (batch <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("a batch needs at least one sequence of at least one token, got " + batch + " x " + seqLen);
        }
        if (ids == null || ids.length != batch * seqLen) {
            throw new IllegalArgumentException("ids must hold batch*seqLen = " + batch * seqLen + " tokens, got "
                    + (ids == null ? "null" : ids.length));
        }
        if (attentionMask != null && attentionMask.length != ids.length) {
            throw new IllegalArgumentException("attention mask must hold " + ids.length + " entries, got " + attentionMask.length);
        }
        if (attentionMask != null) {
            for (int m : attentionMask) {
                if (m != 0 && m != 1) {
                    throw new IllegalArgumentException("attention mask entries must be 0 or 1, got " + m);
                }
            }
        }
        if (typeIds != null) {
            if (typeIds.length != ids.length) {
                throw new IllegalArgumentException("token type ids must hold " + ids.length + " entries (one per token), got " + typeIds.length);
            }
            for (int i = 0; i < typeIds.length; i++) {
                if (typeIds[i] < 0) {
                    throw new IllegalArgumentException("token type ids must be >= 0, got " + typeIds[i] + " at position " + i);
                }
            }
        }
    }

    /** A batch with one segment (no token type ids), the form every decoder uses. */
    public TokenBatch(int batch, int seqLen, int[] ids, int[] attentionMask, int[] labels) {
        this(batch, seqLen, ids, attentionMask, labels, null);
    }

    /** This batch with the given token type ids {@code [batch·seqLen]} (null: all 0). */
    public TokenBatch withTypeIds(int[] newTypeIds) {
        return new TokenBatch(batch, seqLen, ids, attentionMask, labels, newTypeIds);
    }

    /** A batch of one causal-LM example per row whose labels are its ids. */
    public static TokenBatch causalLm(int[][] sequences) {
        int batch = sequences.length;
        int seqLen = sequences[0].length;
        int[] ids = new int[batch * seqLen];
        for (int b = 0; b < batch; b++) {
            if (sequences[b].length != seqLen) {
                throw new IllegalArgumentException("all sequences must have length " + seqLen + ", sequence " + b + " has "
                        + sequences[b].length);
            }
            System.arraycopy(sequences[b], 0, ids, b * seqLen, seqLen);
        }
        return new TokenBatch(batch, seqLen, ids, null, ids.clone());
    }

    /**
     * The encodings as one batch, right-padded with {@code padId} to the longest: the attention mask marks
     * the real tokens and the type ids come from the encodings (padding gets type 0). No labels.
     */
    public static TokenBatch fromEncodings(List<Encoding> encodings, int padId) {
        if (encodings == null || encodings.isEmpty()) {
            throw new IllegalArgumentException("a batch needs at least one encoding");
        }
        int seqLen = encodings.stream().mapToInt(Encoding::length).max().orElse(0);
        int batch = encodings.size();
        int[] ids = new int[batch * seqLen];
        int[] mask = new int[batch * seqLen];
        int[] types = new int[batch * seqLen];
        Arrays.fill(ids, padId);
        for (int b = 0; b < batch; b++) {
            Encoding e = encodings.get(b);
            System.arraycopy(e.ids(), 0, ids, b * seqLen, e.length());
            System.arraycopy(e.attentionMask(), 0, mask, b * seqLen, e.length());
            System.arraycopy(e.typeIds(), 0, types, b * seqLen, e.length());
        }
        return new TokenBatch(batch, seqLen, ids, mask, null, types);
    }

    /** Number of real (non-padding) tokens. */
    public long realTokens() {
        return attentionMask == null ? ids.length : Arrays.stream(attentionMask).filter(m -> m == 1).count();
    }
}
