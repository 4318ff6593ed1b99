package org.peft4j.core.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Byte-level tokenization: the token ids of a text are its UTF-8 bytes, 0..255, so the vocabulary has
 * 256 entries and every text (any language, any script) can be encoded without unknown tokens.
 */
public final class ByteTokenizer implements Tokenizer {
    /** Number of distinct token ids: one per byte value. */
    public static final int VOCAB_SIZE = 256;
    /** The token id of the newline byte, used to separate lines in a token stream. */
    public static final int NEWLINE = '\n';

    /** The vocabulary size, {@value #VOCAB_SIZE}. */
    @Override
    public int vocabSize() {
        return VOCAB_SIZE;
    }

    /** The UTF-8 bytes of {@code text} as token ids in 0..255. */
    public int[] encode(String text) {
        if (text == null) {
            throw new IllegalArgumentException("text to encode must not be null");
        }
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = bytes[i] & 0xFF;
        }
        return ids;
    }

    /** The bytes of {@code text}, cut to {@code maxLength}; there are no special tokens. */
    @Override
    public Encoding encode(String text, int maxLength) {
        if (maxLength <= 0) {
            throw new IllegalArgumentException("max length must be > 0, got " + maxLength);
        }
        int[] all = encode(text);
        int[] ids = all.length <= maxLength ? all : Arrays.copyOf(all, maxLength);
        int[] ones = new int[ids.length];
        Arrays.fill(ones, 1);
        return new Encoding(ids, new int[ids.length], ones);
    }

    /** Byte 0 (NUL) pads; padded positions are masked out, so the value never matters. */
    @Override
    public int padId() {
        return 0;
    }

    /**
     * The text whose UTF-8 bytes are {@code ids}; byte sequences that are not valid UTF-8 (a character cut
     * in half, say) become U+FFFD, as Java's decoder replaces them.
     */
    @Override
    public String decode(int[] ids) {
        if (ids == null) {
            throw new IllegalArgumentException("token ids to decode must not be null");
        }
        byte[] bytes = new byte[ids.length];
        for (int i = 0; i < ids.length; i++) {
            int id = ids[i];
            if (id < 0 || id >= VOCAB_SIZE) {
                throw new IllegalArgumentException("token id at position " + i + " is " + id + "; byte-level ids must be in [0, "
                        + (VOCAB_SIZE - 1) + "]");
            }
            bytes[i] = (byte) id;
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
