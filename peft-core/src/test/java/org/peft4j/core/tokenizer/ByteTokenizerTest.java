package org.peft4j.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ByteTokenizerTest {
    private final ByteTokenizer tokenizer = new ByteTokenizer();

    @Test
    void roundTripsMultilingualText() {
        List<String> texts = List.of("Resumption of the session", "Wiederaufnahme der Sitzungsperiode: Größe, Maß",
                "Reprise de la session — « élève »", "Επανάληψη της συνόδου", "Istunnon uudelleenavaaminen ää öö",
                "Återupptagande av sessionen", "Reanudación del período de sesiones ñ", "日本語のテキスト", "emoji 🙂 and tabs\tand\nnewlines", "");
        for (String text : texts) {
            int[] ids = tokenizer.encode(text);
            for (int id : ids) {
                assertTrue(id >= 0 && id < ByteTokenizer.VOCAB_SIZE, "id " + id + " out of range for " + text);
            }
            assertEquals(text, tokenizer.decode(ids));
        }
    }

    @Test
    void idsAreTheUtf8Bytes() {
        assertArrayEquals(new int[] {'a', 0xC3, 0xA9, '\n'}, tokenizer.encode("aé\n"));
        assertEquals(256, tokenizer.vocabSize());
    }

    @Test
    void invalidSequencesBecomeReplacementCharacters() {
        int[] cut = {'a', 0xC3};                                 // first byte of "é" without its second
        assertEquals("a\uFFFD", tokenizer.decode(cut));
    }

    @Test
    void rejectsIdsOutsideTheByteRange() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[] {65, 256}));
        assertTrue(e.getMessage().contains("position 1") && e.getMessage().contains("256"), e.getMessage());
    }
}
