package org.peft4j.core.model.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The sampling steps on hand-made logits whose probabilities are known exactly. */
class SamplingTest {
    /** Logits whose softmax is {@code p}. */
    private static double[] logitsOf(double... p) {
        double[] out = new double[p.length];
        for (int i = 0; i < p.length; i++) {
            out[i] = Math.log(p[i]);
        }
        return out;
    }

    @Test
    void argmaxTakesTheFirstOfEqualMaxima() {
        assertEquals(1, Sampling.argmax(new double[] {0, 3, 3, -1}));
        assertThrows(IllegalArgumentException.class, () -> Sampling.argmax(new double[] {0, Double.NaN}));
    }

    @Test
    void temperatureDividesTheLogits() {
        double[] logits = logitsOf(1, 2, 4);   // softmax [1, 2, 4]/7
        assertArrayEquals(new double[] {1.0 / 7, 2.0 / 7, 4.0 / 7}, Sampling.probabilities(logits, 1.0, 0, 1.0), 1e-12);
        double r = Math.sqrt(2);               // T = 2: weights 1, √2, 2
        assertArrayEquals(new double[] {1 / (3 + r), r / (3 + r), 2 / (3 + r)}, Sampling.probabilities(logits, 2.0, 0, 1.0), 1e-12);
        double[] cold = Sampling.probabilities(logits, 0.05, 0, 1.0);
        assertTrue(cold[2] > 0.999999, "a low temperature approaches greedy");
    }

    @Test
    void topKKeepsTheKLargestAndTies() {
        assertArrayEquals(new double[] {0, 1.0 / 3, 2.0 / 3}, Sampling.probabilities(logitsOf(1, 2, 4), 1.0, 2, 1.0), 1e-12);
        assertArrayEquals(new double[] {0, 0.5, 0.5, 0}, Sampling.probabilities(new double[] {0, 2, 2, 1}, 1.0, 1, 1.0), 1e-12,
                "a tie with the k-th largest is kept, as HF keeps it");
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        double[] logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        // 0.75: 0.5 alone is below it, 0.5 + 0.3 reaches it
        assertArrayEquals(new double[] {0.625, 0.375, 0, 0}, Sampling.probabilities(logits, 1.0, 0, 0.75), 1e-12);
        // 0.85: needs the third token too
        assertArrayEquals(new double[] {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}, Sampling.probabilities(logits, 1.0, 0, 0.85), 1e-12);
        // a tiny p keeps the most likely token only
        assertArrayEquals(new double[] {1, 0, 0, 0}, Sampling.probabilities(logits, 1.0, 0, 0.01), 1e-12);
        // top-k first (renormalizing to 0.5/0.95, 0.3/0.95, ...), then top-p over what is left
        assertArrayEquals(new double[] {0.625, 0.375, 0, 0}, Sampling.probabilities(logits, 1.0, 3, 0.75), 1e-12);
        // the order of the logits does not matter
        assertArrayEquals(new double[] {0, 0.375, 0, 0.625}, Sampling.probabilities(logitsOf(0.05, 0.3, 0.15, 0.5), 1.0, 0, 0.75), 1e-12);
    }

    @Test
    void samplingDrawsWithTheGivenFrequenciesAndIsSeeded() {
        double[] p = {0.1, 0.2, 0.0, 0.7};
        int[] counts = new int[4];
        SplittableRandom rng = new SplittableRandom(1);
        int n = 40000;
        int[] firstDraws = new int[20];
        for (int i = 0; i < n; i++) {
            int token = Sampling.sample(p, rng);
            counts[token]++;
            if (i < firstDraws.length) {
                firstDraws[i] = token;
            }
        }
        for (int i = 0; i < 4; i++) {
            assertEquals(p[i], counts[i] / (double) n, 0.01, "frequency of " + i);
        }
        assertEquals(0, counts[2], "a token of probability 0 is never drawn");
        SplittableRandom again = new SplittableRandom(1);
        for (int i = 0; i < firstDraws.length; i++) {
            assertEquals(firstDraws[i], Sampling.sample(p, again), "same seed, same draws");
        }
    }
}
