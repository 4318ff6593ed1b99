package org.peft4j.core.model.generate;

import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * The token-choosing steps of generation as pure functions of one row of logits {@code [vocab]}, in HF's
 * order: temperature, then top-k, then top-p (HF's TemperatureLogitsWarper, TopKLogitsWarper,
 * TopPLogitsWarper), then a softmax over what is left.
 */
public final class Sampling {
    private Sampling() {
    }

    /** The index of the largest logit; the first one among equals. */
    public static int argmax(double[] logits) {
        checkLogits(logits);
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * The distribution sampling draws from: softmax(logits / temperature) restricted to the {@code topK}
     * largest logits (0: all; ties with the k-th are kept, as HF keeps them) and then to the smallest set of
     * most likely tokens whose probability reaches {@code topP} (a token is kept while the tokens more likely
     * than it hold less than topP; the most likely is always kept), renormalized. Removed tokens get 0.
     */
    public static double[] probabilities(double[] logits, double temperature, int topK, double topP) {
        checkLogits(logits);
        if (!(temperature > 0) || topK < 0 || !(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("need temperature > 0, topK >= 0 and topP in (0, 1], got " + temperature + ", " + topK + ", " + topP);
        }
        int vocab = logits.length;
        boolean[] kept = new boolean[vocab];
        Arrays.fill(kept, true);
        double[] scaled = new double[vocab];
        for (int i = 0; i < vocab; i++) {
            scaled[i] = logits[i] / temperature;
        }
        if (topK > 0 && topK < vocab) {
            double kth = Arrays.stream(scaled).boxed().sorted(Comparator.reverseOrder()).skip(topK - 1).findFirst().orElseThrow();
            for (int i = 0; i < vocab; i++) {
                kept[i] = scaled[i] >= kth;
            }
        }
        double[] p = softmax(scaled, kept);
        if (topP < 1) {
            // most likely first; keep a token while the mass of the tokens before it is below topP
            Integer[] order = IntStream.range(0, vocab).boxed().toArray(Integer[]::new);
            Arrays.sort(order, Comparator.comparingDouble((Integer i) -> p[i]).reversed());
            double before = 0;
            for (int rank = 0; rank < vocab; rank++) {
                int i = order[rank];
                if (rank > 0 && before >= topP) {
                    kept[i] = false;
                }
                before += p[i];
            }
            return softmax(scaled, kept);
        }
        return p;
    }

    /** A draw from {@code probabilities} (non-negative, summing to 1) by the inverse of its cumulative distribution. */
    public static int sample(double[] probabilities, SplittableRandom rng) {
        double u = rng.nextDouble();
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < probabilities.length; i++) {
            if (probabilities[i] > 0) {
                cumulative += probabilities[i];
                last = i;
                if (u < cumulative) {
                    return i;
                }
            }
        }
        if (last < 0) {
            throw new IllegalArgumentException("cannot sample from a distribution with no positive probability");
        }
        return last;   // u beyond a cumulative sum rounded below 1
    }

    /** Chooses the next token under {@code config}: argmax when greedy, else a draw from {@link #probabilities}. */
    public static int next(double[] logits, GenerationConfig config, SplittableRandom rng) {
        if (config.strategy() == GenerationConfig.Strategy.GREEDY) {
            return argmax(logits);
        }
        return sample(probabilities(logits, config.temperature(), config.topK(), config.topP()), rng);
    }

    /** softmax over the kept entries, 0 elsewhere. */
    private static double[] softmax(double[] x, boolean[] kept) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < x.length; i++) {
            if (kept[i]) {
                max = Math.max(max, x[i]);
            }
        }
        double[] p = new double[x.length];
        double sum = 0;
        for (int i = 0; i < x.length; i++) {
            if (kept[i]) {
                p[i] = Math.exp(x[i] - max);
                sum += p[i];
            }
        }
        for (int i = 0; i < x.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static void checkLogits(double[] logits) {
        if (logits == null || logits.length == 0) {
            throw new IllegalArgumentException("logits must hold one value per token of the vocabulary, got none");
        }
        for (int i = 0; i < logits.length; i++) {
            if (Double.isNaN(logits[i])) {
                throw new IllegalArgumentException("logit " + i + " is NaN");
            }
        }
    }
}
