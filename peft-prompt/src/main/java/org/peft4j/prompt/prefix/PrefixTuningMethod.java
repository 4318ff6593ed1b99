package org.peft4j.prompt.prefix;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.nn.ActivationLayer;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.ModelHook;
import org.peft4j.prompt.PromptLearning;
import org.peft4j.prompt.PromptMethod;
import org.peft4j.prompt.PromptTable;
import org.peft4j.prompt.Sequential;

/**
 * Prefix Tuning and P-Tuning v2 as a method: a {@link PrefixHook} over the flat prefix, which is the table
 * itself (P-Tuning v2, or any loaded adapter) or the output of the projection {@code transform} (children
 * {@code embedding}, {@code transform} as HF names them). The prefix's heads and head size must be the
 * model's key/value heads and head size.
 */
public final class PrefixTuningMethod extends PromptMethod<PrefixTuningConfig> {
    public static final String ID = "prefix_tuning";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public String peftType() {
        return PrefixTuningConfig.PEFT_TYPE;
    }

    @Override
    public Class<PrefixTuningConfig> configType() {
        return PrefixTuningConfig.class;
    }

    @Override
    public PrefixTuningConfig configFromHfJson(JsonNode json) {
        return PrefixTuningConfig.fromHfJson(json);
    }

    @Override
    public ModelHook createHook(PretrainedModel base, String adapterName, PrefixTuningConfig config, SplittableRandom rng) {
        PromptLearning sizes = config.base().resolve(base, true);
        int d = sizes.tokenDim();
        int layers = sizes.numLayers();
        int heads = sizes.numAttentionHeads();
        if (d % heads != 0) {
            throw new IllegalArgumentException("prefix token_dim = " + d + " is not a multiple of num_attention_heads = " + heads);
        }
        checkModelShape(base, layers, heads, d / heads);
        int h = config.encoderHiddenSize() != null ? config.encoderHiddenSize() : d;
        PrefixTuningConfig applied = config.withBase(sizes).withEncoderHiddenSize(h);
        DataType type = dataType(base, ID);
        int flat = 2 * layers * d;
        boolean project = config.prefixProjection() && !sizes.inferenceMode();
        Param table = PromptTable.normalTable(ID, sizes.numVirtualTokens(), project ? d : flat, type, rng);
        Map<String, Layer> encoder = new LinkedHashMap<>();
        boolean zero = config.zeroInit() && !sizes.inferenceMode();
        if (project) {
            Layer first = PromptTable.torchLinear(ID, d, h, type, rng);
            Linear last = PromptTable.torchLinear(ID, h, flat, type, rng);
            if (zero) {                                                              // HF: zeros_ on transform[-1].weight and .bias
                last.weight().value().assign(0);
                last.bias().value().assign(0);
            }
            encoder.put("transform", new Sequential(List.of(first, new ActivationLayer(Activation.TANH), last)));
        } else if (zero) {
            table.value().assign(0);
        }
        return new PrefixHook(ID, applied, new PromptTable(table, encoder), layers, heads, d / heads, base.kernels());
    }

    /** Fails unless the model has {@code layers} attention layers of {@code kvHeads} key/value heads of size {@code headDim}. */
    private static void checkModelShape(PretrainedModel base, int layers, int kvHeads, int headDim) {
        ObjectNode c = base.hfConfig();
        int modelLayers = intOf(c, "num_hidden_layers", "n_layer", "num_layers");
        int hidden = intOf(c, "hidden_size", "n_embd", "d_model");
        int modelHeads = intOf(c, "num_attention_heads", "n_head", "num_heads");
        int modelKv = c.hasNonNull("num_key_value_heads") ? c.get("num_key_value_heads").intValue() : modelHeads;
        int modelHeadDim = c.hasNonNull("head_dim") ? c.get("head_dim").intValue() : hidden / modelHeads;
        if (layers != modelLayers || kvHeads != modelKv || headDim != modelHeadDim) {
            throw new IllegalArgumentException("the prefix has " + layers + " layers of " + kvHeads + " heads of size " + headDim + " but the model's attention has "
                    + modelLayers + " layers of " + modelKv + " key/value heads of size " + modelHeadDim
                    + "; leave num_layers, token_dim and num_attention_heads unset to take the model's");
        }
    }

    private static int intOf(ObjectNode c, String... keys) {
        for (String k : keys) {
            if (c.hasNonNull(k)) {
                return c.get(k).intValue();
            }
        }
        throw new IllegalArgumentException("the model's config.json has none of " + List.of(keys));
    }
}
