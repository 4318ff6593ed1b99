package org.peft4j.core.model.gpt2;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Set;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelFactory;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.WeightSource;

/** Builds GPT-2 ({@code model_type} gpt2) with an LM head from HF checkpoints. */
public final class Gpt2Factory implements ModelFactory {
    @Override
    public Set<String> modelTypes() {
        return Set.of("gpt2");
    }

    @Override
    public Set<ModelHead> heads() {
        return Set.of(ModelHead.CAUSAL_LM);
    }

    /**
     * A {@link Gpt2Model} with the checkpoint's weights; only the CAUSAL_LM head is built. Configs that change
     * the attention GPT2Config describes ({@code scale_attn_weights} false, {@code scale_attn_by_inverse_layer_idx}
     * true, cross-attention) are rejected; {@code reorder_and_upcast_attn} only changes float16 rounding and is ignored.
     */
    @Override
    public PretrainedModel load(JsonNode config, WeightSource weights, LoadOptions options) {
        if (options.head() != ModelHead.CAUSAL_LM) {
            throw new IllegalArgumentException("GPT-2 is built with the CAUSAL_LM head, got " + options.head() + "; supported: " + heads());
        }
        if (!config.path("scale_attn_weights").asBoolean(true)) {
            throw new IllegalArgumentException("scale_attn_weights = false is not supported: attention scores are always scaled by 1/sqrt(head_dim)");
        }
        if (config.path("scale_attn_by_inverse_layer_idx").asBoolean(false)) {
            throw new IllegalArgumentException("scale_attn_by_inverse_layer_idx = true is not supported");
        }
        if (config.path("add_cross_attention").asBoolean(false)) {
            throw new IllegalArgumentException("add_cross_attention = true is not supported: GPT-2 here is a decoder-only model");
        }
        return Gpt2Model.fromWeights(Gpt2Config.fromHfJson(config), weights, options.dataType(), options.kernels());
    }
}
