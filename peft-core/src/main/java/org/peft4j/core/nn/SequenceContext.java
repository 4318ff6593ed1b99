package org.peft4j.core.nn;

import java.util.Arrays;

/**
 * The geometry of one forward pass: batch size, the length of the hidden sequence, the positions
 * that precede it (past keys/values, then a generation cache) and which key positions each sequence may
 * attend to. A model creates it from its input and sets its cache, if any; hooks change it (a prompt
 * method prepends virtual tokens, a prefix method adds past keys/values) before the transformer blocks run.
 * Attention sees its keys in the order past keys/values, cached positions, this pass's positions.
 */
public final class SequenceContext {
    private final int batch;
    private int seqLen;
    private PastKeyValues past;
    private KeyValueCache cache;
    private int cacheLength;
    /** [batch][pastLength + seqLen] flattened; 1 = visible key, 0 = padding. Null: every key is visible. */
    private int[] keyMask;
    /** Tokens per sequence in the model's input (before any hook). */
    private final int inputLength;
    /** [batch][inputLength] flattened: the row of each input token within its sequence. Null: the last inputLength rows. */
    private int[] inputRows;

    /**
     * @param batch   number of sequences
     * @param seqLen  tokens per sequence
     * @param padMask {@code [batch · seqLen]} with 1 for real tokens and 0 for padding, or null if none is padded
     */
    public SequenceContext(int batch, int seqLen, int[] padMask) {
        if (batch <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("batch and sequence length must be > 0, got " + batch + " x " + seqLen);
        }
        if (padMask != null && padMask.length != batch * seqLen) {
            throw new IllegalArgumentException("attention mask must have batch*seqLen = " + batch * seqLen + " entries, got " + padMask.length);
        }
        this.batch = batch;
        this.seqLen = seqLen;
        this.inputLength = seqLen;
        this.keyMask = padMask == null ? null : padMask.clone();
    }

    /** Tokens per sequence in the model's input, before hooks inserted rows. */
    public int inputLength() {
        return inputLength;
    }

