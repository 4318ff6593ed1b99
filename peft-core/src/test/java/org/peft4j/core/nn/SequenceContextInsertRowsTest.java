package org.peft4j.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Rows placed among a sequence's rows: the key mask follows the moved rows, inserted rows are visible, the token rows are recorded. */
class SequenceContextInsertRowsTest {
    @Test
    void movedRowsKeepTheirMaskInsertedRowsAreVisibleAndTheTokensAreFound() {
        SequenceContext ctx = new SequenceContext(2, 3, new int[] {1, 1, 0, 1, 1, 1});
        assertArrayEquals(new int[] {0, 1, 2, 0, 1, 2}, ctx.inputRows(), "before any hook: the rows as given");
        ctx.insertRows(5, new int[] {1, 2, 4, 0, 1, 3});
        assertEquals(5, ctx.seqLen());
        assertEquals(3, ctx.inputLength());
        assertArrayEquals(new int[] {1, 1, 1, 1, 0, 1, 1, 1, 1, 1}, ctx.keyMask());
        assertArrayEquals(new int[] {1, 2, 4, 0, 1, 3}, ctx.inputRows());
        ctx.prependTokens(2);
        assertArrayEquals(new int[] {3, 4, 6, 2, 3, 5}, ctx.inputRows(), "rows prepended later shift the tokens");
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1}, ctx.keyMask());

        SequenceContext unpadded = new SequenceContext(1, 2, null);
        unpadded.prependTokens(1);
        assertArrayEquals(new int[] {1, 2}, unpadded.inputRows(), "prepended rows: the tokens are the last rows");
        unpadded.insertRows(4, new int[] {0, 1, 3});
        assertNull(unpadded.keyMask(), "nothing padded, nothing masked");
        assertArrayEquals(new int[] {1, 3}, unpadded.inputRows());
    }

    @Test
    void badPlacesAreRejected() {
        SequenceContext ctx = new SequenceContext(1, 3, null);
        String taken = assertThrows(IllegalArgumentException.class, () -> ctx.insertRows(4, new int[] {0, 2, 2})).getMessage();
        assertTrue(taken.contains("row 2 of sequence 0 moves to 2"), taken);
        String outside = assertThrows(IllegalArgumentException.class, () -> ctx.insertRows(4, new int[] {0, 1, 4})).getMessage();
        assertTrue(outside.contains("outside [0, 4)"), outside);
        String shorter = assertThrows(IllegalArgumentException.class, () -> ctx.insertRows(3, new int[] {0, 1, 2})).getMessage();
        assertTrue(shorter.contains("longer sequence than 3"), shorter);
        String count = assertThrows(IllegalArgumentException.class, () -> ctx.insertRows(5, new int[] {0, 1})).getMessage();
        assertTrue(count.contains("one new place per row (3)"), count);
    }
}
