package org.peft4j.core.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Locale;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.nn.RotaryEmbedding;

import static org.peft4j.core.model.HfConfigFields.readActivation;
import static org.peft4j.core.model.HfConfigFields.readBoolean;
import static org.peft4j.core.model.HfConfigFields.readDouble;
import static org.peft4j.core.model.HfConfigFields.readInt;
import static org.peft4j.core.model.HfConfigFields.requireObject;
import static org.peft4j.core.model.HfConfigFields.requirePositive;
import static org.peft4j.core.model.HfConfigFields.requireProbability;
import static org.peft4j.core.model.HfConfigFields.required;

/**
 * The shape of a LLaMA-style decoder with HF's field meanings ({@code LlamaConfig}, {@code Qwen2Config},
 * {@code MistralConfig}): token embeddings without position embeddings, pre-RMSNorm blocks of rotary
 * grouped-query attention and a gated (SwiGLU) MLP, a final RMSNorm and an LM head.
 *
 * <p>The three model types differ only in biases: LLaMA's {@code attention_bias} puts a bias on q, k, v
 * and o alike and {@code mlp_bias} on the MLP; Qwen2 always has biases on q, k, v and none on o; Mistral
 * has none. Mistral's and Qwen2's sliding-window attention is not implemented: a model with a window
 * accepts sequences (past included) up to the window's length, for which attention is the same, and
 * rejects longer ones.
 *
 * @param modelType             HF's {@code model_type}: "llama", "qwen2" or "mistral"
 * @param vocabSize             tokens in the vocabulary ({@code vocab_size})
 * @param hiddenSize            width of the residual stream ({@code hidden_size})
 * @param intermediateSize      width of the MLP ({@code intermediate_size})
 * @param numHiddenLayers       number of blocks ({@code num_hidden_layers})
 * @param numAttentionHeads     query heads ({@code num_attention_heads})
 * @param numKeyValueHeads      key/value heads ({@code num_key_value_heads}); divides numAttentionHeads
 * @param headDim               size of one head ({@code head_dim}; HF's default hidden_size / heads)
 * @param hiddenAct             the MLP's gate non-linearity ({@code hidden_act}, SiLU in LLaMA)
 * @param maxPositionEmbeddings longest sequence the model was trained for ({@code max_position_embeddings})
 * @param rmsNormEps            epsilon of every RMSNorm ({@code rms_norm_eps})
 * @param ropeTheta             base of the rotary frequencies ({@code rope_theta})
 * @param ropeScaling           rotary frequency scaling ({@code rope_scaling}), or null for none
 * @param tieWordEmbeddings     the LM head shares the token embedding matrix ({@code tie_word_embeddings})
 * @param qkvBias               q, k and v projections have a bias
 * @param outputBias            the attention output projection o has a bias
 * @param mlpBias               gate, up and down projections have a bias ({@code mlp_bias})
 * @param attentionDropout      dropout on attention weights ({@code attention_dropout})
 * @param initializerRange      std of the normal initialisation ({@code initializer_range})
 * @param slidingWindow         attention window of Mistral/Qwen2 ({@code sliding_window}), 0 for none
 */
