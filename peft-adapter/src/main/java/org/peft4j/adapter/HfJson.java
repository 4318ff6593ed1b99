package org.peft4j.adapter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.peft4j.core.tuner.TargetSpec;
import org.peft4j.core.tuner.TaskType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code adapter_config.json} fields every method of this module shares (peft_type, task_type,
 * base_model_name_or_path, target_modules and its companions, modules_to_save), read and written as HF
 * PEFT names them.
 */
public final class HfJson {
    private static final Logger LOG = LoggerFactory.getLogger(HfJson.class);

    /** Keys every config reads or ignores: the shared fields and HF's bookkeeping. */
    public static final Set<String> COMMON = Set.of("peft_type", "task_type", "base_model_name_or_path", "revision", "auto_mapping",
            "peft_version", "inference_mode", "target_modules", "exclude_modules", "layers_to_transform", "layers_pattern", "modules_to_save");

    /** The shared fields of one config. */
    public record Common(TargetSpec targets, List<String> modulesToSave, TaskType taskType, String baseModelNameOrPath) {
    }

    private HfJson() {
    }

    /**
     * Checks peft_type and warns once about keys outside {@link #COMMON} and {@code own}; returns the shared fields.
     */
    public static Common read(JsonNode json, String peftType, Set<String> own) {
        if (json == null || !json.isObject()) {
            throw new IllegalArgumentException("an adapter config must be a JSON object with \"peft_type\": \"" + peftType + "\"");
        }
        JsonNode type = json.get("peft_type");
        if (type == null || !type.isTextual() || !peftType.equals(type.textValue())) {
            throw new IllegalArgumentException("adapter config has peft_type " + (type == null ? "(none)" : type) + "; this config needs \""
                    + peftType + "\"");
        }
        List<String> unknown = new ArrayList<>();
        Iterator<String> names = json.fieldNames();
        while (names.hasNext()) {
            String key = names.next();
            if (!COMMON.contains(key) && !own.contains(key)) {
                unknown.add(key);
            }
        }
        if (!unknown.isEmpty()) {
            LOG.warn("unexpected keys {} in a {} adapter config are ignored", new TreeSet<>(unknown), peftType);
        }
        List<String> modules = new ArrayList<>();
        if (json.hasNonNull("modules_to_save")) {
            JsonNode m = json.get("modules_to_save");
            if (!m.isArray()) {
                throw new IllegalArgumentException("modules_to_save must be a list of module names or null, got " + m);
            }
            m.forEach(n -> modules.add(n.asText()));
        }
        TaskType task = json.hasNonNull("task_type") ? TaskType.parse(json.get("task_type").asText()) : null;
        String base = json.hasNonNull("base_model_name_or_path") ? json.get("base_model_name_or_path").asText() : null;
        return new Common(TargetSpec.fromHfJson(json), modules, task, base);
    }

    /** A new object with the shared fields written. */
    public static ObjectNode write(String peftType, Common c) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("peft_type", peftType);
        if (c.taskType() == null) {
            n.putNull("task_type");
        } else {
            n.put("task_type", c.taskType().name());
        }
        if (c.baseModelNameOrPath() == null) {
            n.putNull("base_model_name_or_path");
        } else {
            n.put("base_model_name_or_path", c.baseModelNameOrPath());
        }
        n.putNull("revision");
        n.put("inference_mode", false);
        c.targets().writeHfJson(n);
        if (c.modulesToSave().isEmpty()) {
            n.putNull("modules_to_save");
        } else {
            c.modulesToSave().forEach(n.putArray("modules_to_save")::add);
        }
        return n;
    }

    /** The number at {@code field}; fails naming the field when it is not a number. */
    public static double number(JsonNode json, String field) {
        JsonNode v = json.get(field);
        if (!v.isNumber()) {
            throw new IllegalArgumentException(field + " must be a number, got " + v);
        }
        return v.doubleValue();
    }

    /** The integer at {@code field}; fails naming the field when it is not an integer. */
    public static int integer(JsonNode json, String field) {
        JsonNode v = json.get(field);
        if (!v.isIntegralNumber()) {
            throw new IllegalArgumentException(field + " must be an integer, got " + v);
        }
        return v.intValue();
    }
}
