package org.peft4j.core.model.bert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.peft4j.core.kernel.Activation;

import static org.peft4j.core.model.HfConfigFields.readActivation;
import static org.peft4j.core.model.HfConfigFields.readDouble;
import static org.peft4j.core.model.HfConfigFields.readInt;
import static org.peft4j.core.model.HfConfigFields.requireModelType;
import static org.peft4j.core.model.HfConfigFields.requireObject;
import static org.peft4j.core.model.HfConfigFields.requirePositive;
import static org.peft4j.core.model.HfConfigFields.requireProbability;

/**
 * The shape of a BERT encoder, with HF's {@code BertConfig} field meanings: absolute learned positions,
 * token type (segment) embeddings, post-LN layers, an intermediate MLP of {@code intermediateSize} units.
 *
 * @param vocabSize                 tokens in the vocabulary ({@code vocab_size})
 * @param hiddenSize                width of every hidden state ({@code hidden_size})
 * @param numHiddenLayers           number of layers ({@code num_hidden_layers})
 * @param numAttentionHeads         attention heads ({@code num_attention_heads}); must divide hiddenSize
 * @param intermediateSize          MLP width ({@code intermediate_size})
 * @param hiddenAct                 MLP non-linearity ({@code hidden_act}; BERT uses gelu, the erf form)
 * @param hiddenDropoutProb         dropout on embeddings and after each dense output ({@code hidden_dropout_prob})
 * @param attentionProbsDropoutProb dropout on attention weights ({@code attention_probs_dropout_prob})
 * @param maxPositionEmbeddings     longest sequence, past included ({@code max_position_embeddings})
 * @param typeVocabSize             number of token types ({@code type_vocab_size})
 * @param layerNormEps              ({@code layer_norm_eps})
 * @param initializerRange          std of the normal initialisation ({@code initializer_range})
 * @param padTokenId                the padding token, whose embedding row HF initialises to 0 ({@code pad_token_id})
 * @param classifierDropout         dropout before a classifier ({@code classifier_dropout}); null means
 *                                  hiddenDropoutProb, as in HF
 * @param labels                    label names by id ({@code id2label}); at least one
 */
