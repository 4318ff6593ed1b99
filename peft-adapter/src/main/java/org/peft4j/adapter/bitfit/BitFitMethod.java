package org.peft4j.adapter.bitfit;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.LayerNorm;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.tuner.ModulesToSave;
import org.peft4j.core.tuner.PeftMethod;
import org.peft4j.core.tuner.TunerLayer;

/**
 * BitFit as a {@link PeftMethod} (id {@value #ID}, peft_type {@value BitFitConfig#PEFT_TYPE}): wraps each
 * targeted Linear with a bias or LayerNorm in a {@link BitFitLayer}. Unset target_modules means every such
 * module of the model; a model without any (LLaMA-style decoders: bias-free projections, RMSNorm) is refused.
 */
public final class BitFitMethod implements PeftMethod<BitFitConfig> {
    /** The id of BitFit and the owner of its params. */
    public static final String ID = "bitfit";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public String peftType() {
        return BitFitConfig.PEFT_TYPE;
    }

    @Override
    public Class<BitFitConfig> configType() {
        return BitFitConfig.class;
    }

    @Override
    public BitFitConfig configFromHfJson(JsonNode json) {
        return BitFitConfig.fromHfJson(json);
    }

    /** Every module with a bias (a Linear with one, a LayerNorm, a BitFit wrapper), outside other wrappers; fails if there is none. */
    @Override
    public Optional<List<String>> defaultTargets(String modelType, Module root) {
        List<String> paths = new ArrayList<>();
        List<String> wrappers = new ArrayList<>();
        for (Map.Entry<String, Module> e : ModuleTree.modules(root).entrySet()) {
            String path = e.getKey();
            Module m = e.getValue();
            if (wrappers.stream().anyMatch(w -> path.startsWith(w + "."))) {
                continue;
            }
            if (m instanceof TunerLayer || m instanceof ModulesToSave) {
                wrappers.add(path);
            }
            if (!path.isEmpty() && (m instanceof BitFitLayer || hasBias(m))) {
                paths.add(path);
            }
        }
        if (paths.isEmpty()) {
            throw new IllegalArgumentException("BitFit trains bias terms, but this " + modelType + " model has none: its Linear layers have no "
                    + "bias and its norms (RMSNorm) no bias either, as in LLaMA-style decoders. Use a model with biases (BERT, GPT-2) "
                    + "or another method (LoRA, bottleneck adapters)");
        }
        return Optional.of(paths);
    }

    private static boolean hasBias(Module m) {
        return (m instanceof Linear l && l.bias() != null) || m instanceof LayerNorm;
    }

    @Override
    public boolean supports(Module module) {
        return module instanceof Linear || module instanceof LayerNorm || module instanceof BitFitLayer;
    }

    @Override
    public String supportedTypes() {
        return "Linear with a bias, LayerNorm";
    }

    /** A Linear must have a bias. */
    @Override
    public void check(String path, Module target, BitFitConfig config) {
        if (!(target instanceof BitFitLayer)) {
            BitFitLayer.biasOf(target, "'" + path + "'");
        }
    }

    @Override
    public TunerLayer inject(String path, Module target, String adapterName, BitFitConfig config, SplittableRandom rng) {
        BitFitLayer layer = target instanceof BitFitLayer existing ? existing : new BitFitLayer((Layer) target);
        layer.addAdapter(adapterName);
        return layer;
    }
}
