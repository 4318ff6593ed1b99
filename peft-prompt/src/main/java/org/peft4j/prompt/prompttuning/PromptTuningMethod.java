package org.peft4j.prompt.prompttuning;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.ModelHook;
import org.peft4j.prompt.PromptLearning;
import org.peft4j.prompt.PromptMethod;
import org.peft4j.prompt.PromptTable;
import org.peft4j.prompt.VirtualTokenHook;

/** Prompt Tuning as a method: a {@link VirtualTokenHook} over a plain table {@code [n, hidden]}. */
public final class PromptTuningMethod extends PromptMethod<PromptTuningConfig> {
    public static final String ID = "prompt_tuning";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public String peftType() {
        return PromptTuningConfig.PEFT_TYPE;
    }

    @Override
    public Class<PromptTuningConfig> configType() {
        return PromptTuningConfig.class;
    }

    @Override
    public PromptTuningConfig configFromHfJson(JsonNode json) {
        return PromptTuningConfig.fromHfJson(json);
    }

    @Override
    public ModelHook createHook(PretrainedModel base, String adapterName, PromptTuningConfig config, SplittableRandom rng) {
        PromptLearning sizes = config.base().resolve(base, false);
        PromptTuningConfig applied = config.withBase(sizes);
        checkWidth(base, ID, sizes.tokenDim());
        DataType type = dataType(base, ID);
        int n = sizes.numVirtualTokens();
        Param table = PromptTable.normalTable(ID, n, sizes.tokenDim(), type, rng);
        if (!sizes.inferenceMode() && config.init() != PromptTuningConfig.Init.RANDOM) {
            table.value().assign(initialRows(base, config, n, rng));
        }
        return new VirtualTokenHook(ID, applied, new PromptTable(table, Map.of()), base.kernels());
    }

    /** The embedding rows of the init text's ids (repeated or truncated to n) or of n ids drawn from the vocabulary. */
    private static INDArray initialRows(PretrainedModel base, PromptTuningConfig config, int n, SplittableRandom rng) {
        INDArray embeddings = inputEmbedding(base, ID).value();
        int vocab = (int) embeddings.rows();
        int[] ids = new int[n];
        if (config.init() == PromptTuningConfig.Init.TEXT) {
            if (config.initTokenIds() == null) {
                throw new IllegalArgumentException("prompt_tuning_init TEXT needs the token ids of the init text '" + config.initText()
                        + "' (PromptTuningConfig.withTextInit) to build a prompt for training");
            }
            for (int i = 0; i < n; i++) {
                ids[i] = config.initTokenIds().get(i % config.initTokenIds().size());     // HF: (ids * reps)[:n]
            }
        } else {
            for (int i = 0; i < n; i++) {
                ids[i] = rng.nextInt(vocab);
            }
        }
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("init token id " + id + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        return Nd4j.pullRows(embeddings, 1, ids, 'c');
    }
}
