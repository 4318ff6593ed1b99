package org.peft4j.prompt.ptuning;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.nn.ActivationLayer;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.tuner.ModelHook;
import org.peft4j.prompt.PromptLearning;
import org.peft4j.prompt.PromptMethod;
import org.peft4j.prompt.PromptTable;
import org.peft4j.prompt.Sequential;
import org.peft4j.prompt.VirtualTokenHook;

/**
 * P-Tuning v1 as a method: a {@link VirtualTokenHook} whose prompt is the encoder's output (children
 * {@code embedding}, {@code lstm_head}, {@code mlp_head} as HF names them). The virtual tokens are prepended,
 * as HF PEFT does, or placed around the input as the config's {@link org.peft4j.prompt.PromptTemplate} says.
 */
public final class PTuningMethod extends PromptMethod<PTuningConfig> {
    public static final String ID = "p_tuning";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public String peftType() {
        return PTuningConfig.PEFT_TYPE;
    }

    @Override
    public Class<PTuningConfig> configType() {
        return PTuningConfig.class;
    }

    @Override
    public PTuningConfig configFromHfJson(JsonNode json) {
        return PTuningConfig.fromHfJson(json);
    }

    @Override
    public ModelHook createHook(PretrainedModel base, String adapterName, PTuningConfig config, SplittableRandom rng) {
        PromptLearning sizes = config.base().resolve(base, false);
        int d = sizes.tokenDim();
        checkWidth(base, ID, d);
        int h = config.encoderHiddenSize() != null ? config.encoderHiddenSize() : d;
        PTuningConfig applied = config.withBase(sizes).withEncoderHiddenSize(h);
        DataType type = dataType(base, ID);
        var table = PromptTable.normalTable(ID, sizes.numVirtualTokens(), d, type, rng);
        Map<String, Layer> encoder = new LinkedHashMap<>();
        if (!sizes.inferenceMode()) {
            if (config.encoderType() == PTuningConfig.EncoderType.LSTM) {
                encoder.put("lstm_head", new Lstm(ID, d, h, config.encoderNumLayers(), type, rng));
                encoder.put("mlp_head", new Sequential(List.of(PromptTable.torchLinear(ID, 2 * h, 2 * h, type, rng),
                        new ActivationLayer(Activation.RELU), PromptTable.torchLinear(ID, 2 * h, d, type, rng))));
            } else {
                encoder.put("mlp_head", new Sequential(List.of(PromptTable.torchLinear(ID, d, h, type, rng), new ActivationLayer(Activation.RELU),
                        PromptTable.torchLinear(ID, h, h, type, rng), new ActivationLayer(Activation.RELU),
                        PromptTable.torchLinear(ID, h, d, type, rng))));
            }
        }
        return new VirtualTokenHook(ID, applied, new PromptTable(table, encoder), base.kernels(), config.template());
    }
}
