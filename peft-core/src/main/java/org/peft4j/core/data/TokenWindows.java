package org.peft4j.core.data;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.train.BatchSource;

/**
 * Causal-LM batches cut from one token stream: each batch holds {@code batchSize} windows of
 * {@code seqLen} consecutive tokens, with labels equal to the ids (the loss shifts them, as HF does).
 *
 * <p>Two kinds: {@link #random} draws each window's start uniformly, from a {@link SplittableRandom}
 * seeded by (seed, epoch, index), so any batch can be recomputed from its position and a run can resume
 * anywhere; {@link #evaluation} takes consecutive, non-overlapping windows from the start of the stream,
 * the same on every call (a tail shorter than one window is left out).
 */
public final class TokenWindows implements BatchSource<TokenBatch> {
    private final int[] tokens;
    private final int batchSize;
    private final int seqLen;
    private final int batchesPerEpoch;
    private final long seed;
    private final boolean sequential;

    private TokenWindows(int[] tokens, int batchSize, int seqLen, int batchesPerEpoch, long seed, boolean sequential) {
        this.tokens = tokens;
        this.batchSize = batchSize;
        this.seqLen = seqLen;
        this.batchesPerEpoch = batchesPerEpoch;
        this.seed = seed;
        this.sequential = sequential;
    }

    /**
     * Batches of windows at random starts; {@code batchesPerEpoch} is the caller's choice (one pass's worth is
     * {@link #batchesCovering}). The stream is copied.
     */
    public static TokenWindows random(int[] tokens, int batchSize, int seqLen, int batchesPerEpoch, long seed) {
        checkShape(tokens, batchSize, seqLen);
        if (batchesPerEpoch <= 0) {
            throw new IllegalArgumentException("batches per epoch must be > 0, got " + batchesPerEpoch);
        }
        return new TokenWindows(tokens.clone(), batchSize, seqLen, batchesPerEpoch, seed, false);
    }

    /** Consecutive non-overlapping windows covering the stream from its start (the tail shorter than {@code seqLen} is left out). */
    public static TokenWindows evaluation(int[] tokens, int batchSize, int seqLen) {
        return evaluation(tokens, batchSize, seqLen, Integer.MAX_VALUE);
    }

    /** Like {@link #evaluation(int[], int, int)}, but at most the first {@code maxBatches} batches. */
    public static TokenWindows evaluation(int[] tokens, int batchSize, int seqLen, int maxBatches) {
        checkShape(tokens, batchSize, seqLen);
        if (maxBatches <= 0) {
            throw new IllegalArgumentException("max evaluation batches must be > 0, got " + maxBatches);
        }
        int windows = tokens.length / seqLen;
        int batches = (int) Math.min(maxBatches, ((long) windows + batchSize - 1) / batchSize);
        return new TokenWindows(tokens.clone(), batchSize, seqLen, batches, 0L, true);
    }

    /** Batches of {@code batchSize · seqLen} tokens needed to see about every token of a stream once (at least 1). */
    public static int batchesCovering(int streamLength, int batchSize, int seqLen) {
        long perBatch = (long) batchSize * seqLen;
        return (int) Math.max(1, streamLength / perBatch);
    }

    @Override
    public int batchesPerEpoch() {
        return batchesPerEpoch;
    }

    /** Windows per full batch. */
    public int batchSize() {
        return batchSize;
    }

    /** Tokens per window. */
    public int seqLen() {
        return seqLen;
    }

    /** Length of the token stream. */
    public int streamLength() {
        return tokens.length;
    }

    /** True for the consecutive evaluation windows, false for random ones. */
    public boolean isSequential() {
        return sequential;
    }

    /**
     * Where in the stream each window of batch {@code index} of epoch {@code epoch} starts, one entry per
     * row. The last evaluation batch may have fewer rows than {@link #batchSize()}.
     */
    public int[] windowStarts(int epoch, int index) {
        if (epoch < 0) {
            throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        }
        if (index < 0 || index >= batchesPerEpoch) {
            throw new IllegalArgumentException("batch index must be in [0, " + batchesPerEpoch + "), got " + index);
        }
        if (sequential) {
            int windows = tokens.length / seqLen;
            int first = index * batchSize;                     // evaluation ignores the epoch: every pass is the same
            int rows = Math.min(batchSize, windows - first);
            int[] starts = new int[rows];
            for (int r = 0; r < rows; r++) {
                starts[r] = (first + r) * seqLen;
            }
            return starts;
        }
        SplittableRandom random = new SplittableRandom(batchSeed(seed, epoch, index));
        int lastStart = tokens.length - seqLen;                // inclusive: the window [lastStart, length) fits
        int[] starts = new int[batchSize];
        for (int r = 0; r < batchSize; r++) {
            starts[r] = random.nextInt(lastStart + 1);
        }
        return starts;
    }

    @Override
    public TokenBatch batch(int epoch, int index) {
        int[] starts = windowStarts(epoch, index);
        int[] ids = new int[starts.length * seqLen];           // [rows·seqLen]
        for (int r = 0; r < starts.length; r++) {
            System.arraycopy(tokens, starts[r], ids, r * seqLen, seqLen);
        }
        return new TokenBatch(starts.length, seqLen, ids, null, ids.clone());
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "TokenWindows(%s, %d tokens, %d batches of %d x %d)", sequential ? "evaluation" : "random",
                tokens.length, batchesPerEpoch, batchSize, seqLen);
    }

    /** A seed that differs for every (seed, epoch, index); SplittableRandom mixes it further. */
    private static long batchSeed(long seed, int epoch, int index) {
        long s = seed * 0x9E3779B97F4A7C15L + epoch;
        return s * 0xBF58476D1CE4E5B9L + index;
    }

    private static void checkShape(int[] tokens, int batchSize, int seqLen) {
        if (tokens == null) {
            throw new IllegalArgumentException("token stream must not be null");
        }
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be > 0, got " + batchSize);
        }
        if (seqLen <= 0) {
            throw new IllegalArgumentException("sequence length must be > 0, got " + seqLen);
        }
        if (tokens.length < seqLen + 1) {
            throw new IllegalArgumentException("token stream has " + tokens.length + " tokens, fewer than sequence length + 1 = "
                    + (seqLen + 1) + "; use more text or a shorter sequence length");
        }
        if (Arrays.stream(tokens).anyMatch(t -> t < 0)) {
            throw new IllegalArgumentException("token ids must be >= 0; the stream holds a negative id");
        }
    }
}
