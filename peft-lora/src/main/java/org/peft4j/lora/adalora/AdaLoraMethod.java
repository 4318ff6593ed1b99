package org.peft4j.lora.adalora;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Module;
import org.peft4j.core.param.Param;
import org.peft4j.core.train.TrainingHook;
import org.peft4j.core.tuner.PeftMethod;
import org.peft4j.core.tuner.TunerLayer;
import org.peft4j.lora.LoraMethod;

/**
 * AdaLoRA as a {@link PeftMethod} (HF PEFT's {@code AdaLoraModel}): wraps {@link Linear} modules in
 * {@link AdaLoraLinear}, and while an adapter trains gives the trainer a {@link RankAllocator}, which adds the
 * orthogonal regularizer to the loss and re-allocates the ranks after the optimizer steps; nobody has to call
 * anything by hand. Registered in {@code META-INF/services/org.peft4j.core.tuner.PeftMethod}.
 */
public final class AdaLoraMethod implements PeftMethod<AdaLoraConfig> {
    /** The id of AdaLoRA and the owner of the params it creates. */
    public static final String ID = "adalora";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public String peftType() {
        return AdaLoraConfig.PEFT_TYPE;
    }

    @Override
    public Class<AdaLoraConfig> configType() {
        return AdaLoraConfig.class;
    }

    @Override
    public AdaLoraConfig configFromHfJson(JsonNode json) {
        return AdaLoraConfig.fromHfJson(json);
    }

    @Override
    public boolean supports(Module module) {
        return module instanceof Linear || module instanceof AdaLoraLinear;
    }

    @Override
    public String supportedTypes() {
        return "Linear";
    }

    /**
     * fan_in_fan_out must agree with the layer's layout. A rank_pattern entry may keep no triplet: HF's allocator can
     * prune a module to rank 0, and such a module holds empty tensors and adds nothing.
     */
    @Override
    public void check(String path, Module target, AdaLoraConfig config) {
        Linear linear = target instanceof AdaLoraLinear l ? l.baseLayer() : (Linear) target;
        LoraMethod.checkLayout(path, linear, config.fanInFanOut());
    }

    @Override
    public TunerLayer inject(String path, Module target, String adapterName, AdaLoraConfig config, SplittableRandom rng) {
        AdaLoraLinear layer = target instanceof AdaLoraLinear existing ? existing : new AdaLoraLinear((Linear) target);
        layer.addAdapter(adapterName, path, config, rng);
        return layer;
    }

    /** Fills in fan_in_fan_out from the wrapped Linears when the config left it unset. */
    @Override
    public AdaLoraConfig appliedConfig(AdaLoraConfig config, Map<String, TunerLayer> targeted) {
        return config.fanInFanOut() != null ? config : config.withFanInFanOut(LoraMethod.derivedFanInFanOut(targeted));
    }

    /**
     * The rank allocator of the adapter: the orthogonal regularizer and the budget schedule, run by the trainer.
     * Fails if another AdaLoRA adapter in the same layers trains too (HF allows one trainable AdaLoRA adapter).
     */
    @Override
    public TrainingHook trainingHook(String adapterName, AdaLoraConfig config, Map<String, TunerLayer> layers,
            Consumer<AdaLoraConfig> configUpdate) {
        Map<String, AdaLoraLayer> own = new LinkedHashMap<>();
        layers.forEach((path, layer) -> {
            if (((AdaLoraLayer) layer).heldTriplets(adapterName).length == 0) {
                throw new IllegalStateException("AdaLoRA adapter '" + adapterName + "' holds no triplet in '" + path + "' (its rank_pattern keeps none, "
                        + "as HF's allocator can leave a module); peft4j runs, merges and saves such an adapter but cannot train it further");
            }
            for (String other : layer.adapterNames()) {
                if (!other.equals(adapterName) && layer.adapterParams(other).values().stream().anyMatch(Param::isTrainable)) {
                    throw new IllegalStateException("AdaLoRA supports only 1 trainable adapter, but '" + adapterName + "' and '" + other
                            + "' both train in '" + path + "'; make all adapters but the one to train inactive or load them frozen");
                }
            }
            own.put(path, (AdaLoraLayer) layer);
        });
        return new RankAllocator(adapterName, config, own, configUpdate);
    }
}
