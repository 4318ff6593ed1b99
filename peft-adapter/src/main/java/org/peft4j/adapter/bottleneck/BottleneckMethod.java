package org.peft4j.adapter.bottleneck;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.model.bert.ResidualOutput;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.LayerNorm;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.nn.RmsNorm;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.tuner.PeftMethod;
import org.peft4j.core.tuner.TunerLayer;

/**
 * Bottleneck adapters as a {@link PeftMethod} (id {@value #ID}, peft_type {@value BottleneckConfig#PEFT_TYPE}):
 * Houlsby and Pfeiffer wrap a layer in a sequential {@link AdapterLayer}; parallel wraps a layer in a
 * parallel {@link AdapterLayer} or BERT's residual output in a {@link ParallelAdapterOutput}. The feature sizes
 * come from the Linear layers inside the target: the first one's input and the last one's output.
 */
public final class BottleneckMethod implements PeftMethod<BottleneckConfig> {
    /** The id of bottleneck adapters and the owner of their params. */
    public static final String ID = "bottleneck";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public String peftType() {
        return BottleneckConfig.PEFT_TYPE;
    }

    @Override
    public Class<BottleneckConfig> configType() {
        return BottleneckConfig.class;
    }

    @Override
    public BottleneckConfig configFromHfJson(JsonNode json) {
        return BottleneckConfig.fromHfJson(json);
    }

    @Override
    public boolean supports(Module module) {
        return module instanceof Layer || module instanceof ResidualOutput;
    }

    @Override
    public String supportedTypes() {
        return "Linear or another Layer with Linear layers inside (houlsby, pfeiffer, parallel); BERT's residual outputs (parallel)";
    }

    /** With train_layer_norms, the weight and bias of every LayerNorm and the weight of every RMSNorm of the model. */
    @Override
    public List<String> trainedBaseParams(BottleneckConfig config, Module root) {
        if (!config.trainLayerNorms()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        ModuleTree.modules(root).forEach((path, m) -> {
            if (m instanceof LayerNorm || m instanceof RmsNorm) {
                m.params().keySet().forEach(p -> out.add(path.isEmpty() ? p : path + "." + p));
            }
        });
        return out;
    }

    /** The target must hold a Linear (for its sizes), suit the placement, and not hold adapters of the other kind. */
    @Override
    public void check(String path, Module target, BottleneckConfig config) {
        if (target instanceof BottleneckLayer existing) {
            if (existing.adapters().parallel() == config.placement().sequential()) {
                throw new IllegalArgumentException("'" + path + "' holds " + existing.kind() + " adapters; a " + config.placement().hfName()
                        + " adapter cannot share it (sequential and parallel adapters need separate modules)");
            }
            return;
        }
        if (target instanceof ResidualOutput && config.placement().sequential()) {
            throw new IllegalArgumentException("'" + path + "' is a residual output (LayerNorm(dense(h) + residual)); " + config.placement().hfName()
                    + " adapters wrap its dense projection instead ('" + path + ".dense'); only parallel adapters wrap the output");
        }
        linears(path, target);
    }

    @Override
    public TunerLayer inject(String path, Module target, String adapterName, BottleneckConfig config, SplittableRandom rng) {
        BottleneckLayer layer;
        if (target instanceof BottleneckLayer existing) {
            layer = existing;
        } else {
            List<Linear> linears = linears(path, target);
            int in = linears.get(0).inFeatures();
            int out = linears.get(linears.size() - 1).outFeatures();
            DataType type = new ParamRegistry(target).all().get(0).param().value().dataType();
            if (target instanceof ResidualOutput residual) {
                layer = new ParallelAdapterOutput(residual, out, type);
            } else {
                boolean parallel = !config.placement().sequential();
                layer = new AdapterLayer((Layer) target, parallel, parallel ? in : out, out, type);
            }
        }
        layer.addAdapter(adapterName, config, rng);
        return layer;
    }

    /** The Linear layers in {@code target} (itself, or those below it) in tree order; fails when there is none. */
    private static List<Linear> linears(String path, Module target) {
        List<Linear> out = ModuleTree.modules(target).values().stream().filter(Linear.class::isInstance).map(Linear.class::cast).toList();
        if (out.isEmpty()) {
            throw new IllegalArgumentException("cannot size a bottleneck adapter for '" + path + "' (" + target.getClass().getSimpleName()
                    + "): it holds no Linear layer; target a projection or a block with projections inside");
        }
        return out;
    }
}
