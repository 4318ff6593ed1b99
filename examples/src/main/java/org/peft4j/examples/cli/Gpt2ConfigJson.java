package org.peft4j.examples.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.peft4j.core.io.AtomicFiles;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.model.gpt2.Gpt2Config;

/**
 * A {@link Gpt2Config} as the {@code config.json} of an HF {@code GPT2LMHeadModel}, with HF's
 * {@code GPT2Config} field names, so {@code transformers} can load the saved model.
 */
public final class Gpt2ConfigJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Gpt2ConfigJson() {
    }

    /** The JSON object of {@code config}, fields in HF's order. */
    public static ObjectNode toJson(Gpt2Config config) {
        ObjectNode node = JSON.createObjectNode();
        node.putArray("architectures").add("GPT2LMHeadModel");
        node.put("model_type", "gpt2");
        node.put("vocab_size", config.vocabSize());
        node.put("n_positions", config.nPositions());
        node.put("n_embd", config.nEmbd());
        node.put("n_layer", config.nLayer());
        node.put("n_head", config.nHead());
        node.put("n_inner", config.nInner());
        node.put("activation_function", config.activation().hfName());
        node.put("layer_norm_epsilon", config.layerNormEpsilon());
        node.put("resid_pdrop", config.residPdrop());
        node.put("embd_pdrop", config.embdPdrop());
        node.put("attn_pdrop", config.attnPdrop());
        node.put("initializer_range", config.initializerRange());
        node.put("tie_word_embeddings", config.tieWordEmbeddings());
        node.put("torch_dtype", "float32");
        return node;
    }

    /** Writes {@code config.json} atomically, pretty-printed. */
    public static void write(Path file, Gpt2Config config) throws IOException {
        AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson(config)) + "\n");
    }

    /** Reads an HF GPT-2 {@code config.json}; missing fields take HF's GPT2Config defaults. */
    public static Gpt2Config read(Path file) throws IOException {
        JsonNode node = JSON.readTree(Files.readString(file));
        if (node == null || !node.isObject()) {
            throw new IOException(file + " does not hold a JSON object");
        }
        String type = node.path("model_type").asText("gpt2");
        if (!type.equals("gpt2")) {
            throw new IOException(file + " describes a '" + type + "' model; only model_type \"gpt2\" is supported here");
        }
        Gpt2Config.Builder b = Gpt2Config.builder();
        if (node.hasNonNull("vocab_size")) {
            b.vocabSize(node.get("vocab_size").asInt());
        }
        if (node.hasNonNull("n_positions")) {
            b.nPositions(node.get("n_positions").asInt());
        }
        if (node.hasNonNull("n_embd")) {
            b.nEmbd(node.get("n_embd").asInt());
        }
        if (node.hasNonNull("n_layer")) {
            b.nLayer(node.get("n_layer").asInt());
        }
        if (node.hasNonNull("n_head")) {
            b.nHead(node.get("n_head").asInt());
        }
        if (node.hasNonNull("n_inner")) {
            b.nInner(node.get("n_inner").asInt());
        }
        if (node.hasNonNull("activation_function")) {
            b.activation(Activation.fromHfName(node.get("activation_function").asText()));
        }
        if (node.hasNonNull("layer_norm_epsilon")) {
            b.layerNormEpsilon(node.get("layer_norm_epsilon").asDouble());
        }
        if (node.hasNonNull("resid_pdrop")) {
            b.residPdrop(node.get("resid_pdrop").asDouble());
        }
        if (node.hasNonNull("embd_pdrop")) {
            b.embdPdrop(node.get("embd_pdrop").asDouble());
        }
        if (node.hasNonNull("attn_pdrop")) {
            b.attnPdrop(node.get("attn_pdrop").asDouble());
        }
        if (node.hasNonNull("initializer_range")) {
            b.initializerRange(node.get("initializer_range").asDouble());
        }
        if (node.hasNonNull("tie_word_embeddings")) {
            b.tieWordEmbeddings(node.get("tie_word_embeddings").asBoolean());
        }
        return b.build();
    }
}
