package org.peft4j.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.tokenizer.ByteTokenizer;
import org.peft4j.core.tokenizer.Encoding;
import org.peft4j.core.tokenizer.Tokenizer;

class TextBatchesTest {
    private static final ByteTokenizer BYTES = new ByteTokenizer();

    /** Texts "a", "bb", ..., of lengths 1..n, labelled i % 3. */
    private static ClassificationData data(int n) {
        List<String> texts = new ArrayList<>();
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            texts.add(String.valueOf((char) ('a' + i)).repeat(i + 1));
            labels[i] = i % 3;
        }
        return new ClassificationData(texts, labels, LabelSet.ofStrings(List.of("x", "y", "z")));
    }

    /** A byte tokenizer that pads with 7 and counts its encode calls. */
    private static class CountingTokenizer implements Tokenizer {
        final AtomicInteger calls = new AtomicInteger();

        @Override
        public int vocabSize() {
            return BYTES.vocabSize();
        }

        @Override
        public Encoding encode(String text, int maxLength) {
            calls.incrementAndGet();
            return BYTES.encode(text, maxLength);
        }

        @Override
        public String decode(int[] ids) {
            return BYTES.decode(ids);
        }

        @Override
        public int padId() {
            return 7;
        }
    }

    // ---------------------------------------------------------------- classification

    @Test
    void evaluationBatchesPadMaskAndLabelInOrder() {
        ClassificationBatches batches = ClassificationBatches.evaluation(data(5), BYTES, 4, 2);
        assertEquals(3, batches.batchesPerEpoch(), "5 examples in batches of 2: the last partial batch is kept");
        assertEquals(3, batches.numLabels());

        TokenBatch first = batches.batch(0, 0);                    // "a", "bb"
        assertEquals(2, first.batch());
        assertEquals(2, first.seqLen(), "padded to the longest row of the batch, not to maxLength");
        assertArrayEquals(new int[] {'a', 0, 'b', 'b'}, first.ids(), "ByteTokenizer pads with 0");
        assertArrayEquals(new int[] {1, 0, 1, 1}, first.attentionMask());
        assertArrayEquals(new int[] {0, 1}, first.labels(), "labels [batch] as label indices");

        TokenBatch second = batches.batch(0, 1);                   // "ccc", "dddd"
        assertArrayEquals(new int[] {'c', 'c', 'c', 0, 'd', 'd', 'd', 'd'}, second.ids());
        assertArrayEquals(new int[] {1, 1, 1, 0, 1, 1, 1, 1}, second.attentionMask());
        assertArrayEquals(new int[] {2, 0}, second.labels());

        TokenBatch last = batches.batch(0, 2);                     // "eeeee" cut to 4
        assertEquals(1, last.batch());
        assertEquals(4, last.seqLen(), "truncated to maxLength");
        assertArrayEquals(new int[] {'e', 'e', 'e', 'e'}, last.ids());
        assertNull(last.attentionMask(), "nothing padded: no mask, as TokenBatch allows");
        assertArrayEquals(new int[] {1}, last.labels());

        assertArrayEquals(first.ids(), batches.batch(5, 0).ids(), "evaluation order is the same on every epoch");
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, batches.order(3));
    }

    @Test
    void trainingShufflesPerEpochWithASeed() {
        ClassificationData data = data(23);
        ClassificationBatches a = ClassificationBatches.training(data, BYTES, 64, 4, 42);
        ClassificationBatches b = ClassificationBatches.training(data, BYTES, 64, 4, 42);
        ClassificationBatches other = ClassificationBatches.training(data, BYTES, 64, 4, 43);
        assertEquals(6, a.batchesPerEpoch());
        for (int epoch = 0; epoch < 3; epoch++) {
            int[] order = a.order(epoch);
            assertArrayEquals(order, b.order(epoch), "same seed, same order");
            int[] sorted = order.clone();
            Arrays.sort(sorted);
            int[] identity = new int[23];
            Arrays.setAll(identity, i -> i);
            assertArrayEquals(identity, sorted, "a permutation: each example once per epoch");
            assertFalse(Arrays.equals(identity, order), "shuffled");
            assertFalse(Arrays.equals(order, other.order(epoch)), "another seed, another order");

            List<Integer> seen = new ArrayList<>();
            for (int index = 0; index < a.batchesPerEpoch(); index++) {
                TokenBatch batch = a.batch(epoch, index);
                assertEquals(index == 5 ? 3 : 4, batch.batch(), "the last batch holds the remainder");
                for (int r = 0; r < batch.batch(); r++) {
                    int length = 0;
                    while (length < batch.seqLen() && (batch.attentionMask() == null || batch.attentionMask()[r * batch.seqLen() + length] == 1)) {
                        length++;
                    }
                    int example = length - 1;                      // example i has i + 1 tokens
                    seen.add(example);
                    assertEquals(example % 3, batch.labels()[r], "the label travels with its text");
                    assertEquals('a' + example, batch.ids()[r * batch.seqLen()]);
                }
            }
            assertEquals(Arrays.stream(order).boxed().toList(), seen, "batches follow the epoch's order");
        }
        assertFalse(Arrays.equals(a.order(0), a.order(1)), "each epoch has its own permutation");
        assertArrayEquals(a.batch(1, 2).ids(), a.batch(1, 2).ids(), "a batch is a function of (epoch, index)");
        int[] epoch0 = a.order(0);
        a.order(1);
        assertArrayEquals(epoch0, a.order(0), "going back to an epoch gives its order again");
    }

    @Test
    void textsAreEncodedOnceUpFront() {
        CountingTokenizer tokenizer = new CountingTokenizer();
        ClassificationBatches batches = ClassificationBatches.training(data(6), tokenizer, 8, 4, 1);
        assertEquals(6, tokenizer.calls.get());
        for (int epoch = 0; epoch < 4; epoch++) {
            for (int i = 0; i < batches.batchesPerEpoch(); i++) {
                TokenBatch batch = batches.batch(epoch, i);
                for (int k = 0; k < batch.ids().length; k++) {
                    if (batch.attentionMask() != null && batch.attentionMask()[k] == 0) {
                        assertEquals(7, batch.ids()[k], "the tokenizer's pad id");
                    }
                }
            }
        }
        assertEquals(6, tokenizer.calls.get(), "no encoding per epoch");
    }

    @Test
    void argumentsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> ClassificationBatches.training(data(3), BYTES, 0, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> ClassificationBatches.training(data(3), BYTES, 8, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> ClassificationBatches.training(data(3), null, 8, 2, 1));
        ClassificationBatches batches = ClassificationBatches.evaluation(data(3), BYTES, 8, 2);
        assertThrows(IllegalArgumentException.class, () -> batches.batch(0, 2));
        assertThrows(IllegalArgumentException.class, () -> batches.batch(-1, 0));
        Tokenizer empty = new CountingTokenizer() {
            @Override
            public Encoding encode(String text, int maxLength) {
                return new Encoding(new int[0], new int[0], new int[0]);
            }
        };
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClassificationBatches.evaluation(data(2), empty, 8, 2));
        assertTrue(e.getMessage().contains("example 0 encodes to no tokens"), e.getMessage());
    }

    // ---------------------------------------------------------------- causal LM

    @Test
    void causalLmLabelsIgnorePadding() {
        CausalLmBatches batches = CausalLmBatches.evaluation(List.of("hey", "hi", "hello world"), BYTES, 5, 2);
        assertEquals(2, batches.batchesPerEpoch());
        TokenBatch first = batches.batch(0, 0);
        assertEquals(3, first.seqLen());
        assertArrayEquals(new int[] {'h', 'e', 'y', 'h', 'i', 0}, first.ids());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 0}, first.attentionMask());
        assertArrayEquals(new int[] {'h', 'e', 'y', 'h', 'i', TokenBatch.IGNORE_INDEX}, first.labels(), "padding counts no loss");
        assertEquals(5, first.realTokens());

        TokenBatch second = batches.batch(0, 1);
        assertArrayEquals(new int[] {'h', 'e', 'l', 'l', 'o'}, second.ids(), "cut to maxLength");
        assertArrayEquals(second.ids(), second.labels());
        assertNull(second.attentionMask());
    }

    @Test
    void causalLmTrainingIsShuffledAndReproducible() {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            texts.add("text number " + i);
        }
        CausalLmBatches a = CausalLmBatches.training(texts, BYTES, 32, 8, 9);
        CausalLmBatches b = CausalLmBatches.training(texts, BYTES, 32, 8, 9);
        assertEquals(5, a.batchesPerEpoch());
        assertTrue(a.isShuffled());
        for (int epoch = 0; epoch < 2; epoch++) {
            for (int i = 0; i < 5; i++) {
                TokenBatch x = a.batch(epoch, i);
                TokenBatch y = b.batch(epoch, i);
                assertArrayEquals(x.ids(), y.ids());
                assertArrayEquals(x.labels(), y.labels());
                assertNotNull(x.labels());
                for (int k = 0; k < x.ids().length; k++) {
                    int expected = x.attentionMask() == null || x.attentionMask()[k] == 1 ? x.ids()[k] : TokenBatch.IGNORE_INDEX;
                    assertEquals(expected, x.labels()[k]);
                }
            }
        }
        assertFalse(Arrays.equals(a.order(0), a.order(1)));
    }
}
