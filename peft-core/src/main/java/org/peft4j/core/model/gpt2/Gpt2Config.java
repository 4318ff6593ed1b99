package org.peft4j.core.model.gpt2;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.peft4j.core.kernel.Activation;

import static org.peft4j.core.model.HfConfigFields.readActivation;
import static org.peft4j.core.model.HfConfigFields.readBoolean;
import static org.peft4j.core.model.HfConfigFields.readDouble;
import static org.peft4j.core.model.HfConfigFields.readInt;
import static org.peft4j.core.model.HfConfigFields.requireModelType;
import static org.peft4j.core.model.HfConfigFields.requireObject;
import static org.peft4j.core.model.HfConfigFields.requirePositive;
import static org.peft4j.core.model.HfConfigFields.requireProbability;

/**
 * The shape of a GPT-2 style decoder, with HF's {@code GPT2Config} field meanings: learned positions,
 * pre-LN blocks, an MLP of {@code nInner} units, an LM head tied to the token embeddings by default.
 *
 * @param vocabSize          tokens in the vocabulary ({@code vocab_size})
 * @param nPositions         longest sequence, past included ({@code n_positions})
 * @param nEmbd              hidden size ({@code n_embd})
 * @param nLayer             number of blocks ({@code n_layer})
 * @param nHead              attention heads ({@code n_head}); must divide nEmbd
 * @param nInner             MLP width ({@code n_inner}; HF's null means 4·nEmbd)
 * @param activation         MLP non-linearity ({@code activation_function}, GPT-2 uses gelu_new)
 * @param layerNormEpsilon   ({@code layer_norm_epsilon})
 * @param residPdrop         dropout after attention and MLP ({@code resid_pdrop})
 * @param embdPdrop          dropout on the embeddings ({@code embd_pdrop})
 * @param attnPdrop          dropout on attention weights ({@code attn_pdrop})
 * @param initializerRange   std of the normal initialisation ({@code initializer_range})
 * @param tieWordEmbeddings  LM head shares the token embedding matrix ({@code tie_word_embeddings})
 */
