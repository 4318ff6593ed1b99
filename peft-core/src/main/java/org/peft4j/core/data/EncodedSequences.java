package org.peft4j.core.data;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.peft4j.core.tokenizer.Encoding;
import org.peft4j.core.tokenizer.Tokenizer;

/**
 * Texts encoded once, and the order in which batches take them: a seeded permutation per epoch for training, file
 * order for evaluation. Shared by {@link ClassificationBatches} and {@link CausalLmBatches}.
 */
final class EncodedSequences {
    private final int[][] ids;          // ids[i]: the tokens of example i, truncated to maxLength
    private final int maxLength;
    private final int batchSize;
    private final int padId;
    private final boolean shuffled;
    private final long seed;
    /** The order of the epoch asked for last; an immutable snapshot, so threads can share it. */
    private volatile EpochOrder lastOrder;

    private record EpochOrder(int epoch, int[] order) {
    }

    /** Rows of one padded batch. */
    record Padded(int rows, int seqLen, int[] ids, int[] attentionMask, boolean anyPadding) {
    }

    EncodedSequences(List<String> texts, Tokenizer tokenizer, int maxLength, int batchSize, boolean shuffled, long seed) {
        if (texts == null || texts.isEmpty()) {
            throw new IllegalArgumentException("batches need at least one text");
        }
        if (tokenizer == null) {
            throw new IllegalArgumentException("tokenizer must not be null");
        }
        if (maxLength <= 0) {
            throw new IllegalArgumentException("max length must be > 0 tokens, got " + maxLength);
        }
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be > 0, got " + batchSize);
        }
        this.maxLength = maxLength;
        this.batchSize = batchSize;
        this.padId = tokenizer.padId();
        this.shuffled = shuffled;
        this.seed = seed;
        int vocab = tokenizer.vocabSize();
        this.ids = new int[texts.size()][];
        for (int i = 0; i < texts.size(); i++) {
            Encoding encoding = tokenizer.encode(texts.get(i), maxLength);
            int[] tokens = encoding.ids();
            if (tokens.length == 0) {
                throw new IllegalArgumentException("example " + i + " encodes to no tokens; every example needs at least one (text: '"
                        + abbreviate(texts.get(i)) + "')");
            }
            if (tokens.length > maxLength) {   // a tokenizer that ignores the limit is cut here
                tokens = Arrays.copyOf(tokens, maxLength);
            }
            for (int token : tokens) {
                if (token < 0 || token >= vocab) {
                    throw new IllegalArgumentException("example " + i + " encodes to token id " + token + ", outside the vocabulary [0, "
                            + vocab + ")");
                }
            }
            ids[i] = tokens;
        }
    }

    int size() {
        return ids.length;
    }

    int maxLength() {
        return maxLength;
    }

    int batchSize() {
        return batchSize;
    }

    boolean shuffled() {
        return shuffled;
    }

    /** Full batches plus one partial batch if the examples do not divide evenly. */
    int batchesPerEpoch() {
        return (ids.length + batchSize - 1) / batchSize;
    }

    /** The number of tokens of example {@code i} after truncation. */
    int length(int i) {
        return ids[i].length;
    }

    /** The tokens of example {@code i} (a copy). */
    int[] tokens(int i) {
        return ids[i].clone();
    }

    /** The order in which epoch {@code epoch} visits the examples: a seeded permutation, or 0..n-1 without shuffling. */
    int[] order(int epoch) {
        if (epoch < 0) {
            throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        }
        return orderOf(epoch).clone();
    }

    /** The example indices of batch {@code index} of epoch {@code epoch}. */
    int[] rows(int epoch, int index) {
        if (epoch < 0) {
            throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        }
        if (index < 0 || index >= batchesPerEpoch()) {
            throw new IllegalArgumentException("batch index must be in [0, " + batchesPerEpoch() + "), got " + index);
        }
        int[] order = orderOf(epoch);
        int from = index * batchSize;
        return Arrays.copyOfRange(order, from, Math.min(order.length, from + batchSize));
    }

    /** The examples {@code rows}, right-padded with the pad id to the longest of them. */
    Padded pad(int[] rows) {
        int seqLen = 0;
        for (int row : rows) {
            seqLen = Math.max(seqLen, ids[row].length);
        }
        int[] batchIds = new int[rows.length * seqLen];           // [rows·seqLen]
        int[] mask = new int[rows.length * seqLen];               // [rows·seqLen]
        Arrays.fill(batchIds, padId);
        boolean anyPadding = false;
        for (int r = 0; r < rows.length; r++) {
            int[] tokens = ids[rows[r]];
            System.arraycopy(tokens, 0, batchIds, r * seqLen, tokens.length);
            Arrays.fill(mask, r * seqLen, r * seqLen + tokens.length, 1);
            anyPadding |= tokens.length < seqLen;
        }
        return new Padded(rows.length, seqLen, batchIds, mask, anyPadding);
    }

    private int[] orderOf(int epoch) {
        if (!shuffled) {
            EpochOrder identity = lastOrder;
            if (identity == null) {
                int[] order = new int[ids.length];
                Arrays.setAll(order, i -> i);
                identity = new EpochOrder(0, order);
                lastOrder = identity;
            }
            return identity.order();                             // evaluation: every epoch is the same
        }
        EpochOrder cached = lastOrder;
        if (cached != null && cached.epoch() == epoch) {
            return cached.order();
        }
        int[] order = permutation(ids.length, epochSeed(seed, epoch));
        lastOrder = new EpochOrder(epoch, order);
        return order;
    }

    /** A uniformly random permutation of 0..n-1 (Fisher–Yates) drawn from a generator seeded with {@code seed}. */
    static int[] permutation(int n, long seed) {
        int[] order = new int[n];
        Arrays.setAll(order, i -> i);
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }

    /** A seed that differs for every (seed, epoch); SplittableRandom mixes it further. */
    private static long epochSeed(long seed, int epoch) {
        return seed * 0x9E3779B97F4A7C15L + epoch;
    }

    private static String abbreviate(String text) {
        return text.length() <= 60 ? text : text.substring(0, 60) + "...";
    }
}
