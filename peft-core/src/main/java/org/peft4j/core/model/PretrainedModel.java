package org.peft4j.core.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Module;

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
}
