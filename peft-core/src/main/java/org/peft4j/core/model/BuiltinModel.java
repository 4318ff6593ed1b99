package org.peft4j.core.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.io.onnx.OnnxHfNames;
import org.peft4j.core.io.onnx.OnnxWeights;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertFactory;
import org.peft4j.core.model.bert.BertForSequenceClassification.Pooling;
import org.peft4j.core.model.bert.BertModel;
import org.peft4j.core.tokenizer.HfTokenizer;

/**
 * A model that ships inside a jar, resolved by {@link Builtins} to files on disk: an ONNX file holding
 * the weights, the model's {@code tokenizer.json} and its HF config.
 *
 * @param name          the builtin name, e.g. {@code builtin:all-MiniLM-L6-v2}
 * @param onnxFile      the ONNX model (weights are read from its initializers)
 * @param tokenizerFile the HF {@code tokenizer.json}
 * @param config        the model's HF config
 */
public record BuiltinModel(String name, Path onnxFile, Path tokenizerFile, BertConfig config) {
    public BuiltinModel {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(onnxFile, "onnxFile");
        Objects.requireNonNull(tokenizerFile, "tokenizerFile");
        Objects.requireNonNull(config, "config");
    }

    /** Opens the ONNX file; close it when done. */
    public OnnxWeights openWeights() throws IOException {
        return OnnxWeights.open(onnxFile);
    }

    /** Opens the tokenizer; close it when done. */
    public HfTokenizer openTokenizer() throws IOException {
        return HfTokenizer.open(tokenizerFile);
    }

    /** The encoder (no pooler: sentence-transformers models pool by the mean), all params frozen. */
    public BertModel loadEncoder(DataType dataType, KernelChoice kernels) throws IOException {
        return (BertModel) load(new LoadOptions(dataType, kernels, ModelHead.BASE, 0, 0));
    }

    /**
     * The model with the head {@code options} ask for; a sequence classifier pools by the mean of the
     * tokens (the model has no pooler), and a classifier is initialised from {@code options.seed()}.
     */
    public PretrainedModel load(LoadOptions options) throws IOException {
        try (OnnxWeights onnx = openWeights()) {
            return new BertFactory(Pooling.MEAN).load(config.toHfJson(), OnnxHfNames.of(onnx), options);
        }
    }
}
