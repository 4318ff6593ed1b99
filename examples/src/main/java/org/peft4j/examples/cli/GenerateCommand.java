package org.peft4j.examples.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.generate.GenerationConfig;
import org.peft4j.core.model.generate.Generator;
import org.peft4j.core.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code peft4j generate}: continues a prompt with a causal LM (KV cache; greedy or sampled). */
@Command(name = "generate", sortOptions = false, showDefaultValues = true,
        description = {"Continue a prompt with a causal LM, reusing cached keys and values, and print one JSON line:",
            "{\"prompt\":...,\"text\":...,\"ids\":[...]}. Greedy unless --temperature, --top-k or --top-p ask for sampling."})
public final class GenerateCommand extends CliCommand {
    @picocli.CommandLine.Mixin
    QuantizeOptions quantizeOptions = new QuantizeOptions();

    @Option(names = "--model", paramLabel = "PATH", required = true, description = "A causal LM (an HF checkpoint directory).")
    String model;

    @Option(names = "--prompt", paramLabel = "TEXT", required = true, description = "The text to continue.")
    String prompt;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "50", description = "Tokens to generate at most.")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", description = "Sample at this temperature.")
    Double temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Sample from the K most likely tokens.")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", description = "Sample from the smallest set of tokens with probability >= P.")
    Double topP;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "42", description = "Seed of sampling.")
    long seed;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "An HF tokenizer.json, if none is beside the model.")
    java.nio.file.Path tokenizerFile;

    @Option(names = "--adapter", paramLabel = "DIR", description = "An adapter (HF PEFT's layout) applied to the model, e.g. a prefix.")
    java.nio.file.Path adapter;

    @Override
    public Integer call() throws Exception {
        GenerationConfig config;
        try {
            GenerationConfig.Builder b = GenerationConfig.builder().maxNewTokens(maxNewTokens);
            if (temperature != null || topK != null || topP != null) {
                b.sampling(seed);
                if (temperature != null) {
                    b.temperature(temperature);
                }
                if (topK != null) {
                    b.topK(topK);
                }
                if (topP != null) {
                    b.topP(topP);
                }
            }
            config = b.build();
        } catch (IllegalArgumentException e) {
            throw usageError(e.getMessage().replace("maxNewTokens", "--max-new-tokens").replace("temperature", "--temperature")
                    .replace("topK", "--top-k").replace("topP", "--top-p"));
        }
        org.peft4j.quant.Quantization quantization = quantizeOptions.quantization(null);
        PretrainedModel loaded = adapter == null ? QuantizeOptions.apply(ModelLoader.load(model, LoadOptions.of(ModelHead.CAUSAL_LM)), quantization)
                : AdapterSupport.load(model, adapter, LoadOptions.of(ModelHead.CAUSAL_LM), quantization).base();
        if (!(loaded instanceof CausalLm lm)) {
            throw new IllegalArgumentException("--model " + model + " (" + loaded.modelType() + ") is not a causal language model");
        }
        int[] generated;
        String text;
        try (Tokenizer tokenizer = ModelLoader.tokenizer(model, tokenizerFile)) {
            int[] ids = tokenizer.encode(prompt, Integer.MAX_VALUE).ids();
            if (ids.length == 0) {
                throw usageError("--prompt encodes to no tokens");
            }
            generated = new Generator(lm).generate(ids, config);
            text = tokenizer.decode(generated);
        }
        ObjectNode json = new ObjectMapper().createObjectNode();
        json.put("prompt", prompt);
        json.put("text", text);
        ArrayNode array = json.putArray("ids");
        for (int id : generated) {
            array.add(id);
        }
        out().println(new ObjectMapper().writeValueAsString(json));
        out().flush();
        return Peft4jCli.EXIT_OK;
    }
}
