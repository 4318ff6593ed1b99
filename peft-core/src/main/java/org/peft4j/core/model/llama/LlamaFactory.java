package org.peft4j.core.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashSet;
import java.util.Set;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelFactory;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.WeightSource;

/** Builds LLaMA-style decoders ({@code model_type} llama, qwen2, mistral) with an LM head from HF checkpoints. */
public final class LlamaFactory implements ModelFactory {
    @Override
    public Set<String> modelTypes() {
        return new LinkedHashSet<>(LlamaConfig.MODEL_TYPES);
    }

    @Override
    public Set<ModelHead> heads() {
        return Set.of(ModelHead.CAUSAL_LM);
    }

    /** A {@link LlamaModel} with the checkpoint's weights; only the CAUSAL_LM head is built. */
    @Override
    public PretrainedModel load(JsonNode config, WeightSource weights, LoadOptions options) {
        if (options.head() != ModelHead.CAUSAL_LM) {
            throw new IllegalArgumentException("LLaMA-style models are built with the CAUSAL_LM head, got " + options.head()
                    + "; supported: " + heads());
        }
        return LlamaModel.fromWeights(LlamaConfig.fromHfJson(config), weights, options.dataType(), options.kernels());
    }
}
