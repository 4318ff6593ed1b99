package org.peft4j.examples.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.peft4j.core.data.CausalLmBatches;
import org.peft4j.core.data.ClassificationBatches;
import org.peft4j.core.data.ClassificationData;
import org.peft4j.core.data.JsonlDataset;
import org.peft4j.core.data.LabelSet;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.SequenceClassificationTask;
import org.peft4j.core.model.SequenceClassifier;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.tokenizer.Tokenizer;
import org.peft4j.core.train.BatchSource;
import org.peft4j.core.train.TrainableTask;

/**
 * What {@code train} and {@code eval} share: turning a model, a task kind and JSONL files into a
 * {@link TrainableTask} and its batch sources. Classification labels come from the training file (and are
 * saved as labels.json beside the model), or from a saved model's labels.json when evaluating.
 */
final class TaskSetup {
    private TaskSetup() {
    }

    /** Loads the classification data of {@code file}, with the given label set or the file's own. */
    static ClassificationData classificationData(Path file, LabelSet labels) throws IOException {
        return labels == null ? JsonlDataset.classification(file) : JsonlDataset.classification(file, labels);
    }

    /** The labels saved beside a model directory, or null. */
    static LabelSet savedLabels(String model) throws IOException {
        Path file = Path.of(model).resolve(LabelSet.FILE_NAME);
        return Files.isDirectory(Path.of(model)) && Files.isRegularFile(file) ? LabelSet.load(file) : null;
    }

    /** Load options for training {@code kind} on a model with {@code labels} classes. */
    static LoadOptions loadOptions(String model, TaskKind kind, int labels, long seed) throws IOException {
        LoadOptions described = ModelLoader.describedOptions(model);
        if (kind == TaskKind.CAUSAL_LM) {
            return new LoadOptions(described.dataType(), described.kernels(), ModelHead.CAUSAL_LM, 0, seed);
        }
        return new LoadOptions(described.dataType(), described.kernels(), ModelHead.SEQUENCE_CLASSIFICATION, labels, seed);
    }

    /** The trainable task for a loaded model. */
    static TrainableTask<TokenBatch> task(PretrainedModel model, TaskKind kind, String modelName) {
        if (kind == TaskKind.CLASSIFICATION) {
            if (!(model instanceof SequenceClassifier classifier)) {
                throw new IllegalArgumentException("--model " + modelName + " (" + model.modelType() + ") cannot classify sequences");
            }
            return new SequenceClassificationTask(classifier);
        }
        if (!(model instanceof CausalLm lm)) {
            throw new IllegalArgumentException("--model " + modelName + " (" + model.modelType() + ") is not a causal language model");
        }
        return new CausalLmTask(lm);
    }

    /** Batches of a classification file. */
    static BatchSource<TokenBatch> classificationBatches(ClassificationData data, Tokenizer tokenizer, int maxLength, int batchSize,
            Long shuffleSeed) {
        return shuffleSeed == null ? ClassificationBatches.evaluation(data, tokenizer, maxLength, batchSize)
                : ClassificationBatches.training(data, tokenizer, maxLength, batchSize, shuffleSeed);
    }

    /** Batches of a causal-LM file. */
    static BatchSource<TokenBatch> causalLmBatches(List<String> texts, Tokenizer tokenizer, int maxLength, int batchSize, Long shuffleSeed) {
        return shuffleSeed == null ? CausalLmBatches.evaluation(texts, tokenizer, maxLength, batchSize)
                : CausalLmBatches.training(texts, tokenizer, maxLength, batchSize, shuffleSeed);
    }
}
