package org.peft4j.core.tuner;

import java.util.LinkedHashMap;
import java.util.Map;
import org.peft4j.core.nn.Module;
import org.peft4j.core.param.Param;

/**
 * Params keyed by adapter name (HF's {@code nn.ParameterDict}), e.g. {@code lora_embedding_A} whose param
 * {@code default} is that adapter's matrix. Immutable: adding or removing an entry makes a new dict,
 * which the owner puts in its slot.
 */
public final class ParamDict extends Module {
    /** An empty dict. */
    public ParamDict() {
        this(Map.of());
    }

    private ParamDict(Map<String, Param> entries) {
        entries.values().forEach(this::register);
    }

    /** A dict with the params of this one and {@code param} (keyed by its name). */
    public ParamDict with(Param param) {
        Map<String, Param> next = new LinkedHashMap<>(params());
        if (next.putIfAbsent(param.name(), param) != null) {
            throw new IllegalArgumentException("ParamDict already holds '" + param.name() + "'; holds " + params().keySet());
        }
        return new ParamDict(next);
    }

    /** A dict without the param called {@code name}. */
    public ParamDict without(String name) {
        Map<String, Param> next = new LinkedHashMap<>(params());
        if (next.remove(name) == null) {
            throw new IllegalArgumentException("ParamDict holds no '" + name + "'; holds " + params().keySet());
        }
        return new ParamDict(next);
    }

    /** The param called {@code name}; fails listing the names it holds. */
    public Param get(String name) {
        Param p = params().get(name);
        if (p == null) {
            throw new IllegalArgumentException("ParamDict holds no '" + name + "'; holds " + params().keySet());
        }
        return p;
    }

    @Override
    public String describe() {
        return "ParamDict(" + String.join(", ", params().keySet()) + ")";
    }
}
