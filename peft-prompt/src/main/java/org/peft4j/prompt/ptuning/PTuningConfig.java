package org.peft4j.prompt.ptuning;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import java.util.Set;
import org.peft4j.prompt.PromptLearning;
import org.peft4j.prompt.PromptLearningConfig;
import org.peft4j.prompt.PromptTemplate;

/**
 * P-Tuning v1 (Liu et al., arXiv 2103.10385; HF PEFT's {@code PromptEncoderConfig}): n virtual tokens produced
 * by a prompt encoder from a table {@code [n, token_dim]} and prepended to the token embeddings. Encoder
 * {@link EncoderType#MLP}: Linear(d, h) → ReLU → Linear(h, h) → ReLU → Linear(h, d); {@link EncoderType#LSTM}:
 * a bidirectional LSTM of {@code encoderNumLayers} layers, then Linear(2h, 2h) → ReLU → Linear(2h, d).
 * The saved prompt is the encoder's output; a loaded adapter is that flat table.
 *
 * <p>{@code template} (peft4j's extension, saved under {@value #TEMPLATE_KEY}, which HF PEFT ignores) places the
 * virtual tokens around the input as the paper's templates do, e.g. {@code "3,input,3"}; null (and files without
 * the key) means all before the input, as HF PEFT does.
 *
 * @param base              the shared prompt fields
 * @param encoderType       MLP or LSTM (HF's encoder_reparameterization_type)
 * @param encoderHiddenSize h, or null for token_dim
 * @param encoderNumLayers  LSTM layers (HF ignores it for the MLP, which always has 3 Linear layers)
 * @param template          where the virtual tokens go (its counts sum to num_virtual_tokens), or null: all before the input
 */
public record PTuningConfig(PromptLearning base, EncoderType encoderType, Integer encoderHiddenSize, int encoderNumLayers,
        PromptTemplate template) implements PromptLearningConfig {
    public static final String PEFT_TYPE = "P_TUNING";
    /** The adapter_config.json key of the template (peft4j's own; HF PEFT ignores unknown keys). */
    public static final String TEMPLATE_KEY = "peft4j_template";
    private static final Set<String> KEYS = Set.of("encoder_reparameterization_type", "encoder_hidden_size", "encoder_num_layers", "encoder_dropout",
            TEMPLATE_KEY);

    /** HF's {@code PromptEncoderReparameterizationType}. */
    public enum EncoderType {
        MLP, LSTM;

        /** Parses "MLP" or "LSTM" (any case). */
        public static EncoderType parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("encoder_reparameterization_type must be MLP or LSTM, got '" + s + "'");
            }
        }
    }

    public PTuningConfig {
        java.util.Objects.requireNonNull(base, "base");
        encoderType = encoderType == null ? EncoderType.MLP : encoderType;
        if (encoderHiddenSize != null && encoderHiddenSize <= 0) {
            throw new IllegalArgumentException("encoder_hidden_size must be > 0 (or null for token_dim), got " + encoderHiddenSize);
        }
        if (encoderNumLayers <= 0) {
            throw new IllegalArgumentException("encoder_num_layers must be > 0, got " + encoderNumLayers);
        }
        if (template != null && template.virtualTokens() != base.numVirtualTokens()) {
            throw new IllegalArgumentException("template '" + template + "' has " + template.virtualTokens() + " virtual tokens but num_virtual_tokens = "
                    + base.numVirtualTokens() + "; its counts must sum to num_virtual_tokens");
        }
    }

    /** Without a template: the virtual tokens all precede the input. */
    public PTuningConfig(PromptLearning base, EncoderType encoderType, Integer encoderHiddenSize, int encoderNumLayers) {
        this(base, encoderType, encoderHiddenSize, encoderNumLayers, null);
    }

    /** n virtual tokens from an MLP encoder of hidden size token_dim. */
    public static PTuningConfig of(int numVirtualTokens, EncoderType type) {
        return new PTuningConfig(PromptLearning.of(numVirtualTokens), type, null, 2);
    }

    public PTuningConfig withEncoderHiddenSize(Integer h) {
        return new PTuningConfig(base, encoderType, h, encoderNumLayers, template);
    }

    /** This config with virtual tokens placed as {@code t} says (null: all before the input). */
    public PTuningConfig withTemplate(PromptTemplate t) {
        return new PTuningConfig(base, encoderType, encoderHiddenSize, encoderNumLayers, t);
    }

    @Override
    public PTuningConfig withBase(PromptLearning newBase) {
        return new PTuningConfig(newBase, encoderType, encoderHiddenSize, encoderNumLayers, template);
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    @Override
    public ObjectNode toHfJson() {
        ObjectNode n = PromptLearning.object();
        base.writeHfJson(n, PEFT_TYPE);
        n.put("encoder_reparameterization_type", encoderType.name());
        if (encoderHiddenSize == null) {
            n.putNull("encoder_hidden_size");
        } else {
            n.put("encoder_hidden_size", encoderHiddenSize);
        }
        n.put("encoder_num_layers", encoderNumLayers);
        n.put("encoder_dropout", 0.0);
        if (template != null) {
            n.put(TEMPLATE_KEY, template.toString());
        }
        return n;
    }

    /**
     * Reads an adapter_config.json of peft_type P_TUNING; encoder_dropout must be 0 (peft4j's LSTM has none). A
     * {@value #TEMPLATE_KEY} string is parsed as a template; without it the virtual tokens precede the input.
     */
    public static PTuningConfig fromHfJson(JsonNode json) {
        PromptLearning base = PromptLearning.fromHfJson(json, PEFT_TYPE, KEYS);
        if (json.hasNonNull("encoder_dropout") && json.get("encoder_dropout").doubleValue() != 0.0 && !base.inferenceMode()) {
            throw new IllegalArgumentException("encoder_dropout = " + json.get("encoder_dropout") + " is not supported; it must be 0");
        }
        EncoderType type = json.hasNonNull("encoder_reparameterization_type")
                ? EncoderType.parse(json.get("encoder_reparameterization_type").asText()) : EncoderType.MLP;
        PromptTemplate template = null;
        if (json.hasNonNull(TEMPLATE_KEY)) {
            if (!json.get(TEMPLATE_KEY).isTextual()) {
                throw new IllegalArgumentException(TEMPLATE_KEY + " must be a string such as \"3,input,3\", got " + json.get(TEMPLATE_KEY));
            }
            template = PromptTemplate.parse(json.get(TEMPLATE_KEY).asText());
        }
        return new PTuningConfig(base, type, json.hasNonNull("encoder_hidden_size") ? json.get("encoder_hidden_size").intValue() : null,
                json.hasNonNull("encoder_num_layers") ? json.get("encoder_num_layers").intValue() : 2, template);
    }
}
