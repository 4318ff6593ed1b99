package org.peft4j.core.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.DoubleConsumer;
import java.util.function.IntConsumer;
import org.peft4j.core.kernel.Activation;

/**
 * Reading and checking the fields of HF's {@code config.json}, shared by the architecture configs
 * (GPT-2, BERT, LLaMA) so that every one reads a field and words a bad value the same way. Checks name
 * the HF field, the allowed values and the value received.
 */
public final class HfConfigFields {
    private HfConfigFields() {
    }

    /** Fails unless {@code node} is a JSON object; {@code what} names the config, e.g. "a BERT config". */
    public static void requireObject(JsonNode node, String what) {
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException(what + " must be a JSON object");
        }
    }

    /** Fails if {@code model_type} is present and is not {@code modelType}. */
    public static void requireModelType(JsonNode node, String modelType) {
        String type = node.path("model_type").asText(modelType);
        if (!type.equals(modelType)) {
            throw new IllegalArgumentException("config describes a '" + type + "' model, not \"" + modelType + "\"");
        }
    }

    /** The value of {@code field}; fails, listing the fields {@code node} has, if it is absent or null. */
    public static JsonNode required(JsonNode node, String field, String where) {
        if (!node.hasNonNull(field)) {
            throw new IllegalArgumentException(where + " needs '" + field + "'; it has " + fieldNames(node));
        }
        return node.get(field);
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    // The readers below pass a present, non-null field to a builder setter; an absent or null one leaves
    // the builder's default, as HF does for a field missing from config.json.

    /** Passes the int {@code field} to {@code setter} if present. */
    public static void readInt(JsonNode node, String field, IntConsumer setter) {
        if (node.hasNonNull(field)) {
            setter.accept(node.get(field).asInt());
        }
    }

    /** Passes the number {@code field} to {@code setter} if present. */
    public static void readDouble(JsonNode node, String field, DoubleConsumer setter) {
        if (node.hasNonNull(field)) {
            setter.accept(node.get(field).asDouble());
        }
    }

    /** Passes the boolean {@code field} to {@code setter} if present. */
    public static void readBoolean(JsonNode node, String field, Consumer<Boolean> setter) {
        if (node.hasNonNull(field)) {
            setter.accept(node.get(field).asBoolean());
        }
    }

    /** Passes the activation named by {@code field} (HF's name, e.g. "gelu_new") to {@code setter} if present. */
    public static void readActivation(JsonNode node, String field, Consumer<Activation> setter) {
        if (node.hasNonNull(field)) {
            setter.accept(Activation.fromHfName(node.get(field).asText()));
        }
    }

    /** Fails unless {@code value} > 0. */
    public static void requirePositive(String field, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(field + " must be > 0, got " + value);
        }
    }

    /** Fails unless {@code value} > 0 (NaN fails too). */
    public static void requirePositive(String field, double value) {
        if (!(value > 0)) {
            throw new IllegalArgumentException(field + " must be > 0, got " + value);
        }
    }

    /** Fails unless {@code p} is a dropout probability in [0, 1) (NaN fails too). */
    public static void requireProbability(String field, double p) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException(field + " must be in [0, 1), got " + p);
        }
    }
}
