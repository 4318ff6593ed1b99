package org.peft4j.prompt.ptuning;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import java.util.Set;
import org.peft4j.prompt.PromptLearning;
import org.peft4j.prompt.PromptLearningConfig;

/**
 * P-Tuning v1 (Liu et al., arXiv 2103.10385; HF PEFT's {@code PromptEncoderConfig}): n virtual tokens produced
 * by a prompt encoder from a table {@code [n, token_dim]} and prepended to the token embeddings. Encoder
 * {@link EncoderType#MLP}: Linear(d, h) → ReLU → Linear(h, h) → ReLU → Linear(h, d); {@link EncoderType#LSTM}:
 * a bidirectional LSTM of {@code encoderNumLayers} layers, then Linear(2h, 2h) → ReLU → Linear(2h, d).
 * The saved prompt is the encoder's output; a loaded adapter is that flat table.
 *
 * @param base              the shared prompt fields
 * @param encoderType       MLP or LSTM (HF's encoder_reparameterization_type)
 * @param encoderHiddenSize h, or null for token_dim
 * @param encoderNumLayers  LSTM layers (HF ignores it for the MLP, which always has 3 Linear layers)
 */
public record PTuningConfig(PromptLearning base, EncoderType encoderType, Integer encoderHiddenSize, int encoderNumLayers)
        implements PromptLearningConfig {
    public static final String PEFT_TYPE = "P_TUNING";
    private static final Set<String> KEYS = Set.of("encoder_reparameterization_type", "encoder_hidden_size", "encoder_num_layers", "encoder_dropout");

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
    }

    /** n virtual tokens from an MLP encoder of hidden size token_dim. */
    public static PTuningConfig of(int numVirtualTokens, EncoderType type) {
        return new PTuningConfig(PromptLearning.of(numVirtualTokens), type, null, 2);
    }

    public PTuningConfig withEncoderHiddenSize(Integer h) {
        return new PTuningConfig(base, encoderType, h, encoderNumLayers);
    }

    @Override
    public PTuningConfig withBase(PromptLearning newBase) {
        return new PTuningConfig(newBase, encoderType, encoderHiddenSize, encoderNumLayers);
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
        return n;
    }

    /** Reads an adapter_config.json of peft_type P_TUNING; encoder_dropout must be 0 (peft4j's LSTM has none). */
    public static PTuningConfig fromHfJson(JsonNode json) {
        PromptLearning base = PromptLearning.fromHfJson(json, PEFT_TYPE, KEYS);
        if (json.hasNonNull("encoder_dropout") && json.get("encoder_dropout").doubleValue() != 0.0 && !base.inferenceMode()) {
            throw new IllegalArgumentException("encoder_dropout = " + json.get("encoder_dropout") + " is not supported; it must be 0");
        }
        EncoderType type = json.hasNonNull("encoder_reparameterization_type")
                ? EncoderType.parse(json.get("encoder_reparameterization_type").asText()) : EncoderType.MLP;
        return new PTuningConfig(base, type, json.hasNonNull("encoder_hidden_size") ? json.get("encoder_hidden_size").intValue() : null,
                json.hasNonNull("encoder_num_layers") ? json.get("encoder_num_layers").intValue() : 2);
    }
}
