package org.peft4j.core.data;

import java.util.List;
import java.util.Locale;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.tokenizer.Tokenizer;
import org.peft4j.core.train.BatchSource;

/**
 * Causal-LM batches of whole texts, one text per row: each text is encoded once, when the source is built, cut to
 * {@code maxLength} tokens; a batch right-pads its rows with the tokenizer's pad id to its longest row, carries the
 * attention mask (null when no row is padded) and labels equal to the ids with padding positions set to
 * {@link TokenBatch#IGNORE_INDEX}, which the loss shifts itself, as HF does.
 *
 * <p>{@link #training} visits the texts in a new seeded permutation each epoch; {@link #evaluation} in data order on
 * every epoch. The last batch holds the remainder. For a long corpus cut into fixed windows instead, see
 * {@link TokenWindows}.
 */
public final class CausalLmBatches implements BatchSource<TokenBatch> {
    private final EncodedSequences sequences;

    private CausalLmBatches(List<String> texts, Tokenizer tokenizer, int maxLength, int batchSize, boolean shuffled, long seed) {
        this.sequences = new EncodedSequences(texts, tokenizer, maxLength, batchSize, shuffled, seed);
    }

    /** Training batches, shuffled per epoch with a permutation seeded by ({@code seed}, epoch). */
    public static CausalLmBatches training(List<String> texts, Tokenizer tokenizer, int maxLength, int batchSize, long seed) {
        return new CausalLmBatches(texts, tokenizer, maxLength, batchSize, true, seed);
    }

    /** Evaluation batches in data order, the same on every epoch. */
    public static CausalLmBatches evaluation(List<String> texts, Tokenizer tokenizer, int maxLength, int batchSize) {
        return new CausalLmBatches(texts, tokenizer, maxLength, batchSize, false, 0L);
    }

    @Override
    public int batchesPerEpoch() {
        return sequences.batchesPerEpoch();
    }

    @Override
    public TokenBatch batch(int epoch, int index) {
        EncodedSequences.Padded padded = sequences.pad(sequences.rows(epoch, index));
        int[] ids = padded.ids();
        int[] mask = padded.attentionMask();
        int[] labels = new int[ids.length];                       // [batch·seqLen]
        for (int i = 0; i < ids.length; i++) {
            labels[i] = mask[i] == 1 ? ids[i] : TokenBatch.IGNORE_INDEX;
        }
        return new TokenBatch(padded.rows(), padded.seqLen(), ids, padded.anyPadding() ? mask : null, labels);
    }

    /** The text indices that epoch {@code epoch} visits, in order (a copy). */
    public int[] order(int epoch) {
        return sequences.order(epoch);
    }

    /** Number of texts. */
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
        return String.format(Locale.ROOT, "CausalLmBatches(%s, %d texts, %d batches of %d, max %d tokens)",
                isShuffled() ? "training" : "evaluation", size(), batchesPerEpoch(), batchSize(), maxLength());
    }
}