public record Gpt2Config(int vocabSize, int nPositions, int nEmbd, int nLayer, int nHead, int nInner, Activation activation,
        double layerNormEpsilon, double residPdrop, double embdPdrop, double attnPdrop, double initializerRange,
        boolean tieWordEmbeddings) {

    public Gpt2Config {
        requirePositive("vocab_size", vocabSize);
        requirePositive("n_positions", nPositions);
        requirePositive("n_embd", nEmbd);
        requirePositive("n_layer", nLayer);
        requirePositive("n_head", nHead);
        requirePositive("n_inner", nInner);
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd (" + nEmbd + ") must be divisible by n_head (" + nHead + ")");
        }
        if (activation == null) {
            throw new IllegalArgumentException("activation_function must be set, e.g. gelu_new");
        }
        requirePositive("layer_norm_epsilon", layerNormEpsilon);
        requireProbability("resid_pdrop", residPdrop);
        requireProbability("embd_pdrop", embdPdrop);
        requireProbability("attn_pdrop", attnPdrop);
        requirePositive("initializer_range", initializerRange);
    }

    /** Size of one attention head. */
    public int headDim() {
        return nEmbd / nHead;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** This config as HF's {@code config.json} of a {@code GPT2LMHeadModel}, with GPT2Config's field names. */
    public ObjectNode toHfJson() {
        ObjectNode node = JsonNodeFactory.instance.objectNode();
        node.putArray("architectures").add("GPT2LMHeadModel");
        node.put("model_type", "gpt2");
        node.put("vocab_size", vocabSize);
        node.put("n_positions", nPositions);
        node.put("n_embd", nEmbd);
        node.put("n_layer", nLayer);
        node.put("n_head", nHead);
        node.put("n_inner", nInner);
        node.put("activation_function", activation.hfName());
        node.put("layer_norm_epsilon", layerNormEpsilon);
        node.put("resid_pdrop", residPdrop);
        node.put("embd_pdrop", embdPdrop);
        node.put("attn_pdrop", attnPdrop);
        node.put("initializer_range", initializerRange);
        node.put("tie_word_embeddings", tieWordEmbeddings);
        node.put("torch_dtype", "float32");
        return node;
    }

    /**
     * Reads HF's GPT-2 {@code config.json}; absent fields take GPT2Config's defaults. Fails if
     * {@code model_type} is present and not "gpt2".
     */
    public static Gpt2Config fromHfJson(JsonNode node) {
        requireObject(node, "a GPT-2 config");
        requireModelType(node, "gpt2");
        Builder b = builder();
        readInt(node, "vocab_size", b::vocabSize);
        readInt(node, "n_positions", b::nPositions);
        readInt(node, "n_embd", b::nEmbd);
        readInt(node, "n_layer", b::nLayer);
        readInt(node, "n_head", b::nHead);
        readInt(node, "n_inner", b::nInner);
        readActivation(node, "activation_function", b::activation);
        readDouble(node, "layer_norm_epsilon", b::layerNormEpsilon);
        readDouble(node, "resid_pdrop", b::residPdrop);
        readDouble(node, "embd_pdrop", b::embdPdrop);
        readDouble(node, "attn_pdrop", b::attnPdrop);
        readDouble(node, "initializer_range", b::initializerRange);
        readBoolean(node, "tie_word_embeddings", b::tieWordEmbeddings);
        return b.build();
    }

    /** Defaults are HF's GPT2Config defaults (the 124M GPT-2), except where set. */
    public static final class Builder {
        private int vocabSize = 50257;
        private int nPositions = 1024;
        private int nEmbd = 768;
        private int nLayer = 12;
        private int nHead = 12;
        private Integer nInner;
        private Activation activation = Activation.GELU_TANH;
        private double layerNormEpsilon = 1e-5;
        private double residPdrop = 0.1;
        private double embdPdrop = 0.1;
        private double attnPdrop = 0.1;
        private double initializerRange = 0.02;
        private boolean tieWordEmbeddings = true;

        public Builder vocabSize(int v) {
            this.vocabSize = v;
            return this;
        }

        public Builder nPositions(int v) {
            this.nPositions = v;
            return this;
        }

        public Builder nEmbd(int v) {
            this.nEmbd = v;
            return this;
        }

        public Builder nLayer(int v) {
            this.nLayer = v;
            return this;
        }

        public Builder nHead(int v) {
            this.nHead = v;
            return this;
        }

        public Builder nInner(int v) {
            this.nInner = v;
            return this;
        }

        public Builder activation(Activation v) {
            this.activation = v;
            return this;
        }

        public Builder layerNormEpsilon(double v) {
            this.layerNormEpsilon = v;
            return this;
        }

        /** Sets resid_pdrop, embd_pdrop and attn_pdrop together. */
        public Builder dropout(double p) {
            this.residPdrop = p;
            this.embdPdrop = p;
            this.attnPdrop = p;
            return this;
        }

        public Builder residPdrop(double v) {
            this.residPdrop = v;
            return this;
        }

        public Builder embdPdrop(double v) {
            this.embdPdrop = v;
            return this;
        }

        public Builder attnPdrop(double v) {
            this.attnPdrop = v;
            return this;
        }

        public Builder initializerRange(double v) {
            this.initializerRange = v;
            return this;
        }

        public Builder tieWordEmbeddings(boolean v) {
            this.tieWordEmbeddings = v;
            return this;
        }

        public Gpt2Config build() {
            return new Gpt2Config(vocabSize, nPositions, nEmbd, nLayer, nHead, nInner == null ? 4 * nEmbd : nInner, activation,
                    layerNormEpsilon, residPdrop, embdPdrop, attnPdrop, initializerRange, tieWordEmbeddings);
        }
    }
}
