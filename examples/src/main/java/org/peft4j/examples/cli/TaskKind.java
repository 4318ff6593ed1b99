package org.peft4j.examples.cli;

/** The task of {@code peft4j train} and {@code peft4j eval}. */
enum TaskKind {
    CLASSIFICATION("classification"),
    CAUSAL_LM("causal-lm");

    private final String option;

    TaskKind(String option) {
        this.option = option;
    }

    /** Parses the option value: "classification" or "causal-lm". */
    static TaskKind parse(String value) {
        for (TaskKind k : values()) {
            if (k.option.equalsIgnoreCase(value)) {
                return k;
            }
        }
        throw new IllegalArgumentException("--task must be classification or causal-lm, got '" + value + "'");
    }

    @Override
    public String toString() {
        return option;
    }
}
