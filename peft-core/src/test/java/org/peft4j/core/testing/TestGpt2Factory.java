package org.peft4j.core.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelFactory;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.WeightSource;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.param.ParamRegistry;

/**
 * A test double of a GPT-2 factory: builds a {@link Gpt2Model} of the config's shape and copies every param from
 * the weights by its HF name, failing on a missing or unexpected tensor. Not registered as a service (the real
 * factory is), so tests pass it to a registry explicitly.
 */
public final class TestGpt2Factory implements ModelFactory {
    @Override
    public Set<String> modelTypes() {
        return Set.of("gpt2");
    }

    @Override
    public Set<ModelHead> heads() {
        return Set.of(ModelHead.CAUSAL_LM);
    }

    @Override
    public PretrainedModel load(JsonNode config, WeightSource weights, LoadOptions options) {
        Gpt2Model model = Gpt2Model.random(Gpt2Config.fromHfJson(config), options.seed(), options.dataType(), options.kernels());
        ParamRegistry registry = new ParamRegistry(model);
        List<String> missing = new ArrayList<>();
        Set<String> used = new TreeSet<>();
        for (ParamRegistry.NamedParam np : registry.all()) {
            if (!weights.contains(np.path())) {
                missing.add(np.path());
                continue;
            }
            INDArray source = weights.get(np.path());     // may be shared (WeightSource.of), so never closed here
            INDArray cast = source.castTo(options.dataType());
            try {
                np.param().load(cast, np.path());
            } finally {
                if (cast != source) {
                    cast.close();
                }
            }
            used.add(np.path());
        }
        Set<String> unexpected = new TreeSet<>(weights.names());
        unexpected.removeAll(used);
        if (!missing.isEmpty() || !unexpected.isEmpty()) {
            throw new IllegalArgumentException("weights do not match GPT-2: missing " + missing + ", unexpected " + unexpected);
        }
        return model;
    }
}
