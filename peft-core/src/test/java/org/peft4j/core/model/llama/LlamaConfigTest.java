package org.peft4j.core.model.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.nn.RotaryEmbedding;
import org.peft4j.core.testing.TinyDecoders;

class LlamaConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode json(String text) throws Exception {
        return JSON.readTree(text);
    }

    @Test
    void roundTripsThroughHfJson() {
        for (LlamaConfig config : new LlamaConfig[] {
            TinyDecoders.tinyLlama().build(),
            TinyDecoders.tinyLlama().tieWordEmbeddings(true).attentionBias(false).mlpBias(false)
                    .ropeScaling(LlamaConfig.RopeScaling.llama3(8, 1, 4, 16)).build(),
            TinyDecoders.tinyLlama().modelType("qwen2").mlpBias(false).build(),
            TinyDecoders.tinyLlama().modelType("mistral").attentionBias(false).mlpBias(false).slidingWindow(32).build()}) {
            assertEquals(config, LlamaConfig.fromHfJson(config.toHfJson()), config.toHfJson().toString());
        }
    }

    @Test
    void readsALlama2StyleConfig() throws Exception {
        LlamaConfig c = LlamaConfig.fromHfJson(json("""
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000, "hidden_size": 4096,
                 "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32, "hidden_act": "silu",
                 "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
                 "torch_dtype": "float16", "pretraining_tp": 1}"""));
        assertEquals(32, c.numKeyValueHeads(), "kv heads default to heads");
        assertEquals(128, c.headDim());
        assertEquals(10000.0, c.ropeTheta());
        assertEquals(Activation.SILU, c.hiddenAct());
        assertFalse(c.qkvBias() || c.outputBias() || c.mlpBias());
        assertNull(c.ropeScaling());
    }

    @Test
    void qwen2HasQkvBiasAndMistralHasNone() throws Exception {
        LlamaConfig qwen = LlamaConfig.fromHfJson(json("""
                {"model_type": "qwen2", "vocab_size": 100, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                 "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 1000000.0, "tie_word_embeddings": true,
                 "use_sliding_window": false, "sliding_window": 4096}"""));
        assertTrue(qwen.qkvBias());
        assertFalse(qwen.outputBias());
        assertEquals(0, qwen.slidingWindow(), "qwen2 ignores sliding_window unless use_sliding_window");
        LlamaConfig mistral = LlamaConfig.fromHfJson(json("""
                {"model_type": "mistral", "vocab_size": 100, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                 "num_attention_heads": 8, "sliding_window": 4096}"""));
        assertEquals(8, mistral.numKeyValueHeads(), "mistral defaults to 8 kv heads");
        assertEquals(4096, mistral.slidingWindow());
        assertFalse(mistral.qkvBias());
    }

    @Test
    void rejectsWhatItDoesNotImplementByName() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromHfJson(json("""
                {"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}""")));
        assertTrue(e.getMessage().contains("'yarn' is not supported; supported: default (no scaling), linear, llama3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromHfJson(json("""
                {"model_type": "llama", "vocab_size": 10, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}""")));
        assertTrue(e.getMessage().contains("needs 'hidden_size'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromHfJson(json("{\"model_type\": \"gpt2\"}")));
        assertTrue(e.getMessage().contains("'gpt2'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TinyDecoders.tinyLlama().numKeyValueHeads(3).build());
        assertTrue(e.getMessage().contains("multiple of num_key_value_heads (3)"), e.getMessage());
    }

    @Test
    void ropeScalingFollowsHf() throws Exception {
        LlamaConfig linear = LlamaConfig.fromHfJson(json("""
                {"vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1,
                 "rope_scaling": {"type": "linear", "factor": 2.0}}"""));
        float[] plain = RotaryEmbedding.defaultInverseFrequencies(8, 10000);
        float[] scaled = linear.ropeInverseFrequencies();
        for (int i = 0; i < plain.length; i++) {
            assertEquals(plain[i] / 2, scaled[i], 1e-9);
        }
        // llama3 with original context 32, low/high frequency factors 1/4: wavelengths 2π/f of f = 1, 0.1, 0.01, 0.001
        // are 6.3 (< 32/4: kept), 62.8 and 628 and 6283 (> 32/1: divided by 8)
        LlamaConfig.RopeScaling llama3 = LlamaConfig.RopeScaling.llama3(8, 1, 4, 32);
        float[] f = llama3.scale(RotaryEmbedding.defaultInverseFrequencies(8, 10000));
        assertArrayEquals(new float[] {1f, 0.1f / 8, 0.01f / 8, 0.001f / 8}, f, 1e-7f);
        // a wavelength between 32/4 and 32: f = 2π/16 is smoothed with s = (32/16 − 1)/(4 − 1) = 1/3
        float mid = llama3.scale(new float[] {(float) (2 * Math.PI / 16)})[0];
        double expected = (1 - 1.0 / 3) * (2 * Math.PI / 16) / 8 + (1.0 / 3) * (2 * Math.PI / 16);
        assertEquals(expected, mid, 1e-6);
    }

    @Test
    void writesHfFieldNames() {
        ObjectNode node = TinyDecoders.tinyLlama().build().toHfJson();
        assertEquals("LlamaForCausalLM", node.get("architectures").get(0).asText());
        assertEquals(2, node.get("num_key_value_heads").asInt());
        assertTrue(node.get("attention_bias").asBoolean());
        assertEquals(500.0, node.get("rope_theta").asDouble());
    }
}
