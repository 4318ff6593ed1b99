package org.peft4j.examples.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.peft4j.core.tokenizer.Tokenizer;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.prompt.PromptLearningConfig;
import org.peft4j.prompt.PromptTemplate;
import org.peft4j.prompt.prefix.PrefixTuningConfig;
import org.peft4j.prompt.prompttuning.PromptTuningConfig;
import org.peft4j.prompt.ptuning.PTuningConfig;
import picocli.CommandLine.Option;

/**
 * The options of {@code peft4j train --method prompt|ptuning|prefix|ptuning-v2} (a picocli mixin): Prompt Tuning,
 * P-Tuning v1, Prefix Tuning (with the projection) and P-Tuning v2 (prefix without projection).
 */
final class PromptOptions {
    /** The --method values these options serve. */
    static final List<String> METHODS = List.of("prompt", "ptuning", "prefix", "ptuning-v2");

    @Option(names = "--num-virtual-tokens", paramLabel = "N", defaultValue = "20", description = "Prompt methods: virtual tokens (prefix positions).")
    int numVirtualTokens;

    @Option(names = "--prompt-init", paramLabel = "KIND", defaultValue = "random",
            description = "--method prompt: random, text (the embeddings of --prompt-init-text) or vocab (of sampled vocabulary tokens).")
    String promptInit;

    @Option(names = "--prompt-init-text", paramLabel = "TEXT", description = "--method prompt with --prompt-init text: the text.")
    String promptInitText;

    @Option(names = "--encoder-type", paramLabel = "KIND", defaultValue = "mlp", description = "--method ptuning: the prompt encoder, mlp or lstm.")
    String encoderType;

    @Option(names = "--encoder-hidden-size", paramLabel = "N", description = "--method ptuning or prefix: the encoder's hidden size (default: hidden size).")
    Integer encoderHiddenSize;

    @Option(names = "--ptuning-template", paramLabel = "TEMPLATE",
            description = "--method ptuning: where the virtual tokens go around the input, counts and 'input' once, e.g. \"3,input,3\" "
                    + "(the counts sum to --num-virtual-tokens; default: all before the input).")
    String ptuningTemplate;

    @Option(names = "--prefix-projection", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "--method prefix: reparameterize the prefix through an MLP while training (--no-prefix-projection: as ptuning-v2).")
    boolean prefixProjection;

    /** True if {@code method} is a prompt method. */
    static boolean handles(String method) {
        return METHODS.contains(method);
    }

    /**
     * The config of {@code method} with {@code taskType}; the tokenizer gives the ids of --prompt-init-text, and
     * {@code tokenizerNameOrPath} (where HF's AutoTokenizer finds it) is saved with them.
     */
    PeftConfig config(String method, TaskType taskType, String tokenizerNameOrPath, Tokenizer tokenizer) {
        if (ptuningTemplate != null && !method.equals("ptuning")) {
            throw new IllegalArgumentException("--ptuning-template applies to --method ptuning only, not " + method);
        }
        PromptLearningConfig config = switch (method) {
            case "prompt" -> promptTuning(tokenizerNameOrPath, tokenizer);
            case "ptuning" -> PTuningConfig.of(numVirtualTokens, PTuningConfig.EncoderType.parse(encoderType)).withEncoderHiddenSize(encoderHiddenSize)
                    .withTemplate(ptuningTemplate == null ? null : PromptTemplate.parse(ptuningTemplate));
            case "prefix" -> prefixProjection ? PrefixTuningConfig.prefixTuning(numVirtualTokens, encoderHiddenSize)
                    : PrefixTuningConfig.pTuningV2(numVirtualTokens);
            case "ptuning-v2" -> PrefixTuningConfig.pTuningV2(numVirtualTokens);
            default -> throw new IllegalArgumentException("not a prompt method: " + method + "; prompt methods: " + METHODS);
        };
        return config.withBase(config.base().withTaskType(taskType));
    }

    private PromptTuningConfig promptTuning(String tokenizerNameOrPath, Tokenizer tokenizer) {
        PromptTuningConfig config = PromptTuningConfig.of(numVirtualTokens);
        switch (promptInit.toLowerCase(Locale.ROOT)) {
            case "random":
                return config;
            case "vocab":
                return config.withInit(PromptTuningConfig.Init.SAMPLE_VOCAB);
            case "text":
                if (promptInitText == null || promptInitText.isBlank()) {
                    throw new IllegalArgumentException("--prompt-init text needs --prompt-init-text");
                }
                List<Integer> ids = new ArrayList<>();
                for (int id : tokenizer.encode(promptInitText, Integer.MAX_VALUE).ids()) {
                    ids.add(id);
                }
                return config.withTextInit(promptInitText, ids, tokenizerNameOrPath);
            default:
                throw new IllegalArgumentException("--prompt-init must be random, text or vocab, got '" + promptInit + "'");
        }
    }
}
