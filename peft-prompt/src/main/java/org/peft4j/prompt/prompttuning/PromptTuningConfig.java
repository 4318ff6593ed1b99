package org.peft4j.prompt.prompttuning;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.peft4j.prompt.PromptLearning;
import org.peft4j.prompt.PromptLearningConfig;

/**
 * Prompt Tuning (Lester et al., arXiv 2104.08691; HF PEFT's {@code PromptTuningConfig}): n learned embeddings
 * prepended to the token embeddings. Init {@link Init#RANDOM} (N(0, 1), as torch's Embedding), {@link Init#TEXT}
 * (the embeddings of the tokens of {@code initText}, repeated or truncated to n; the ids come from the caller's
 * tokenizer in {@code initTokenIds}) or {@link Init#SAMPLE_VOCAB} (embeddings of uniformly drawn vocabulary ids).
 *
 * @param base                the shared prompt fields
 * @param init                how the prompt starts
 * @param initText            HF's prompt_tuning_init_text (saved; TEXT only)
 * @param initTokenIds        the token ids of initText (not saved; needed to build a TEXT prompt for training)
 * @param tokenizerNameOrPath HF's tokenizer_name_or_path (saved), or null
 */
public record PromptTuningConfig(PromptLearning base, Init init, String initText, List<Integer> initTokenIds, String tokenizerNameOrPath)
        implements PromptLearningConfig {
    public static final String PEFT_TYPE = "PROMPT_TUNING";
    private static final Set<String> KEYS = Set.of("prompt_tuning_init", "prompt_tuning_init_text", "tokenizer_name_or_path", "tokenizer_kwargs");

    /** HF's {@code PromptTuningInit}. */
    public enum Init {
        RANDOM, TEXT, SAMPLE_VOCAB;

        static Init parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT).replace('-', '_'));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("prompt_tuning_init must be one of RANDOM, TEXT, SAMPLE_VOCAB, got '" + s + "'");
            }
        }
    }

    public PromptTuningConfig {
        java.util.Objects.requireNonNull(base, "base");
        init = init == null ? Init.RANDOM : init;
        initTokenIds = initTokenIds == null ? null : List.copyOf(initTokenIds);
        if (init == Init.TEXT && (initText == null || initText.isEmpty())) {
            throw new IllegalArgumentException("prompt_tuning_init TEXT needs prompt_tuning_init_text");
        }
        if (initTokenIds != null && initTokenIds.isEmpty()) {
            throw new IllegalArgumentException("the init text must give at least one token id");
        }
    }

    /** n virtual tokens, random init. */
    public static PromptTuningConfig of(int numVirtualTokens) {
        return new PromptTuningConfig(PromptLearning.of(numVirtualTokens), Init.RANDOM, null, null, null);
    }

    /** This config starting from the embeddings of {@code text}, whose tokens are {@code ids}. */
    public PromptTuningConfig withTextInit(String text, List<Integer> ids, String tokenizer) {
        return new PromptTuningConfig(base, Init.TEXT, text, ids, tokenizer);
    }

    /** This config with another init (not TEXT; see {@link #withTextInit}). */
    public PromptTuningConfig withInit(Init newInit) {
        return new PromptTuningConfig(base, newInit, initText, initTokenIds, tokenizerNameOrPath);
    }

    @Override
    public PromptTuningConfig withBase(PromptLearning newBase) {
        return new PromptTuningConfig(newBase, init, initText, initTokenIds, tokenizerNameOrPath);
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    @Override
    public ObjectNode toHfJson() {
        ObjectNode n = PromptLearning.object();
        base.writeHfJson(n, PEFT_TYPE);
        n.put("prompt_tuning_init", init.name());
        if (initText == null) {
            n.putNull("prompt_tuning_init_text");
        } else {
            n.put("prompt_tuning_init_text", initText);
        }
        if (tokenizerNameOrPath == null) {
            n.putNull("tokenizer_name_or_path");
        } else {
            n.put("tokenizer_name_or_path", tokenizerNameOrPath);
        }
        n.putNull("tokenizer_kwargs");
        return n;
    }

    /** Reads an adapter_config.json of peft_type PROMPT_TUNING. */
    public static PromptTuningConfig fromHfJson(JsonNode json) {
        PromptLearning base = PromptLearning.fromHfJson(json, PEFT_TYPE, KEYS);
        Init init = json.hasNonNull("prompt_tuning_init") ? Init.parse(json.get("prompt_tuning_init").asText()) : Init.RANDOM;
        return new PromptTuningConfig(base, init, json.hasNonNull("prompt_tuning_init_text") ? json.get("prompt_tuning_init_text").asText() : null,
                null, json.hasNonNull("tokenizer_name_or_path") ? json.get("tokenizer_name_or_path").asText() : null);
    }
}
