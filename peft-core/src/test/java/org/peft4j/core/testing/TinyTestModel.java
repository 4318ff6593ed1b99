package org.peft4j.core.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelFactory;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.WeightSource;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry;

/**
 * A two-param model of the made-up architecture {@value #MODEL_TYPE} ({@code proj} Linear and a {@code scale}
 * vector), for testing checkpoint loading through the {@link java.util.ServiceLoader} registry.
 */
public final class TinyTestModel extends Module implements PretrainedModel {
    /** The model_type of this test architecture; no real factory claims it. */
    public static final String MODEL_TYPE = "peft4j-tiny-test";

    private final int hidden;
    private final Kernels kernels;
    private final Slot<Linear> proj;
    private final Param scale;

    TinyTestModel(int hidden, Linear proj, Param scale, Kernels kernels) {
        this.hidden = hidden;
        this.kernels = kernels;
        this.proj = child("proj", Linear.class, proj);
        this.scale = register(scale);
    }

    /** A randomly initialised model of width {@code hidden}. */
    public static TinyTestModel random(int hidden, long seed, DataType type) {
        SplittableRandom rng = new SplittableRandom(seed);
        Linear proj = Linear.normal(hidden, hidden, true, WeightLayout.OUT_IN, 0.5, type, rng);
        proj.params().get("bias").value().assign(Init.normal(type, 0.5, rng, hidden));
        return new TinyTestModel(hidden, proj, Param.frozen("scale", Init.normal(type, 1.0, rng, hidden)), KernelChoice.PORTABLE.resolve());
    }

    @Override
    public Module module() {
        return this;
    }

    @Override
    public Kernels kernels() {
        return kernels;
    }

    @Override
    public String modelType() {
        return MODEL_TYPE;
    }

    @Override
    public ObjectNode hfConfig() {
        ObjectNode config = JsonNodeFactory.instance.objectNode();
        config.put("model_type", MODEL_TYPE);
        config.put("hidden_size", hidden);
        config.put("torch_dtype", "float32");
        return config;
    }

    @Override
    public Map<String, INDArray> hfStateDict() {
        return new ParamRegistry(this).export(np -> true);
    }

    /** Builds a {@link TinyTestModel} from its config and weights; registered in the test resources' service file. */
    public static final class Factory implements ModelFactory {
        /** The no-argument constructor that {@link java.util.ServiceLoader} calls. */
        public Factory() {
        }

        @Override
        public Set<String> modelTypes() {
            return Set.of(MODEL_TYPE);
        }

        @Override
        public Set<ModelHead> heads() {
            return Set.of(ModelHead.BASE);
        }

        @Override
        public PretrainedModel load(JsonNode config, WeightSource weights, LoadOptions options) {
            int hidden = config.path("hidden_size").asInt(-1);
            if (hidden <= 0) {
                throw new IllegalArgumentException("hidden_size must be > 0, got " + config.get("hidden_size"));
            }
            Param weight = Param.frozen("weight", weights.get("proj.weight").castTo(options.dataType()));
            Param bias = Param.frozen("bias", weights.get("proj.bias").castTo(options.dataType()));
            Param scale = Param.frozen("scale", weights.get("scale").castTo(options.dataType()));
            return new TinyTestModel(hidden, new Linear(weight, bias, WeightLayout.OUT_IN), scale, options.kernels().resolve());
        }
    }
}
