package org.peft4j.core.data;

import java.util.Locale;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.tokenizer.Tokenizer;
import org.peft4j.core.train.BatchSource;

/**
 * Sequence-classification batches: each text is encoded once, when the source is built, cut to {@code maxLength}
 * tokens; a batch right-pads its rows with the tokenizer's pad id to its longest row and carries the attention mask
 * (1 for real tokens; null when no row is padded, as {@link TokenBatch} allows) and the label indices {@code [batch]}.
 *
 * <p>{@link #training} visits the examples in a new seeded permutation each epoch, the same for the same (seed,
 * epoch), so a run is reproducible and can resume anywhere; {@link #evaluation} visits them in data order on every
 * epoch. In both, the last batch holds the remainder when the examples do not divide into full batches.
 */
public final class ClassificationBatches implements BatchSource<TokenBatch> {
    private final EncodedSequences sequences;
    private final int[] labels;
    private final LabelSet labelSet;

    private ClassificationBatches(ClassificationData data, Tokenizer tokenizer, int maxLength, int batchSize, boolean shuffled, long seed) {
        if (data == null) {
            throw new IllegalArgumentException("classification data must not be null");
        }
        this.sequences = new EncodedSequences(data.texts(), tokenizer, maxLength, batchSize, shuffled, seed);
        this.labels = data.labels();
        this.labelSet = data.labelSet();
    }

    /** Training batches, shuffled per epoch with a permutation seeded by ({@code seed}, epoch). */
    public static ClassificationBatches training(ClassificationData data, Tokenizer tokenizer, int maxLength, int batchSize, long seed) {
        return new ClassificationBatches(data, tokenizer, maxLength, batchSize, true, seed);
    }

    /** Evaluation batches in data order, the same on every epoch. */
    public static ClassificationBatches evaluation(ClassificationData data, Tokenizer tokenizer, int maxLength, int batchSize) {
        return new ClassificationBatches(data, tokenizer, maxLength, batchSize, false, 0L);
    }

    @Override
    public int batchesPerEpoch() {
        return sequences.batchesPerEpoch();
    }

    @Override
    public TokenBatch batch(int epoch, int index) {
        int[] rows = sequences.rows(epoch, index);
        EncodedSequences.Padded padded = sequences.pad(rows);
        int[] batchLabels = new int[rows.length];                 // [batch]
        for (int r = 0; r < rows.length; r++) {
            batchLabels[r] = labels[rows[r]];
        }
        return new TokenBatch(padded.rows(), padded.seqLen(), padded.ids(), padded.anyPadding() ? padded.attentionMask() : null,
                batchLabels);
    }

    /** The example indices that epoch {@code epoch} visits, in order (a copy). */
    public int[] order(int epoch) {
        return sequences.order(epoch);
    }

    /** The labels and their order. */
    public LabelSet labelSet() {
        return labelSet;
    }

    /** Number of labels, the classifier's {@code num_labels}. */
    public int numLabels() {
        return labelSet.size();
    }

    /** Number of examples. */
    public int size() {
        return sequences.size();
    }

    /** Rows of a full batch. */
    public int batchSize() {
        return sequences.batchSize();
    }

    /** The most tokens a row keeps. */
    public int maxLength() {
        return sequences.maxLength();
    }

    /** True for training batches (shuffled per epoch), false for evaluation batches. */
    public boolean isShuffled() {
        return sequences.shuffled();
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "ClassificationBatches(%s, %d examples, %d labels, %d batches of %d, max %d tokens)",
                isShuffled() ? "training" : "evaluation", size(), numLabels(), batchesPerEpoch(), batchSize(), maxLength());
    }
}
