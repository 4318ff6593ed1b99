package org.peft4j.core.model.generate;

import java.util.List;

/**
 * How {@link Generator} picks tokens, with HF's {@code GenerationConfig} meanings: greedy takes the most
 * likely token; sampling divides the logits by the temperature, keeps the {@code topK} most likely tokens
 * (0: all) and then the smallest set of most likely tokens whose probability reaches {@code topP}, and
 * draws from what is left with a generator seeded by {@code seed}. Generation stops after
 * {@code maxNewTokens} tokens or after a stop token, which is included in the output.
 *
 * @param maxNewTokens most tokens to generate, ≥ 1
 * @param strategy     greedy or sampling
 * @param temperature  divides the logits before sampling, > 0 (sampling only)
 * @param topK         tokens kept by top-k filtering, 0 for no filtering (sampling only)
 * @param topP         probability mass kept by nucleus filtering, in (0, 1]; 1 for none (sampling only)
 * @param seed         seed of the sampling generator: the same seed gives the same tokens
 * @param stopTokenIds tokens that end generation (an end-of-sequence id, say); may be empty
 */
public record GenerationConfig(int maxNewTokens, Strategy strategy, double temperature, int topK, double topP, long seed,
        List<Integer> stopTokenIds) {

    /** How the next token is chosen from the logits. */
    public enum Strategy {
        /** The most likely token (the first of equals). */
        GREEDY,
        /** A draw from the filtered distribution. */
        SAMPLE
    }

    public GenerationConfig {
        if (maxNewTokens <= 0) {
            throw new IllegalArgumentException("maxNewTokens must be >= 1, got " + maxNewTokens);
        }
        if (strategy == null) {
            throw new IllegalArgumentException("strategy must be GREEDY or SAMPLE, got null");
        }
        if (!(temperature > 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be finite and > 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("topK must be >= 0 (0 keeps every token), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1] (1 keeps every token), got " + topP);
        }
        if (stopTokenIds == null) {
            throw new IllegalArgumentException("stopTokenIds must be a list, empty for none");
        }
        for (Integer id : stopTokenIds) {
            if (id == null || id < 0) {
                throw new IllegalArgumentException("stop token ids must be >= 0, got " + stopTokenIds);
            }
        }
        stopTokenIds = List.copyOf(stopTokenIds);
    }

    /** Greedy decoding of at most {@code maxNewTokens} tokens, without stop tokens. */
    public static GenerationConfig greedy(int maxNewTokens) {
        return builder().maxNewTokens(maxNewTokens).build();
    }

    /** True if {@code token} ends generation. */
    public boolean isStopToken(int token) {
        return stopTokenIds.contains(token);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Defaults are HF's: 20 new tokens, greedy; for sampling temperature 1, top-k 50, top-p 1; seed 42; no stop tokens. */
    public static final class Builder {
        private int maxNewTokens = 20;
        private Strategy strategy = Strategy.GREEDY;
        private double temperature = 1.0;
        private int topK = 50;
        private double topP = 1.0;
        private long seed = 42;
        private List<Integer> stopTokenIds = List.of();

        public Builder maxNewTokens(int v) {
            this.maxNewTokens = v;
            return this;
        }

        public Builder strategy(Strategy v) {
            this.strategy = v;
            return this;
        }

        /** Sampling, seeded by {@code seed}. */
        public Builder sampling(long seed) {
            this.strategy = Strategy.SAMPLE;
            this.seed = seed;
            return this;
        }

        public Builder temperature(double v) {
            this.temperature = v;
            return this;
        }

        public Builder topK(int v) {
            this.topK = v;
            return this;
        }

        public Builder topP(double v) {
            this.topP = v;
            return this;
        }

        public Builder seed(long v) {
            this.seed = v;
            return this;
        }

        public Builder stopTokenIds(Integer... ids) {
            this.stopTokenIds = List.of(ids);
            return this;
        }

        public GenerationConfig build() {
            return new GenerationConfig(maxNewTokens, strategy, temperature, topK, topP, seed, stopTokenIds);
        }
    }
}
