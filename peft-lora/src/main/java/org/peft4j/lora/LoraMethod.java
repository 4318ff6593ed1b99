package org.peft4j.lora;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import java.util.SplittableRandom;
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.LinearLike;
import org.peft4j.core.nn.Module;
import org.peft4j.core.tuner.PeftMethod;
import org.peft4j.core.tuner.TunerLayer;

/**
 * LoRA as a {@link PeftMethod} (HF PEFT's {@code LoraModel}): wraps {@link Linear} modules in
 * {@link LoraLinear} and {@link Embedding} modules in {@link LoraEmbedding}, with the rank and alpha of
 * each module from rank_pattern and alpha_pattern. Registered in
 * {@code META-INF/services/org.peft4j.core.tuner.PeftMethod}.
 */
public final class LoraMethod implements PeftMethod<LoraConfig> {
    /** The id of LoRA and the owner of the params it creates. */
    public static final String ID = "lora";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public String peftType() {
        return LoraConfig.PEFT_TYPE;
    }

    @Override
    public Class<LoraConfig> configType() {
        return LoraConfig.class;
    }

    @Override
    public LoraConfig configFromHfJson(JsonNode json) {
        return LoraConfig.fromHfJson(json);
    }

    @Override
    public boolean supports(Module module) {
        return module instanceof LinearLike || module instanceof Embedding || module instanceof LoraLinear || module instanceof LoraEmbedding;
    }

    @Override
    public String supportedTypes() {
        return "Linear, Embedding";
    }

    /** fan_in_fan_out must agree with a Linear's layout, and PiSSA's rank must not exceed min(in, out). */
    @Override
    public void check(String path, Module target, LoraConfig config) {
        LinearLike linear = target instanceof LoraLinear l ? l.linearBase() : target instanceof LinearLike l ? l : null;
        if (linear == null) {
            return;
        }
        checkLayout(path, linear, config.fanInFanOut());
        int r = config.rankFor(path);
        int max = Math.min(linear.inFeatures(), linear.outFeatures());
        if (config.initLoraWeights().kind() == LoraInit.Kind.PISSA && r > max) {
            throw new IllegalArgumentException("PiSSA needs r <= min(in, out) = " + max + ", got r = " + r + " for '" + path + "'");
        }
    }

    @Override
    public TunerLayer inject(String path, Module target, String adapterName, LoraConfig config, SplittableRandom rng) {
        int r = config.rankFor(path);
        double alpha = config.alphaFor(path);
        if (target instanceof LoraLinear lora) {
            lora.addAdapter(adapterName, r, alpha, config, rng);
            return lora;
        }
        if (target instanceof LoraEmbedding lora) {
            lora.addAdapter(adapterName, r, alpha, config, rng);
            return lora;
        }
        if (target instanceof LinearLike linear) {
            LoraLinear lora = new LoraLinear(linear);
            lora.addAdapter(adapterName, r, alpha, config, rng);
            return lora;
        }
        if (target instanceof Embedding embedding) {
            LoraEmbedding lora = new LoraEmbedding(embedding);
            lora.addAdapter(adapterName, r, alpha, config, rng);
            return lora;
        }
        throw new IllegalArgumentException("LoRA cannot adapt '" + path + "' (" + target.getClass().getSimpleName() + "); supported: "
                + supportedTypes());
    }

    /** Fails if {@code fanInFanOut}, when set, disagrees with the weight layout of {@code linear} at {@code path}. */
    public static void checkLayout(String path, LinearLike linear, Boolean fanInFanOut) {
        if (fanInFanOut == null) {
            return;
        }
        boolean inOut = linear.layout() == WeightLayout.IN_OUT;
        if (fanInFanOut != inOut) {
            throw new IllegalArgumentException("fan_in_fan_out=" + fanInFanOut + " but '" + path + "' stores its weight "
                    + (inOut ? "[in, out] (GPT-2's Conv1D)" : "[out, in] (torch Linear)") + "; leave fan_in_fan_out unset to derive it from the layer");
        }
    }

    /** Fills in fan_in_fan_out from the wrapped Linears when the config left it unset (true if they all store [in, out]). */
    @Override
    public LoraConfig appliedConfig(LoraConfig config, Map<String, TunerLayer> targeted) {
        return config.fanInFanOut() != null ? config : config.withFanInFanOut(derivedFanInFanOut(targeted));
    }

    /** fan_in_fan_out as HF would save it for these wrappers: true if every wrapped Linear stores its weight [in, out]. */
    public static boolean derivedFanInFanOut(Map<String, TunerLayer> targeted) {
        boolean anyLinear = false;
        boolean allInOut = true;
        for (TunerLayer layer : targeted.values()) {
            if (layer.baseLayer() instanceof LinearLike l) {
                anyLinear = true;
                allInOut &= l.layout() == WeightLayout.IN_OUT;
            }
        }
        return anyLinear && allInOut;
    }
}
