package org.peft4j.core.model.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

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
     * than it hold less than topP; the most likely is always kept, and so are ties with the least likely
     * kept), renormalized. Removed tokens get 0.
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
            double[] ascending = scaled.clone();
            Arrays.sort(ascending);
            double kth = ascending[vocab - topK];                          // the k-th largest
            for (int i = 0; i < vocab; i++) {
                kept[i] = scaled[i] >= kth;
            }
        }
        double[] p = softmax(scaled, kept);
        if (topP < 1) {
            // walk the probabilities from the largest down: a token is kept while the mass before it is below topP
            double[] ascending = p.clone();
            Arrays.sort(ascending);
            double before = 0;
            double smallestKept = ascending[vocab - 1];
            for (int r = vocab - 1; r >= 0 && ascending[r] > 0; r--) {
                if (r < vocab - 1 && before >= topP) {
                    break;
                }
                smallestKept = ascending[r];
                before += ascending[r];
            }
            for (int i = 0; i < vocab; i++) {
                kept[i] = kept[i] && p[i] >= smallestKept;
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