public record LlamaConfig(String modelType, int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
        int numAttentionHeads, int numKeyValueHeads, int headDim, Activation hiddenAct, int maxPositionEmbeddings, double rmsNormEps,
        double ropeTheta, RopeScaling ropeScaling, boolean tieWordEmbeddings, boolean qkvBias, boolean outputBias, boolean mlpBias,
        double attentionDropout, double initializerRange, int slidingWindow) {

    /** The {@code model_type} values this config describes. */
    public static final List<String> MODEL_TYPES = List.of("llama", "qwen2", "mistral");

    /** Checks every field, naming the HF field and the allowed values. */
    public LlamaConfig {
        if (!MODEL_TYPES.contains(modelType)) {
            throw new IllegalArgumentException("model_type must be one of " + MODEL_TYPES + ", got '" + modelType + "'");
        }
        requirePositive("vocab_size", vocabSize);
        requirePositive("hidden_size", hiddenSize);
        requirePositive("intermediate_size", intermediateSize);
        requirePositive("num_hidden_layers", numHiddenLayers);
        requirePositive("num_attention_heads", numAttentionHeads);
        requirePositive("num_key_value_heads", numKeyValueHeads);
        requirePositive("head_dim", headDim);
        requirePositive("max_position_embeddings", maxPositionEmbeddings);
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads (" + numAttentionHeads + ") must be a multiple of num_key_value_heads ("
                    + numKeyValueHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim must be even for rotary embeddings, got " + headDim);
        }
        if (hiddenAct == null) {
            throw new IllegalArgumentException("hidden_act must be set, e.g. silu");
        }
        requirePositive("rms_norm_eps", rmsNormEps);
        if (!(ropeTheta > 1) || Double.isInfinite(ropeTheta)) {
            throw new IllegalArgumentException("rope_theta must be finite and > 1, got " + ropeTheta);
        }
        requireProbability("attention_dropout", attentionDropout);
        requirePositive("initializer_range", initializerRange);
        if (slidingWindow < 0) {
            throw new IllegalArgumentException("sliding_window must be > 0, or 0 for none, got " + slidingWindow);
        }
        switch (modelType) {
            case "llama":
                if (qkvBias != outputBias) {
                    throw new IllegalArgumentException("llama's attention_bias puts a bias on q, k, v and o alike, got q/k/v bias " + qkvBias
                            + " and o bias " + outputBias);
                }
                if (slidingWindow != 0) {
                    throw new IllegalArgumentException("llama has no sliding window, got sliding_window = " + slidingWindow);
                }
                break;
            case "qwen2":
                if (!qkvBias || outputBias || mlpBias) {
                    throw new IllegalArgumentException("qwen2 has biases on q, k, v only, got q/k/v bias " + qkvBias + ", o bias " + outputBias
                            + ", mlp bias " + mlpBias);
                }
                break;
            default:   // mistral
                if (qkvBias || outputBias || mlpBias) {
                    throw new IllegalArgumentException("mistral has no biases, got q/k/v bias " + qkvBias + ", o bias " + outputBias
                            + ", mlp bias " + mlpBias);
                }
        }
    }

    /**
     * HF's {@code rope_scaling}: "linear" divides every inverse frequency by {@code factor}; "llama3" (Llama 3.1)
     * divides the low frequencies by {@code factor}, keeps the high ones and interpolates in between.
     *
     * @param type                          "linear" or "llama3"
     * @param factor                        ≥ 1
     * @param lowFreqFactor                 llama3 only (1 in Llama 3.1), else 0
     * @param highFreqFactor                llama3 only (4 in Llama 3.1), > lowFreqFactor, else 0
     * @param originalMaxPositionEmbeddings llama3 only (8192 in Llama 3.1), else 0
     */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {
        /** The rope_scaling types implemented; others (dynamic, yarn, longrope, ...) are rejected. */
        public static final List<String> TYPES = List.of("linear", "llama3");

        public RopeScaling {
            if (!TYPES.contains(type)) {
                throw new IllegalArgumentException("rope_scaling type '" + type + "' is not supported; supported: default (no scaling), "
                        + String.join(", ", TYPES));
            }
            if (!(factor >= 1) || Double.isInfinite(factor)) {
                throw new IllegalArgumentException("rope_scaling factor must be finite and >= 1, got " + factor);
            }
            if (type.equals("llama3")) {
                if (!(lowFreqFactor > 0 && highFreqFactor > lowFreqFactor)) {
                    throw new IllegalArgumentException("llama3 rope_scaling needs 0 < low_freq_factor < high_freq_factor, got " + lowFreqFactor
                            + " and " + highFreqFactor);
                }
                if (originalMaxPositionEmbeddings <= 0) {
                    throw new IllegalArgumentException("llama3 rope_scaling needs original_max_position_embeddings > 0, got "
                            + originalMaxPositionEmbeddings);
                }
            }
        }

        /** Linear scaling by {@code factor}. */
        public static RopeScaling linear(double factor) {
            return new RopeScaling("linear", factor, 0, 0, 0);
        }

        /** Llama 3.1's frequency-dependent scaling. */
        public static RopeScaling llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {
            return new RopeScaling("llama3", factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings);
        }

        /** Scales HF's default inverse frequencies as HF's {@code ROPE_INIT_FUNCTIONS[type]} does (rounded to float32). */
        public float[] scale(float[] inverseFrequencies) {
            float[] out = new float[inverseFrequencies.length];
            for (int i = 0; i < out.length; i++) {
                double f = inverseFrequencies[i];
                if (type.equals("linear")) {
                    out[i] = (float) (f / factor);
                    continue;
                }
                // llama3: wavelengths longer than original/lowFreqFactor are scaled by 1/factor, shorter than
                // original/highFreqFactor kept, and those in between interpolated by a smooth factor
                double wavelength = 2 * Math.PI / f;
                double lowFreqWavelength = originalMaxPositionEmbeddings / lowFreqFactor;
                double highFreqWavelength = originalMaxPositionEmbeddings / highFreqFactor;
                if (wavelength > lowFreqWavelength) {
                    out[i] = (float) (f / factor);
                } else if (wavelength < highFreqWavelength) {
                    out[i] = (float) f;
                } else {
                    double smooth = (originalMaxPositionEmbeddings / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                    out[i] = (float) ((1 - smooth) * f / factor + smooth * f);
                }
            }
            return out;
        }

        ObjectNode toHfJson() {
            ObjectNode node = JsonNodeFactory.instance.objectNode();
            node.put("rope_type", type);
            node.put("factor", factor);
            if (type.equals("llama3")) {
                node.put("low_freq_factor", lowFreqFactor);
                node.put("high_freq_factor", highFreqFactor);
                node.put("original_max_position_embeddings", originalMaxPositionEmbeddings);
            }
            return node;
        }

        /** Reads HF's rope_scaling object; null or type "default" means no scaling (null). */
        static RopeScaling fromHfJson(JsonNode node) {
            if (node == null || node.isNull()) {
                return null;
            }
            if (!node.isObject()) {
                throw new IllegalArgumentException("rope_scaling must be null or an object with a rope_type, got " + node);
            }
            String type = node.hasNonNull("rope_type") ? node.get("rope_type").asText() : node.path("type").asText("default");
            if (type.equals("default")) {
                return null;
            }
            if (!TYPES.contains(type)) {
                throw new IllegalArgumentException("rope_scaling type '" + type + "' is not supported; supported: default (no scaling), "
                        + String.join(", ", TYPES));
            }
            double factor = required(node, "factor", "rope_scaling").asDouble();
            if (type.equals("linear")) {
                return linear(factor);
            }
            return llama3(factor, required(node, "low_freq_factor", "rope_scaling").asDouble(),
                    required(node, "high_freq_factor", "rope_scaling").asDouble(),
                    required(node, "original_max_position_embeddings", "rope_scaling").asInt());
        }
    }

    /** Width of the q projection's output: heads · headDim. */
    public int queryDim() {
        return numAttentionHeads * headDim;
    }

    /** Width of the k and v projections' outputs: kvHeads · headDim. */
    public int keyValueDim() {
        return numKeyValueHeads * headDim;
    }

    /** The rotary inverse frequencies HF computes for this config: 1/θ^(2i/d), then rope_scaling if any. */
    public float[] ropeInverseFrequencies() {
        float[] inv = RotaryEmbedding.defaultInverseFrequencies(headDim, ropeTheta);
        return ropeScaling == null ? inv : ropeScaling.scale(inv);
    }

    /** A builder with HF's LlamaConfig defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** This config as HF's {@code config.json} of a {@code *ForCausalLM} of its model type. */
    public ObjectNode toHfJson() {
        ObjectNode node = JsonNodeFactory.instance.objectNode();
        String architecture = switch (modelType) {
            case "qwen2" -> "Qwen2ForCausalLM";
            case "mistral" -> "MistralForCausalLM";
            default -> "LlamaForCausalLM";
        };
        node.putArray("architectures").add(architecture);
        node.put("model_type", modelType);
        node.put("vocab_size", vocabSize);
        node.put("hidden_size", hiddenSize);
        node.put("intermediate_size", intermediateSize);
        node.put("num_hidden_layers", numHiddenLayers);
        node.put("num_attention_heads", numAttentionHeads);
        node.put("num_key_value_heads", numKeyValueHeads);
        node.put("head_dim", headDim);
        node.put("hidden_act", hiddenAct.hfName());
        node.put("max_position_embeddings", maxPositionEmbeddings);
        node.put("rms_norm_eps", rmsNormEps);
        node.put("rope_theta", ropeTheta);
        if (ropeScaling == null) {
            node.putNull("rope_scaling");
        } else {
            node.set("rope_scaling", ropeScaling.toHfJson());
        }
        node.put("tie_word_embeddings", tieWordEmbeddings);
        if (modelType.equals("llama")) {
            node.put("attention_bias", qkvBias);
            node.put("mlp_bias", mlpBias);
        }
        if (modelType.equals("qwen2")) {
            node.put("use_sliding_window", slidingWindow > 0);
        }
        if (!modelType.equals("llama")) {
            if (slidingWindow > 0) {
                node.put("sliding_window", slidingWindow);
            } else {
                node.putNull("sliding_window");
            }
        }
        node.put("attention_dropout", attentionDropout);
        node.put("initializer_range", initializerRange);
        node.put("torch_dtype", "float32");
        return node;
    }

    /**
     * Reads HF's {@code config.json} of a llama, qwen2 or mistral model ({@code model_type} absent means llama).
     * The shape fields (vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads) are
     * required; others take HF's defaults. Unsupported features (a rope_scaling type other than linear or
     * llama3, a partial rotary factor) are rejected with the field's name.
     */
    public static LlamaConfig fromHfJson(JsonNode node) {
        requireObject(node, "a LLaMA config");
        String type = node.path("model_type").asText("llama");
        if (!MODEL_TYPES.contains(type)) {
            throw new IllegalArgumentException("config describes a '" + type + "' model; LlamaConfig reads " + MODEL_TYPES);
        }
        if (node.hasNonNull("partial_rotary_factor") && node.get("partial_rotary_factor").asDouble() != 1.0) {
            throw new IllegalArgumentException("partial_rotary_factor " + node.get("partial_rotary_factor") + " is not supported; only 1.0");
        }
        Builder b = builder().modelType(type);
        b.vocabSize(required(node, "vocab_size", "config").asInt());
        b.hiddenSize(required(node, "hidden_size", "config").asInt());
        b.intermediateSize(required(node, "intermediate_size", "config").asInt());
        b.numHiddenLayers(required(node, "num_hidden_layers", "config").asInt());
        int heads = required(node, "num_attention_heads", "config").asInt();
        b.numAttentionHeads(heads);
        b.numKeyValueHeads(node.hasNonNull("num_key_value_heads") ? node.get("num_key_value_heads").asInt() : type.equals("mistral") ? 8 : heads);
        readInt(node, "head_dim", b::headDim);
        readActivation(node, "hidden_act", b::hiddenAct);
        readInt(node, "max_position_embeddings", b::maxPositionEmbeddings);
        readDouble(node, "rms_norm_eps", b::rmsNormEps);
        readDouble(node, "rope_theta", b::ropeTheta);
        b.ropeScaling(RopeScaling.fromHfJson(node.get("rope_scaling")));
        readBoolean(node, "tie_word_embeddings", b::tieWordEmbeddings);
        readDouble(node, "attention_dropout", b::attentionDropout);
        readDouble(node, "initializer_range", b::initializerRange);
        switch (type) {
            case "llama": {
                boolean bias = node.path("attention_bias").asBoolean(false);
                b.qkvBias(bias).outputBias(bias).mlpBias(node.path("mlp_bias").asBoolean(false));
                break;
            }
            case "qwen2":
                b.qkvBias(true).outputBias(false).mlpBias(false);
                b.slidingWindow(node.path("use_sliding_window").asBoolean(false) ? node.path("sliding_window").asInt(0) : 0);
                break;
            default:
                b.qkvBias(false).outputBias(false).mlpBias(false);
                b.slidingWindow(node.path("sliding_window").asInt(0));
        }
        return b.build();
    }

    /** Defaults are HF's LlamaConfig defaults (LLaMA-7B), except where set; head_dim defaults to hidden / heads. */
    public static final class Builder {
        private String modelType = "llama";
        private int vocabSize = 32000;
        private int hiddenSize = 4096;
        private int intermediateSize = 11008;
        private int numHiddenLayers = 32;
        private int numAttentionHeads = 32;
        private Integer numKeyValueHeads;
        private Integer headDim;
        private Activation hiddenAct = Activation.SILU;
        private int maxPositionEmbeddings = 2048;
        private double rmsNormEps = 1e-6;
        private double ropeTheta = 10000.0;
        private RopeScaling ropeScaling;
        private boolean tieWordEmbeddings = false;
        private boolean qkvBias = false;
        private boolean outputBias = false;
        private boolean mlpBias = false;
        private double attentionDropout = 0.0;
        private double initializerRange = 0.02;
        private int slidingWindow = 0;

        /** Sets the model type; for "qwen2" also its q/k/v biases. */
        public Builder modelType(String v) {
            this.modelType = v.toLowerCase(Locale.ROOT);
            if (modelType.equals("qwen2")) {
                qkvBias = true;
                outputBias = false;
            }
            return this;
        }

        public Builder vocabSize(int v) {
            this.vocabSize = v;
            return this;
        }

        public Builder hiddenSize(int v) {
            this.hiddenSize = v;
            return this;
        }

        public Builder intermediateSize(int v) {
            this.intermediateSize = v;
            return this;
        }

        public Builder numHiddenLayers(int v) {
            this.numHiddenLayers = v;
            return this;
        }

        public Builder numAttentionHeads(int v) {
            this.numAttentionHeads = v;
            return this;
        }

        public Builder numKeyValueHeads(int v) {
            this.numKeyValueHeads = v;
            return this;
        }

        public Builder headDim(int v) {
            this.headDim = v;
            return this;
        }

        public Builder hiddenAct(Activation v) {
            this.hiddenAct = v;
            return this;
        }

        public Builder maxPositionEmbeddings(int v) {
            this.maxPositionEmbeddings = v;
            return this;
        }

        public Builder rmsNormEps(double v) {
            this.rmsNormEps = v;
            return this;
        }

        public Builder ropeTheta(double v) {
            this.ropeTheta = v;
            return this;
        }

        public Builder ropeScaling(RopeScaling v) {
            this.ropeScaling = v;
            return this;
        }

        public Builder tieWordEmbeddings(boolean v) {
            this.tieWordEmbeddings = v;
            return this;
        }

        /** LLaMA's attention_bias: a bias on q, k, v and o. */
        public Builder attentionBias(boolean v) {
            this.qkvBias = v;
            this.outputBias = v;
            return this;
        }

        public Builder qkvBias(boolean v) {
            this.qkvBias = v;
            return this;
        }

        public Builder outputBias(boolean v) {
            this.outputBias = v;
            return this;
        }

        public Builder mlpBias(boolean v) {
            this.mlpBias = v;
            return this;
        }

        public Builder attentionDropout(double v) {
            this.attentionDropout = v;
            return this;
        }

        public Builder initializerRange(double v) {
            this.initializerRange = v;
            return this;
        }

        public Builder slidingWindow(int v) {
            this.slidingWindow = v;
            return this;
        }

        public LlamaConfig build() {
            if (numAttentionHeads <= 0) {
                throw new IllegalArgumentException("num_attention_heads must be > 0, got " + numAttentionHeads);
            }
            if (headDim == null && hiddenSize % numAttentionHeads != 0) {
                throw new IllegalArgumentException("hidden_size (" + hiddenSize + ") must be divisible by num_attention_heads ("
                        + numAttentionHeads + ") unless head_dim is given");
            }
            return new LlamaConfig(modelType, vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
                    numKeyValueHeads == null ? numAttentionHeads : numKeyValueHeads, headDim == null ? hiddenSize / numAttentionHeads : headDim,
                    hiddenAct, maxPositionEmbeddings, rmsNormEps, ropeTheta, ropeScaling, tieWordEmbeddings, qkvBias, outputBias, mlpBias,
                    attentionDropout, initializerRange, slidingWindow);
        }
    }
}
