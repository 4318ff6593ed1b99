package org.peft4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.peft4j.core.model.Builtins;
import org.peft4j.core.model.TokenBatch;

/** all-MiniLM-L6-v2's uncased WordPiece tokenizer.json through DJL: ids as bert-base-uncased gives them, truncation, padding. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HfTokenizerTest {
    private HfTokenizer tokenizer;

    @BeforeAll
    void open() throws Exception {
        tokenizer = HfTokenizer.open(Builtins.resolve(Builtins.ALL_MINILM_L6_V2, Path.of("target", "peft4j-builtins")).tokenizerFile());
    }

    @AfterAll
    void close() {
        tokenizer.close();
    }

    @Test
    void encodesWithSpecialTokensAndDecodes() {
        Encoding e = tokenizer.encode("Hello, World!", 128);
        assertArrayEquals(new int[] {101, 7592, 1010, 2088, 999, 102}, e.ids(), "[CLS] hello , world ! [SEP], lower-cased");
        assertArrayEquals(new int[6], e.typeIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1}, e.attentionMask());
        assertEquals("hello, world!", tokenizer.decode(e.ids()));
        assertEquals(0, tokenizer.padId(), "[PAD]");
        assertEquals(30522, tokenizer.vocabSize());
        assertTrue(tokenizer.encode("unbelievably tokenizable", 128).length() > 4, "word pieces");
    }

    @Test
    void truncationKeepsTheFinalSeparator() {
        String text = "one two three four five six seven eight nine ten";
        Encoding full = tokenizer.encode(text, 512);
        assertEquals(12, full.length());
        Encoding cut = tokenizer.encode(text, 6);
        int[] expected = Arrays.copyOf(full.ids(), 6);
        expected[5] = 102;
        assertArrayEquals(expected, cut.ids(), "[CLS] one two three four [SEP]");
        assertEquals(6, cut.typeIds().length);
        assertEquals("one two three four", tokenizer.decode(cut.ids()));
        assertEquals(2, tokenizer.encode(text, 2).length());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tokenizer.encode(text, 1));
        assertTrue(e.getMessage().contains("at least 2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> tokenizer.encode(text, 0));
        assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[] {30522}));
    }

    @Test
    void encodingsBecomeARightPaddedBatch() {
        List<Encoding> encodings = List.of(tokenizer.encode("A short one.", 64), tokenizer.encode("Hi", 64));
        TokenBatch batch = TokenBatch.fromEncodings(encodings, tokenizer.padId());
        assertEquals(2, batch.batch());
        assertEquals(encodings.get(0).length(), batch.seqLen());
        int t = batch.seqLen();
        assertArrayEquals(new int[] {101, 7632, 102, 0, 0, 0}, Arrays.copyOfRange(batch.ids(), t, 2 * t));
        assertArrayEquals(new int[] {1, 1, 1, 0, 0, 0}, Arrays.copyOfRange(batch.attentionMask(), t, 2 * t));
        assertEquals(9, batch.realTokens());
    }

    @Test
    void aFileThatIsNotATokenizerIsRejected(@TempDir Path dir) throws Exception {
        Path bad = Files.writeString(dir.resolve("tokenizer.json"), "{\"version\": \"1.0\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.open(dir));
        assertTrue(e.getMessage().contains(bad.toString()) && e.getMessage().contains("\"model\""), e.getMessage());
        assertThrows(java.nio.file.NoSuchFileException.class, () -> HfTokenizer.open(dir.resolve("absent.json")));
    }
}