public record BertConfig(int vocabSize, int hiddenSize, int numHiddenLayers, int numAttentionHeads, int intermediateSize,
        Activation hiddenAct, double hiddenDropoutProb, double attentionProbsDropoutProb, int maxPositionEmbeddings, int typeVocabSize,
        double layerNormEps, double initializerRange, int padTokenId, Double classifierDropout, List<String> labels) {

    public BertConfig {
        requirePositive("vocab_size", vocabSize);
        requirePositive("hidden_size", hiddenSize);
        requirePositive("num_hidden_layers", numHiddenLayers);
        requirePositive("num_attention_heads", numAttentionHeads);
        requirePositive("intermediate_size", intermediateSize);
        requirePositive("max_position_embeddings", maxPositionEmbeddings);
        requirePositive("type_vocab_size", typeVocabSize);
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("hidden_size (" + hiddenSize + ") must be a multiple of num_attention_heads ("
                    + numAttentionHeads + ")");
        }
        if (hiddenAct == null) {
            throw new IllegalArgumentException("hidden_act must be set, e.g. \"gelu\"");
        }
        requireProbability("hidden_dropout_prob", hiddenDropoutProb);
        requireProbability("attention_probs_dropout_prob", attentionProbsDropoutProb);
        if (classifierDropout != null) {
            requireProbability("classifier_dropout", classifierDropout);
        }
        requirePositive("layer_norm_eps", layerNormEps);
        requirePositive("initializer_range", initializerRange);
        if (padTokenId < 0 || padTokenId >= vocabSize) {
            throw new IllegalArgumentException("pad_token_id must be in [0, vocab_size = " + vocabSize + "), got " + padTokenId);
        }
        if (labels == null || labels.isEmpty()) {
            throw new IllegalArgumentException("id2label must name at least one label");
        }
        labels = List.copyOf(labels);
    }

    /** Size of one attention head: hiddenSize / numAttentionHeads. */
    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Number of labels of a classification head: the size of id2label. */
    public int numLabels() {
        return labels.size();
    }

    /** The dropout before a classifier: classifier_dropout, or hidden_dropout_prob when that is null. */
    public double effectiveClassifierDropout() {
        return classifierDropout != null ? classifierDropout : hiddenDropoutProb;
    }

    /** This config with {@code numLabels} labels named HF's way, LABEL_0, LABEL_1, ... */
    public BertConfig withNumLabels(int numLabels) {
        return toBuilder().numLabels(numLabels).build();
    }

    /** HF's default label names LABEL_0 ... LABEL_{n-1}. */
    public static List<String> defaultLabels(int numLabels) {
        if (numLabels <= 0) {
            throw new IllegalArgumentException("num_labels must be > 0, got " + numLabels);
        }
        List<String> names = new ArrayList<>();
        for (int i = 0; i < numLabels; i++) {
            names.add("LABEL_" + i);
        }
        return names;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this config's values. */
    public Builder toBuilder() {
        return new Builder().vocabSize(vocabSize).hiddenSize(hiddenSize).numHiddenLayers(numHiddenLayers).numAttentionHeads(numAttentionHeads)
                .intermediateSize(intermediateSize).hiddenAct(hiddenAct).hiddenDropoutProb(hiddenDropoutProb)
                .attentionProbsDropoutProb(attentionProbsDropoutProb).maxPositionEmbeddings(maxPositionEmbeddings).typeVocabSize(typeVocabSize)
                .layerNormEps(layerNormEps).initializerRange(initializerRange).padTokenId(padTokenId).classifierDropout(classifierDropout)
                .labels(labels);
    }

    /**
     * This config as HF's {@code config.json}, with BertConfig's field names; {@code architecture} is the HF
     * class ("BertModel", "BertForSequenceClassification", ...). Classification architectures also get
     * {@code id2label} and {@code label2id} as HF writes them (string keys in id2label).
     */
    public ObjectNode toHfJson(String architecture) {
        ObjectNode node = JsonNodeFactory.instance.objectNode();
        node.putArray("architectures").add(architecture);
        node.put("model_type", "bert");
        node.put("vocab_size", vocabSize);
        node.put("hidden_size", hiddenSize);
        node.put("num_hidden_layers", numHiddenLayers);
        node.put("num_attention_heads", numAttentionHeads);
        node.put("intermediate_size", intermediateSize);
        node.put("hidden_act", hiddenAct.hfName());
        node.put("hidden_dropout_prob", hiddenDropoutProb);
        node.put("attention_probs_dropout_prob", attentionProbsDropoutProb);
        node.put("max_position_embeddings", maxPositionEmbeddings);
        node.put("type_vocab_size", typeVocabSize);
        node.put("layer_norm_eps", layerNormEps);
        node.put("initializer_range", initializerRange);
        node.put("pad_token_id", padTokenId);
        node.put("position_embedding_type", "absolute");
        if (classifierDropout == null) {
            node.putNull("classifier_dropout");
        } else {
            node.put("classifier_dropout", classifierDropout);
        }
        if (architecture.contains("Classification")) {
            ObjectNode id2label = node.putObject("id2label");
            ObjectNode label2id = node.putObject("label2id");
            for (int i = 0; i < labels.size(); i++) {
                id2label.put(Integer.toString(i), labels.get(i));
                label2id.put(labels.get(i), i);
            }
        }
        node.put("torch_dtype", "float32");
        return node;
    }

    /** {@link #toHfJson(String)} for a plain {@code BertModel}. */
    public ObjectNode toHfJson() {
        return toHfJson("BertModel");
    }

    /**
     * Reads HF's BERT {@code config.json}; absent fields take BertConfig's defaults. Labels come from
     * {@code id2label}, else from {@code num_labels} (named LABEL_i), else 2 labels as in HF. Fails if
     * {@code model_type} is present and not "bert", or if {@code position_embedding_type} is not "absolute".
     */
    public static BertConfig fromHfJson(JsonNode node) {
        requireObject(node, "a BERT config");
        requireModelType(node, "bert");
        String positions = node.path("position_embedding_type").asText("absolute");
        if (!positions.equals("absolute")) {
            throw new IllegalArgumentException("position_embedding_type '" + positions + "' is not supported; supported: \"absolute\"");
        }
        Builder b = builder();
        readInt(node, "vocab_size", b::vocabSize);
        readInt(node, "hidden_size", b::hiddenSize);
        readInt(node, "num_hidden_layers", b::numHiddenLayers);
        readInt(node, "num_attention_heads", b::numAttentionHeads);
        readInt(node, "intermediate_size", b::intermediateSize);
        readActivation(node, "hidden_act", b::hiddenAct);
        readDouble(node, "hidden_dropout_prob", b::hiddenDropoutProb);
        readDouble(node, "attention_probs_dropout_prob", b::attentionProbsDropoutProb);
        readInt(node, "max_position_embeddings", b::maxPositionEmbeddings);
        readInt(node, "type_vocab_size", b::typeVocabSize);
        readDouble(node, "layer_norm_eps", b::layerNormEps);
        readDouble(node, "initializer_range", b::initializerRange);
        readInt(node, "pad_token_id", b::padTokenId);
        readDouble(node, "classifier_dropout", b::classifierDropout);
        if (node.hasNonNull("id2label")) {
            b.labels(readId2Label(node.get("id2label")));
        } else if (node.hasNonNull("num_labels")) {
            b.numLabels(node.get("num_labels").asInt());
        }
        return b.build();
    }

    /** id2label {"0": "NEG", "1": "POS"} as a list by id; the ids must be exactly 0..n-1. */
    private static List<String> readId2Label(JsonNode id2label) {
        if (!id2label.isObject()) {
            throw new IllegalArgumentException("id2label must be an object from id to label name, got " + id2label);
        }
        TreeMap<Integer, String> byId = new TreeMap<>();
        Iterator<Map.Entry<String, JsonNode>> fields = id2label.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> e = fields.next();
            int id;
            try {
                id = Integer.parseInt(e.getKey());
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("id2label keys must be label ids 0, 1, ..., got '" + e.getKey() + "'");
            }
            byId.put(id, e.getValue().asText());
        }
        List<String> labels = new ArrayList<>(byId.values());
        if (byId.isEmpty() || byId.firstKey() != 0 || byId.lastKey() != byId.size() - 1) {
            throw new IllegalArgumentException("id2label must map every id 0.." + (byId.size() - 1) + " exactly once, got ids " + byId.keySet());
        }
        return labels;
    }

    /** Defaults are HF's BertConfig defaults (bert-base-uncased), except where set. */
    public static final class Builder {
        private int vocabSize = 30522;
        private int hiddenSize = 768;
        private int numHiddenLayers = 12;
        private int numAttentionHeads = 12;
        private int intermediateSize = 3072;
        private Activation hiddenAct = Activation.GELU;
        private double hiddenDropoutProb = 0.1;
        private double attentionProbsDropoutProb = 0.1;
        private int maxPositionEmbeddings = 512;
        private int typeVocabSize = 2;
        private double layerNormEps = 1e-12;
        private double initializerRange = 0.02;
        private int padTokenId = 0;
        private Double classifierDropout;
        private List<String> labels = defaultLabels(2);

        public Builder vocabSize(int v) {
            this.vocabSize = v;
            return this;
        }

        public Builder hiddenSize(int v) {
            this.hiddenSize = v;
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

        public Builder intermediateSize(int v) {
            this.intermediateSize = v;
            return this;
        }

        public Builder hiddenAct(Activation v) {
            this.hiddenAct = v;
            return this;
        }

        /** Sets hidden_dropout_prob and attention_probs_dropout_prob together. */
        public Builder dropout(double p) {
            this.hiddenDropoutProb = p;
            this.attentionProbsDropoutProb = p;
            return this;
        }

        public Builder hiddenDropoutProb(double v) {
            this.hiddenDropoutProb = v;
            return this;
        }

        public Builder attentionProbsDropoutProb(double v) {
            this.attentionProbsDropoutProb = v;
            return this;
        }

        public Builder maxPositionEmbeddings(int v) {
            this.maxPositionEmbeddings = v;
            return this;
        }

        public Builder typeVocabSize(int v) {
            this.typeVocabSize = v;
            return this;
        }

        public Builder layerNormEps(double v) {
            this.layerNormEps = v;
            return this;
        }

        public Builder initializerRange(double v) {
            this.initializerRange = v;
            return this;
        }

        public Builder padTokenId(int v) {
            this.padTokenId = v;
            return this;
        }

        /** Dropout before a classifier; null means hidden_dropout_prob. */
        public Builder classifierDropout(Double v) {
            this.classifierDropout = v;
            return this;
        }

        public Builder labels(List<String> v) {
            this.labels = v;
            return this;
        }

        /** {@code n} labels named LABEL_0 ... LABEL_{n-1}. */
        public Builder numLabels(int n) {
            this.labels = defaultLabels(n);
            return this;
        }

        public BertConfig build() {
            return new BertConfig(vocabSize, hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, hiddenAct, hiddenDropoutProb,
                    attentionProbsDropoutProb, maxPositionEmbeddings, typeVocabSize, layerNormEps, initializerRange, padTokenId,
                    classifierDropout, labels);
        }
    }
}
