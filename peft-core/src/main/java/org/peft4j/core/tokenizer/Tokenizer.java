package org.peft4j.core.tokenizer;

/**
 * Turns text into token ids and back. Implementations: byte-level ({@code ByteTokenizer}) and HF
 * {@code tokenizer.json} files through DJL ({@code HfTokenizer}).
 */
public interface Tokenizer extends AutoCloseable {
    /** Number of token ids. */
    int vocabSize();

    /**
     * Encodes one text, with the special tokens the tokenizer adds (e.g. BERT's [CLS] … [SEP]), cut to at
     * most {@code maxLength} tokens (keeping the final special token where the tokenizer has one).
     */
    Encoding encode(String text, int maxLength);

    /** The text of {@code ids}, special tokens skipped. */
    String decode(int[] ids);

    /** The id used to pad sequences to a common length. */
    int padId();

    /**
     * Fails unless every id this tokenizer produces has a row in the embedding of a model {@code model}
     * whose vocabulary has {@code modelVocabSize} ids: a larger tokenizer belongs to another model. A
     * smaller one is fine (models often pad their vocabulary). Sizes ≤ 0 mean unknown and pass.
     */
    default void requireFits(int modelVocabSize, String model) {
        if (modelVocabSize > 0 && vocabSize() > modelVocabSize) {
            throw new IllegalArgumentException("the tokenizer has " + vocabSize() + " tokens but " + model + " has a vocabulary of "
                    + modelVocabSize + " (vocab_size in config.json): the tokenizer belongs to another model; give the model's own "
                    + "tokenizer.json (--tokenizer FILE)");
        }
    }

    /** Releases native resources, if the tokenizer holds any. */
    @Override
    default void close() {
    }
}
