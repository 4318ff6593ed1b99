package org.peft4j.examples.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.peft4j.core.data.LabelSet;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.tuner.AdapterFiles;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;

/**
 * The {@code --adapter DIR} of the CLI: an adapter in HF PEFT's layout ({@code adapter_config.json} +
 * {@code adapter_model.safetensors}, with {@code labels.json} for a classifier), applied to its base model.
 */
final class AdapterSupport {
    private AdapterSupport() {
    }

    /** The adapter's config; fails naming the directory when it is not an adapter, or the file when it is not a JSON object. */
    static JsonNode config(Path dir) throws IOException {
        if (!Files.isRegularFile(dir.resolve(AdapterFiles.CONFIG))) {
            throw new IllegalArgumentException("--adapter " + dir + ": not an adapter directory (" + AdapterFiles.CONFIG + " is missing)");
        }
        return AdapterFiles.readConfig(dir);
    }

    /** The load options of the base model an adapter was trained on: its head from task_type, its labels from labels.json. */
    static LoadOptions baseOptions(Path dir, LoadOptions described) throws IOException {
        JsonNode config = config(dir);
        String task = config.path("task_type").asText("");
        ModelHead head = described.head();
        if (!task.isEmpty()) {
            TaskType type = TaskType.parse(task);
            head = switch (type) {
                case SEQ_CLS -> ModelHead.SEQUENCE_CLASSIFICATION;
                case TOKEN_CLS -> ModelHead.TOKEN_CLASSIFICATION;
                case CAUSAL_LM -> ModelHead.CAUSAL_LM;
                case FEATURE_EXTRACTION -> ModelHead.BASE;
                default -> throw new IllegalArgumentException("--adapter " + dir + ": task_type " + type + " is not supported here; supported: "
                        + "SEQ_CLS, TOKEN_CLS, CAUSAL_LM, FEATURE_EXTRACTION");
            };
        }
        int labels = 0;
        if (head == ModelHead.SEQUENCE_CLASSIFICATION || head == ModelHead.TOKEN_CLASSIFICATION) {
            Path file = dir.resolve(LabelSet.FILE_NAME);
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("--adapter " + dir + ": a classification adapter needs " + LabelSet.FILE_NAME
                        + " beside it (peft4j train writes one)");
            }
            labels = LabelSet.load(file).size();
        }
        return new LoadOptions(described.dataType(), described.kernels(), head, labels, described.seed());
    }

    /** Loads the base model and applies the adapter at {@code dir} (frozen, active). */
    static PeftModel<PretrainedModel> load(String model, Path dir, LoadOptions described) throws IOException {
        return load(model, dir, described, null);
    }

    /** Loads the base model, quantizes it with {@code quantization} (if not null) and applies the adapter at {@code dir}. */
    static PeftModel<PretrainedModel> load(String model, Path dir, LoadOptions described, org.peft4j.quant.Quantization quantization)
            throws IOException {
        PretrainedModel base = QuantizeOptions.apply(ModelLoader.load(model, baseOptions(dir, described)), quantization);
        return PeftModel.load(base, dir);
    }
}
