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

    /** Releases native resources, if the tokenizer holds any. */
    @Override
    default void close() {
    }
}
