package org.peft4j.core.tuner;

import java.util.Arrays;
import java.util.stream.Collectors;

/** HF PEFT's {@code task_type}: what the adapted model computes, as written to {@code adapter_config.json}. */
public enum TaskType {
    /** Sequence classification ({@code *ForSequenceClassification}); its classifier head is trained as modules_to_save. */
    SEQ_CLS,
    /** Encoder-decoder language modelling. */
    SEQ_2_SEQ_LM,
    /** Next-token prediction ({@code *ForCausalLM}). */
    CAUSAL_LM,
    /** Token classification ({@code *ForTokenClassification}); its classifier head is trained as modules_to_save. */
    TOKEN_CLS,
    /** Extractive question answering. */
    QUESTION_ANS,
    /** Hidden states as features. */
    FEATURE_EXTRACTION;

    /** Parses HF's name ({@code "CAUSAL_LM"}); fails listing the allowed names. */
    public static TaskType parse(String name) {
        for (TaskType t : values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("invalid task_type '" + name + "'; allowed: "
                + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")) + " or null");
    }

    /** True for the tasks whose classifier head HF PEFT adds to modules_to_save automatically. */
    public boolean trainsClassifierHead() {
        return this == SEQ_CLS || this == TOKEN_CLS;
    }
}
