package org.peft4j.core.tuner;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.regex.Pattern;

/**
 * An immutable registry of PEFT methods by id, by HF {@code peft_type} and by config type. The usual
 * one comes from {@link #load()}, which reads {@code META-INF/services/org.peft4j.core.tuner.PeftMethod}
 * on the class path; duplicate or malformed ids are rejected.
 */
public final class PeftMethods {
    private static final Pattern ID = Pattern.compile("[a-z][a-z0-9_]*");

    private final Map<String, PeftMethod<?>> byId;
    private final Map<String, PeftMethod<?>> byPeftType;

    private PeftMethods(List<PeftMethod<?>> methods) {
        Map<String, PeftMethod<?>> ids = new LinkedHashMap<>();
        Map<String, PeftMethod<?>> types = new LinkedHashMap<>();
        for (PeftMethod<?> m : methods) {
            if (m.id() == null || !ID.matcher(m.id()).matches()) {
                throw new IllegalArgumentException("PEFT method " + m.getClass().getName() + " has id '" + m.id()
                        + "'; ids must be lower-case letters, digits and '_', starting with a letter");
            }
            if (m.peftType() == null || m.peftType().isBlank()) {
                throw new IllegalArgumentException("PEFT method " + m.id() + " (" + m.getClass().getName() + ") has no peft_type");
            }
            PeftMethod<?> previous = ids.putIfAbsent(m.id(), m);
            if (previous != null) {
                throw new IllegalArgumentException("two PEFT methods have the id '" + m.id() + "': " + previous.getClass().getName()
                        + " and " + m.getClass().getName());
            }
            previous = types.putIfAbsent(m.peftType(), m);
            if (previous != null) {
                throw new IllegalArgumentException("two PEFT methods have the peft_type '" + m.peftType() + "': "
                        + previous.getClass().getName() + " and " + m.getClass().getName());
            }
        }
        this.byId = Collections.unmodifiableMap(ids);
        this.byPeftType = Collections.unmodifiableMap(types);
    }

    /** The methods registered on the class path of this class's loader. */
    public static PeftMethods load() {
        return load(PeftMethods.class.getClassLoader());
    }

    /** The methods registered on the class path of {@code loader}. */
    @SuppressWarnings("rawtypes")
    public static PeftMethods load(ClassLoader loader) {
        List<PeftMethod<?>> found = new ArrayList<>();
        for (PeftMethod m : ServiceLoader.load(PeftMethod.class, loader)) {
            found.add(m);
        }
        return new PeftMethods(found);
    }

    /** A registry of exactly these methods. */
    public static PeftMethods of(List<? extends PeftMethod<?>> methods) {
        return new PeftMethods(new ArrayList<>(methods));
    }

    /** The method with this id; fails listing the registered ids. */
    public PeftMethod<?> byId(String id) {
        PeftMethod<?> m = byId.get(id);
        if (m == null) {
            throw new IllegalArgumentException("no PEFT method with id '" + id + "'; registered: " + byId.keySet() + hint());
        }
        return m;
    }

    /** The method of HF's {@code peft_type}; fails listing the registered types. */
    public PeftMethod<?> byPeftType(String peftType) {
        PeftMethod<?> m = byPeftType.get(peftType);
        if (m == null) {
            throw new IllegalArgumentException("no PEFT method for peft_type '" + peftType + "'; registered: " + byPeftType.keySet() + hint());
        }
        return m;
    }

    /** The method whose config type is {@code config}'s class. */
    @SuppressWarnings("unchecked")
    public <C extends PeftConfig> PeftMethod<C> forConfig(C config) {
        for (PeftMethod<?> m : byId.values()) {
            if (m.configType().isInstance(config)) {
                return (PeftMethod<C>) m;
            }
        }
        throw new IllegalArgumentException("no PEFT method takes a " + config.getClass().getSimpleName() + "; registered: "
                + byId.keySet() + hint());
    }

    /** The ids of all registered methods. */
    public List<String> ids() {
        return List.copyOf(byId.keySet());
    }

    private String hint() {
        return byId.isEmpty() ? " (none: add a method module such as peft-lora to the class path)" : "";
    }
}
