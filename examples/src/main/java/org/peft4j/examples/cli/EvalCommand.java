package org.peft4j.examples.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.peft4j.core.data.ClassificationData;
import org.peft4j.core.data.JsonlDataset;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.tokenizer.Tokenizer;
import org.peft4j.core.train.BatchSource;
import org.peft4j.core.train.EvalResult;
import org.peft4j.core.train.TrainableTask;
import org.peft4j.core.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code peft4j eval}: the metrics of a model on a JSONL file, as one JSON line. */
@Command(name = "eval", sortOptions = false, showDefaultValues = true,
        description = {"Evaluate a model on JSONL data and print one JSON line: accuracy, f1, mcc and eval_loss for",
            "classification (labels from the model's labels.json, else from the data), eval_loss and perplexity for a causal LM."})
public final class EvalCommand extends CliCommand {
    @picocli.CommandLine.Mixin
    QuantizeOptions quantizeOptions = new QuantizeOptions();

    @Option(names = "--model", paramLabel = "PATH", required = true, description = "The model.")
    String model;

    @Option(names = "--task", paramLabel = "TASK", required = true, description = "classification or causal-lm.")
    String task;

    @Option(names = "--data", paramLabel = "FILE", required = true, description = "Evaluation data (JSONL).")
    Path data;

    @Option(names = "--adapter", paramLabel = "DIR", description = "An adapter (HF PEFT's layout) to apply to the model.")
    Path adapter;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "32", description = "Examples per batch.")
    int batchSize;

    @Option(names = "--max-length", paramLabel = "N", defaultValue = "64", description = "Tokens per example at most.")
    int maxLength;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "An HF tokenizer.json, if none is beside the model.")
    Path tokenizerFile;

    @Option(names = "--kernels", paramLabel = "KIND", defaultValue = "auto", description = "auto, portable or cpu.")
    String kernels;

    @Override
    public Integer call() throws Exception {
        TaskKind kind;
        KernelChoice kernelChoice;
        try {
            kind = TaskKind.parse(task);
            kernelChoice = KernelChoice.parse(kernels);
        } catch (IllegalArgumentException e) {
            throw usageError(e.getMessage());
        }
        if (batchSize <= 0 || maxLength <= 0) {
            throw usageError("--batch-size and --max-length must be > 0");
        }
        if (!Files.isRegularFile(data)) {
            throw usageError("--data: no such file: " + data);
        }
        ClassificationData examples = null;
        int labels = 0;
        if (kind == TaskKind.CLASSIFICATION) {
            examples = TaskSetup.classificationData(data, TaskSetup.savedLabels(adapter != null ? adapter.toString() : model));
            labels = examples.labelSet().size();
        }
        LoadOptions described = TaskSetup.loadOptions(model, kind, labels, 42);
        LoadOptions options = new LoadOptions(described.dataType(), kernelChoice, described.head(), described.numLabels(), described.seed());
        org.peft4j.quant.Quantization quantization = quantizeOptions.quantization(null);
        PretrainedModel loaded = adapter == null ? QuantizeOptions.apply(ModelLoader.load(model, options), quantization)
                : AdapterSupport.load(model, adapter, options, quantization).base();
        TrainableTask<TokenBatch> trainable = TaskSetup.task(loaded, kind, model);
        BatchSource<TokenBatch> batches;
        try (Tokenizer tokenizer = ModelLoader.tokenizer(model, tokenizerFile)) {
            batches = kind == TaskKind.CLASSIFICATION
                    ? TaskSetup.classificationBatches(examples, tokenizer, maxLength, batchSize, null)
                    : TaskSetup.causalLmBatches(JsonlDataset.texts(data), tokenizer, maxLength, batchSize, null);
        }
        EvalResult result = Trainer.evaluate(trainable, batches);
        ObjectNode json = new ObjectMapper().createObjectNode();
        json.put("task", kind.toString());
        json.put("model", model);
        json.put("examples", result.targets());
        TrainCommand.putMetrics(json, "", result);
        out().println(new ObjectMapper().writeValueAsString(json));
        out().flush();
        return Peft4jCli.EXIT_OK;
    }
}
