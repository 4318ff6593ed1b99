package org.peft4j.core.model.generate;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.peft4j.core.model.CausalLm;

/**
 * Generates a continuation of a prompt with any {@link CausalLm}, one token per step, reusing the keys
 * and values of earlier positions ({@link DecodingSession}): the prompt is run once, then only each new
 * token. One sequence at a time.
 */
public final class Generator {
    private final CausalLm model;

    /** A generator for {@code model}. */
    public Generator(CausalLm model) {
        this.model = java.util.Objects.requireNonNull(model, "model");
    }

    /**
     * The tokens generated after {@code prompt} under {@code config}: at most maxNewTokens, ending early with
     * (and including) a stop token. The prompt itself is not repeated in the result.
     */
    public int[] generate(int[] prompt, GenerationConfig config) {
        if (prompt == null || prompt.length == 0) {
            throw new IllegalArgumentException("the prompt must hold at least one token");
        }
        SplittableRandom rng = new SplittableRandom(config.seed());
        int[] out = new int[config.maxNewTokens()];
        int count = 0;
        try (DecodingSession session = new DecodingSession(model)) {
            double[] logits = session.feed(prompt);
            while (true) {
                int token = Sampling.next(logits, config, rng);
                out[count++] = token;
                if (count == config.maxNewTokens() || config.isStopToken(token)) {
                    break;
                }
                logits = session.feed(token);
            }
        }
        return Arrays.copyOf(out, count);
    }
}
