package org.peft4j.examples.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.peft4j.core.data.LabelSet;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.tuner.PeftModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code peft4j merge}: folds an adapter into its base model and saves the result as an HF checkpoint. */
@Command(name = "merge", sortOptions = false,
        description = {"Merge an adapter (HF PEFT's layout) into its base model and write the merged model as an HF checkpoint",
            "(config.json + model.safetensors, with labels.json and tokenizer.json when there are any). The merge is safe:",
            "computed on a copy and checked for NaN and infinity before the weights change. With --quantize, the adapter is applied",
            "to the quantized base it was trained on (QLoRA), whose weights are then dequantized: the merged model is float32."})
public final class MergeCommand extends CliCommand {
    @picocli.CommandLine.Mixin
    QuantizeOptions quantizeOptions = new QuantizeOptions();

    @Option(names = "--model", paramLabel = "PATH", required = true, description = "The base model the adapter was trained on.")
    String model;

    @Option(names = "--adapter", paramLabel = "DIR", required = true, description = "The adapter.")
    Path adapter;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Where to write the merged model.")
    Path out;

    @Override
    public Integer call() throws Exception {
        PeftModel<PretrainedModel> peft = AdapterSupport.load(model, adapter, ModelLoader.describedOptions(model), quantizeOptions.quantization(null));
        if (quantizeOptions.requested()) {
            org.peft4j.quant.Quantization.dequantize(peft.base().module());   // merge in float32 into the weights the adapter was trained on
        }
        PretrainedModel merged = peft.mergeAndUnload(peft.adapterNames(), true);
        HfCheckpoint.save(merged, out);
        Path labels = adapter.resolve(LabelSet.FILE_NAME);
        if (Files.isRegularFile(labels)) {
            Files.copy(labels, out.resolve(LabelSet.FILE_NAME), StandardCopyOption.REPLACE_EXISTING);
        }
        Path tokenizer = Files.isRegularFile(adapter.resolve(ModelLoader.TOKENIZER_FILE)) ? adapter.resolve(ModelLoader.TOKENIZER_FILE)
                : ModelLoader.tokenizerFile(model, null);
        if (tokenizer != null) {
            Files.copy(tokenizer, out.resolve(ModelLoader.TOKENIZER_FILE), StandardCopyOption.REPLACE_EXISTING);
        }
        out().println("{\"merged\":\"" + out.toString().replace("\\", "\\\\").replace("\"", "\\\"") + "\",\"adapters\":"
                + new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(peft.adapterNames()) + "}");
        out().flush();
        return Peft4jCli.EXIT_OK;
    }
}
