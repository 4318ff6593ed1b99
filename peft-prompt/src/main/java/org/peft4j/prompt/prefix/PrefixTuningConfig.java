package org.peft4j.prompt.prefix;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Set;
import org.peft4j.prompt.PromptLearning;
import org.peft4j.prompt.PromptLearningConfig;

/**
 * Prefix Tuning (Li and Liang, arXiv 2101.00190) and P-Tuning v2 (Liu et al., arXiv 2110.07602), HF PEFT's
 * {@code PrefixTuningConfig}: n learned keys and values in the attention of every layer. With
 * {@code prefixProjection} (Prefix Tuning's reparameterization) they come from a table {@code [n, token_dim]}
 * through Linear(d, h) → tanh → Linear(h, 2·layers·d); without it (P-Tuning v2's deep prompts, see
 * {@link #pTuningV2}) they are a trainable table {@code [n, 2·layers·d]} themselves. HF saves both as
 * PREFIX_TUNING with the flat (projected) prefix; a loaded adapter is that flat table, the projection dropped.
 *
 * @param base              the shared prompt fields
 * @param prefixProjection  reparameterize through the MLP during training
 * @param encoderHiddenSize h, or null for token_dim
 * @param zeroInit          HF's {@code init_weights: "zero"} (PEFT 0.21+): a new prefix starts as zero keys and values
 *                          (the projection's last Linear, or the table without projection, is zero); false: random
 */
public record PrefixTuningConfig(PromptLearning base, boolean prefixProjection, Integer encoderHiddenSize, boolean zeroInit)
        implements PromptLearningConfig {
    public static final String PEFT_TYPE = "PREFIX_TUNING";
    private static final Set<String> KEYS = Set.of("encoder_hidden_size", "prefix_projection", "init_weights");

    public PrefixTuningConfig {
        java.util.Objects.requireNonNull(base, "base");
        if (encoderHiddenSize != null && encoderHiddenSize <= 0) {
            throw new IllegalArgumentException("encoder_hidden_size must be > 0 (or null for token_dim), got " + encoderHiddenSize);
        }
    }

    /** A prefix initialised at random. */
    public PrefixTuningConfig(PromptLearning base, boolean prefixProjection, Integer encoderHiddenSize) {
        this(base, prefixProjection, encoderHiddenSize, false);
    }

    /** Prefix Tuning: n prefix positions, reparameterized by the MLP of hidden size h (null: token_dim). */
    public static PrefixTuningConfig prefixTuning(int numVirtualTokens, Integer encoderHiddenSize) {
        return new PrefixTuningConfig(PromptLearning.of(numVirtualTokens), true, encoderHiddenSize);
    }

    /** P-Tuning v2: n independent trainable prefix positions per layer, no reparameterization (PREFIX_TUNING without projection in HF's files). */
    public static PrefixTuningConfig pTuningV2(int numVirtualTokens) {
        return new PrefixTuningConfig(PromptLearning.of(numVirtualTokens), false, null);
    }

    /** True for P-Tuning v2's deep prompts (no projection). */
    public boolean isPTuningV2() {
        return !prefixProjection;
    }

    public PrefixTuningConfig withEncoderHiddenSize(Integer h) {
        return new PrefixTuningConfig(base, prefixProjection, h, zeroInit);
    }

    /** This config with HF's {@code init_weights: "zero"} (true) or random initialisation (false). */
    public PrefixTuningConfig withZeroInit(boolean zero) {
        return new PrefixTuningConfig(base, prefixProjection, encoderHiddenSize, zero);
    }

    @Override
    public PrefixTuningConfig withBase(PromptLearning newBase) {
        return new PrefixTuningConfig(newBase, prefixProjection, encoderHiddenSize, zeroInit);
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    @Override
    public ObjectNode toHfJson() {
        ObjectNode n = PromptLearning.object();
        base.writeHfJson(n, PEFT_TYPE);
        n.put("prefix_projection", prefixProjection);
        if (encoderHiddenSize == null) {
            n.putNull("encoder_hidden_size");
        } else {
            n.put("encoder_hidden_size", encoderHiddenSize);
        }
        if (zeroInit) {
            n.put("init_weights", "zero");
        } else {
            n.putNull("init_weights");
        }
        return n;
    }

    /** Reads an adapter_config.json of peft_type PREFIX_TUNING; init_weights must be null or "zero". */
    public static PrefixTuningConfig fromHfJson(JsonNode json) {
        PromptLearning base = PromptLearning.fromHfJson(json, PEFT_TYPE, KEYS);
        boolean zero = false;
        if (json.hasNonNull("init_weights")) {
            if (!"zero".equals(json.get("init_weights").asText()) || !json.get("init_weights").isTextual()) {
                throw new IllegalArgumentException("PREFIX_TUNING init_weights must be null (random) or \"zero\", got " + json.get("init_weights"));
            }
            zero = true;
        }
        return new PrefixTuningConfig(base, json.path("prefix_projection").asBoolean(false),
                json.hasNonNull("encoder_hidden_size") ? json.get("encoder_hidden_size").intValue() : null, zero);
    }
}
