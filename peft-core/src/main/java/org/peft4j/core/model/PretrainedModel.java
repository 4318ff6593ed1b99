package org.peft4j.core.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.Optional;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.InputHooks;
import org.peft4j.core.nn.Module;
import org.peft4j.core.param.Param;

/** A model of an HF architecture: its module tree, and how it is saved as an HF checkpoint. */
public interface PretrainedModel {
    /** The model's module tree (params, freezing, where methods plug in). */
    Module module();

    /** The kernels this model runs with. */
    Kernels kernels();

    /** HF's {@code model_type}: "gpt2", "bert", "llama", ... */
    String modelType();

    /** The {@code config.json} that describes this model to HF transformers (and to peft4j). */
    ObjectNode hfConfig();

    /**
     * The tensors of an HF checkpoint of this model, by HF's names and in HF's layouts; tied weights
     * appear once, as HF saves them. Values are the live param arrays (no copies).
     */
    Map<String, INDArray> hfStateDict();

    /** Where methods plug in between the token embeddings and the layers (virtual tokens, past keys/values); empty if nowhere. */
    default Optional<InputHooks> inputHooks() {
        return Optional.empty();
    }

    /** The token embedding table {@code [vocab, hidden]} (HF's {@code get_input_embeddings()}); empty if the model has none. */
    default Optional<Param> inputEmbedding() {
        return Optional.empty();
    }
}