    /**
     * The row within its sequence of every input token, {@code [batch · inputLength]}: the last inputLength rows
     * (after rows prepended by hooks) unless a hook placed rows among them ({@link #insertRows}). A new array.
     */
    public int[] inputRows() {
        if (inputRows != null) {
            return inputRows.clone();
        }
        int[] rows = new int[batch * inputLength];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < inputLength; t++) {
                rows[b * inputLength + t] = seqLen - inputLength + t;
            }
        }
        return rows;
    }

    public int batch() {
        return batch;
    }

    /** Rows per sequence in the hidden states. */
    public int seqLen() {
        return seqLen;
    }

    /** Number of rows of the hidden states: batch · seqLen. */
    public int rows() {
        return batch * seqLen;
    }

    /** Key positions before the sequence: past keys/values plus cached positions (0 without either). */
    public int pastLength() {
        return (past == null ? 0 : past.length()) + cacheLength;
    }

    /** Key positions each query can see at most: past + sequence. */
    public int keyLength() {
        return pastLength() + seqLen;
    }

    /** The past keys/values, or null. */
    public PastKeyValues past() {
        return past;
    }

    /** The generation cache attention reads from and appends to, or null. */
    public KeyValueCache cache() {
        return cache;
    }

    /** The key mask {@code [batch · keyLength]} (1 = visible), or null if every key is visible. */
    public int[] keyMask() {
        return keyMask;
    }

    /** Inserts {@code count} always-visible positions at the start of every sequence (virtual tokens). */
    public void prependTokens(int count) {
        if (count <= 0) {
            throw new IllegalArgumentException("number of prepended tokens must be > 0, got " + count);
        }
        if (keyMask != null) {
            keyMask = insertVisible(keyMask, keyLength(), pastLength(), count);
        }
        seqLen += count;
        if (inputRows != null) {
            for (int i = 0; i < inputRows.length; i++) {
                inputRows[i] += count;
            }
        }
    }

    /**
     * Places always-visible positions among the rows of every sequence (virtual tokens between real tokens):
     * row s of sequence b moves to row {@code newRows[b·seqLen + s]} of a sequence of {@code newSeqLen} rows,
     * keeping its mask entry; the rows no old row takes are the inserted ones (mask 1). The rows of one sequence
     * must go to distinct places in [0, newSeqLen). Positions stay consecutive over the new rows.
     */
    public void insertRows(int newSeqLen, int[] newRows) {
        if (newSeqLen <= seqLen || newRows.length != batch * seqLen) {
            throw new IllegalArgumentException("inserting rows needs a longer sequence than " + seqLen + " and one new place per row ("
                    + batch * seqLen + "), got length " + newSeqLen + " and " + newRows.length + " places");
        }
        for (int b = 0; b < batch; b++) {
            boolean[] taken = new boolean[newSeqLen];
            for (int s = 0; s < seqLen; s++) {
                int r = newRows[b * seqLen + s];
                if (r < 0 || r >= newSeqLen || taken[r]) {
                    throw new IllegalArgumentException("row " + s + " of sequence " + b + " moves to " + r
                            + ", which is outside [0, " + newSeqLen + ") or taken by another row");
                }
                taken[r] = true;
            }
        }
        int past = pastLength();
        if (keyMask != null) {
            int oldKeyLen = keyLength();
            int newKeyLen = past + newSeqLen;
            int[] out = new int[batch * newKeyLen];
            Arrays.fill(out, 1);
            for (int b = 0; b < batch; b++) {
                System.arraycopy(keyMask, b * oldKeyLen, out, b * newKeyLen, past);
                for (int s = 0; s < seqLen; s++) {
                    out[b * newKeyLen + past + newRows[b * seqLen + s]] = keyMask[b * oldKeyLen + past + s];
                }
            }
            keyMask = out;
        }
        int[] oldInputRows = inputRows();
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < inputLength; t++) {
                oldInputRows[b * inputLength + t] = newRows[b * seqLen + oldInputRows[b * inputLength + t]];
            }
        }
        inputRows = oldInputRows;
        seqLen = newSeqLen;
    }

    /**
     * Makes attention read the cached positions before this pass's own and append its keys and values to
     * {@code cache}; the cached positions keep the visibility the cache recorded. Set it before any past
     * keys/values, which then precede the cached positions.
     */
    public void setCache(KeyValueCache newCache) {
        if (cache != null || past != null) {
            throw new IllegalStateException("the cache must be set once, before past keys/values: cache "
                    + (cache != null ? "already set" : "not set") + ", past " + (past != null ? "set" : "not set"));
        }
        int length = newCache.length();
        if (length > 0 && newCache.batch() != batch) {
            throw new IllegalArgumentException("the cache holds " + newCache.batch() + " sequences, this pass has " + batch);
        }
        int[] cached = newCache.keyMask();
        if (length > 0 && (keyMask != null || cached != null)) {
            int oldKeyLen = keyLength();
            keyMask = insertVisible(keyMask != null ? keyMask : ones(batch * oldKeyLen), oldKeyLen, 0, length);
            if (cached != null) {
                for (int b = 0; b < batch; b++) {
                    System.arraycopy(cached, b * length, keyMask, b * (oldKeyLen + length), length);
                }
            }
        }
        this.cache = newCache;
        this.cacheLength = length;
    }

    private static int[] ones(int n) {
        int[] out = new int[n];
        Arrays.fill(out, 1);
        return out;
    }

    /** Sets past keys/values that precede every sequence; their positions are always visible. */
    public void setPast(PastKeyValues newPast) {
        if (past != null) {
            throw new IllegalStateException("past keys/values are already set for this pass (length " + past.length() + ")");
        }
        if (newPast.length() > 0 && keyMask != null) {
            keyMask = insertVisible(keyMask, keyLength(), 0, newPast.length());
        }
        this.past = newPast;
    }

    private int[] insertVisible(int[] mask, int oldKeyLen, int at, int count) {
        int newKeyLen = oldKeyLen + count;
        int[] out = new int[batch * newKeyLen];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(mask, b * oldKeyLen, out, b * newKeyLen, at);
            Arrays.fill(out, b * newKeyLen + at, b * newKeyLen + at + count, 1);
            System.arraycopy(mask, b * oldKeyLen + at, out, b * newKeyLen + at + count, oldKeyLen - at);
        }
        return out;
    }
}
