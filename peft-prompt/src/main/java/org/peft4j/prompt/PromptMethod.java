package org.peft4j.prompt;

import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.nn.Module;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.PeftMethod;
import org.peft4j.core.tuner.TunerLayer;

/** What the prompt learning methods share as {@link PeftMethod}s: they adapt the model's input and wrap nothing. */
public abstract class PromptMethod<C extends PromptLearningConfig> implements PeftMethod<C> {
    @Override
    public final boolean adaptsInput() {
        return true;
    }

    @Override
    public final boolean supports(Module module) {
        return false;
    }

    @Override
    public final String supportedTypes() {
        return "none (" + id() + " adapts the model's input, not modules)";
    }

    @Override
    public final TunerLayer inject(String path, Module target, String adapterName, C config, SplittableRandom rng) {
        throw new UnsupportedOperationException(id() + " wraps no modules");
    }

    /** The base model's token embedding table; fails naming the model when it has none. */
    protected static Param inputEmbedding(PretrainedModel base, String method) {
        return base.inputEmbedding().orElseThrow(() -> new IllegalArgumentException(method + " needs a model with a token embedding table; "
                + base.module().describe() + " has none"));
    }

    /** The data type of the model's token embeddings, which the prompt takes. */
    protected static DataType dataType(PretrainedModel base, String method) {
        return inputEmbedding(base, method).value().dataType();
    }

    /** Fails unless virtual tokens of width {@code tokenDim} fit the model's token embeddings. */
    protected static void checkWidth(PretrainedModel base, String method, int tokenDim) {
        long hidden = inputEmbedding(base, method).shape()[1];
        if (tokenDim != hidden) {
            throw new IllegalArgumentException(method + ": token_dim = " + tokenDim + " but the model's token embeddings have width " + hidden
                    + "; virtual tokens must have the hidden size");
        }
    }
}
