package org.peft4j.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.peft4j.core.model.TokenBatch;

class TokenWindowsTest {
    /** A stream whose token at position p is p, so a window's first id is its start. */
    private static int[] positions(int length) {
        int[] tokens = new int[length];
        Arrays.setAll(tokens, i -> i);
        return tokens;
    }

    @Test
    void sameEpochAndIndexGiveTheSameBatch() {
        TokenWindows windows = TokenWindows.random(positions(5000), 4, 16, 10, 42);
        TokenBatch first = windows.batch(2, 3);
        TokenBatch again = TokenWindows.random(positions(5000), 4, 16, 10, 42).batch(2, 3);
        assertArrayEquals(first.ids(), again.ids());
        assertFalse(Arrays.equals(first.ids(), windows.batch(2, 4).ids()), "another index");
        assertFalse(Arrays.equals(first.ids(), windows.batch(3, 3).ids()), "another epoch");
        assertFalse(Arrays.equals(first.ids(), TokenWindows.random(positions(5000), 4, 16, 10, 43).batch(2, 3).ids()), "another seed");
    }

    @Test
    void windowsAreContiguousInBoundsWithLabelsEqualToIds() {
        int length = 200;
        int seqLen = 32;
        TokenWindows windows = TokenWindows.random(positions(length), 8, seqLen, 50, 1);
        for (int index = 0; index < windows.batchesPerEpoch(); index++) {
            TokenBatch batch = windows.batch(0, index);
            assertEquals(8, batch.batch());
            assertEquals(seqLen, batch.seqLen());
            assertArrayEquals(batch.ids(), batch.labels());
            assertNull(batch.attentionMask());
            for (int row = 0; row < batch.batch(); row++) {
                int start = batch.ids()[row * seqLen];
                assertTrue(start >= 0 && start + seqLen <= length, "window at " + start);
                for (int t = 0; t < seqLen; t++) {
                    assertEquals(start + t, batch.ids()[row * seqLen + t]);
                }
            }
        }
    }

    @Test
    void randomStartsReachBothEnds() {
        TokenWindows windows = TokenWindows.random(positions(20), 16, 8, 40, 3);
        int min = Integer.MAX_VALUE;
        int max = Integer.MIN_VALUE;
        for (int index = 0; index < windows.batchesPerEpoch(); index++) {
            for (int start : windows.windowStarts(0, index)) {
                min = Math.min(min, start);
                max = Math.max(max, start);
            }
        }
        assertEquals(0, min);
        assertEquals(12, max, "the last window ends at the stream's end");
    }

    @Test
    void evaluationWindowsCoverTheStreamWithoutOverlap() {
        int length = 1000;
        int seqLen = 64;
        TokenWindows eval = TokenWindows.evaluation(positions(length), 4, seqLen);
        assertEquals(4, eval.batchesPerEpoch(), "15 windows in batches of 4");
        int next = 0;
        for (int index = 0; index < eval.batchesPerEpoch(); index++) {
            TokenBatch batch = eval.batch(0, index);
            assertArrayEquals(batch.ids(), eval.batch(5, index).ids(), "every pass is the same");
            for (int id : batch.ids()) {
                assertEquals(next++, id);
            }
        }
        assertEquals(15 * seqLen, next);
        assertTrue(length - next < seqLen, "only a tail shorter than one window is left out");
        assertEquals(3, eval.batch(0, 3).batch(), "the last batch holds the remaining windows");
        assertEquals(2, TokenWindows.evaluation(positions(length), 4, seqLen, 2).batchesPerEpoch());
    }

    @Test
    void rejectsStreamsShorterThanOneWindowPlusOne() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TokenWindows.random(positions(16), 2, 16, 1, 0));
        assertTrue(e.getMessage().contains("16 tokens") && e.getMessage().contains("17"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TokenWindows.evaluation(positions(10), 2, 16));
        TokenWindows.random(positions(17), 2, 16, 1, 0);
    }

    @Test
    void rejectsBadPositionsAndShapes() {
        TokenWindows windows = TokenWindows.random(positions(100), 2, 8, 5, 0);
        assertThrows(IllegalArgumentException.class, () -> windows.batch(0, 5));
        assertThrows(IllegalArgumentException.class, () -> windows.batch(-1, 0));
        assertThrows(IllegalArgumentException.class, () -> TokenWindows.random(positions(100), 0, 8, 5, 0));
        assertThrows(IllegalArgumentException.class, () -> TokenWindows.random(positions(100), 2, 8, 0, 0));
        assertEquals(3, TokenWindows.batchesCovering(100, 2, 16));
        assertEquals(1, TokenWindows.batchesCovering(10, 2, 16));
    }
}
