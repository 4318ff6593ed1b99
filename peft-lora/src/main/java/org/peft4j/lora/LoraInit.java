package org.peft4j.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

/**
 * How a new LoRA adapter's matrices start (HF PEFT's {@code init_lora_weights}, a bool or a string there).
 *
 * @param kind            the initialisation
 * @param pissaIterations for {@link Kind#PISSA}: HF's {@code niter} of a fast SVD ({@code "pissa_niter_16"}), 0 for the exact SVD
 */
public record LoraInit(Kind kind, int pissaIterations) {
    /** The initialisations peft4j supports. */
    public enum Kind {
        /** HF's {@code true}: A Kaiming-uniform (a = √5), B = 0, so the adapter starts as the identity. */
        DEFAULT,
        /** HF's {@code false}: A and B both random (Kaiming-uniform, as torch initialises a Linear); the output changes. */
        RANDOM,
        /** HF's {@code "gaussian"}: A ~ N(0, 1/r²), B = 0. */
        GAUSSIAN,
        /** HF's {@code "pissa"}: A, B from the top-r singular triplets of W, and W replaced by its residual. */
        PISSA
    }

    /** HF's {@code true}. */
    public static final LoraInit DEFAULT = new LoraInit(Kind.DEFAULT, 0);
    /** HF's {@code false}. */
    public static final LoraInit RANDOM = new LoraInit(Kind.RANDOM, 0);
    /** HF's {@code "gaussian"}. */
    public static final LoraInit GAUSSIAN = new LoraInit(Kind.GAUSSIAN, 0);
    /** HF's {@code "pissa"}. */
    public static final LoraInit PISSA = new LoraInit(Kind.PISSA, 0);

    private static final String ALLOWED = "true, false, \"gaussian\", \"pissa\" or \"pissa_niter_<n>\"";

    public LoraInit {
        if (kind == null) {
            throw new IllegalArgumentException("init_lora_weights needs a kind; allowed: " + ALLOWED);
        }
        if (pissaIterations < 0 || (kind != Kind.PISSA && pissaIterations != 0)) {
            throw new IllegalArgumentException("pissa iterations must be >= 0 and only set for PiSSA, got " + pissaIterations + " for " + kind);
        }
    }

    /** HF's {@code "pissa_niter_<iterations>"}: PiSSA from a fast SVD (peft4j computes the exact one, which is at least as good). */
    public static LoraInit pissaFast(int iterations) {
        if (iterations <= 0) {
            throw new IllegalArgumentException("pissa_niter needs iterations > 0, got " + iterations);
        }
        return new LoraInit(Kind.PISSA, iterations);
    }

    /** True if the adapter changes the base weight when it is created. */
    public boolean changesBaseWeight() {
        return kind == Kind.PISSA;
    }

    /** The value of {@code init_lora_weights} in adapter_config.json. */
    public JsonNode toJson() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        return switch (kind) {
            case DEFAULT -> f.booleanNode(true);
            case RANDOM -> f.booleanNode(false);
            case GAUSSIAN -> f.textNode("gaussian");
            case PISSA -> f.textNode(pissaIterations == 0 ? "pissa" : "pissa_niter_" + pissaIterations);
        };
    }

    /** Parses {@code init_lora_weights}; fails naming the value and the supported ones. */
    public static LoraInit fromJson(JsonNode node) {
        if (node == null || node.isNull()) {
            return DEFAULT;
        }
        if (node.isBoolean()) {
            return node.booleanValue() ? DEFAULT : RANDOM;
        }
        if (node.isTextual()) {
            String s = node.textValue();
            if (s.equals("gaussian")) {
                return GAUSSIAN;
            }
            if (s.equals("pissa")) {
                return PISSA;
            }
            if (s.startsWith("pissa_niter_")) {
                try {
                    return pissaFast(Integer.parseInt(s.substring("pissa_niter_".length())));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("init_lora_weights '" + s + "' is not pissa_niter_<n> with an integer n", e);
                }
            }
        }
        throw new IllegalArgumentException("init_lora_weights " + node + " is not supported by peft4j; supported: " + ALLOWED);
    }
}
