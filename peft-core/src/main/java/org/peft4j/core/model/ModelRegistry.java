package org.peft4j.core.model;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeMap;

/**
 * The {@link ModelFactory} for each HF {@code model_type}, immutable once built. {@link #installed()} finds the
 * factories on the class path with {@link ServiceLoader}: a module registers one by a line naming its class in
 * {@code META-INF/services/org.peft4j.core.model.ModelFactory}. Two factories claiming one {@code model_type} are
 * an error, not a silent override.
 */
public final class ModelRegistry {
    /** Where a factory is registered for {@link #installed()}. */
    public static final String SERVICE_FILE = "META-INF/services/" + ModelFactory.class.getName();

    private final Map<String, ModelFactory> byType;   // sorted by model_type, for stable messages

    private ModelRegistry(Map<String, ModelFactory> byType) {
        this.byType = Collections.unmodifiableMap(new TreeMap<>(byType));
    }

    /** A registry of the given factories; fails if two of them claim one {@code model_type}. */
    public static ModelRegistry of(Collection<? extends ModelFactory> factories) {
        Objects.requireNonNull(factories, "factories");
        Map<String, ModelFactory> byType = new TreeMap<>();
        for (ModelFactory factory : factories) {
            Objects.requireNonNull(factory, "a factory in the list is null");
            Set<String> types = factory.modelTypes();
            if (types == null || types.isEmpty()) {
                throw new IllegalArgumentException("model factory " + factory.getClass().getName() + " names no model_type; "
                        + "modelTypes() must return at least one, e.g. \"gpt2\"");
            }
            for (String type : types) {
                if (type == null || type.isBlank()) {
                    throw new IllegalArgumentException("model factory " + factory.getClass().getName() + " names a blank model_type");
                }
                ModelFactory previous = byType.putIfAbsent(type, factory);
                if (previous != null && previous != factory) {
                    throw new IllegalArgumentException("model_type '" + type + "' is claimed by two factories, "
                            + previous.getClass().getName() + " and " + factory.getClass().getName() + "; remove one from "
                            + SERVICE_FILE + " or the list");
                }
            }
        }
        return new ModelRegistry(byType);
    }

    /** A registry of the given factories. */
    public static ModelRegistry of(ModelFactory... factories) {
        return of(List.of(factories));
    }

    /**
     * The factories registered on the class path (see the class comment), loaded through the thread's context class
     * loader, or this class's loader when there is none; built anew on each call.
     */
    public static ModelRegistry installed() {
        ClassLoader context = Thread.currentThread().getContextClassLoader();
        return installed(context != null ? context : ModelRegistry.class.getClassLoader());
    }

    /** The factories that {@code loader} finds through {@link ServiceLoader}. */
    public static ModelRegistry installed(ClassLoader loader) {
        List<ModelFactory> factories = new ArrayList<>();
        try {
            for (ModelFactory factory : ServiceLoader.load(ModelFactory.class, loader)) {
                factories.add(factory);
            }
        } catch (ServiceConfigurationError e) {
            throw new IllegalStateException("a model factory listed in " + SERVICE_FILE + " could not be loaded: " + e.getMessage()
                    + "; each line must name a public class with a public no-argument constructor that implements "
                    + ModelFactory.class.getName(), e);
        }
        return of(factories);
    }

    /** Every {@code model_type} this registry can build, sorted. */
    public Set<String> modelTypes() {
        return byType.keySet();
    }

    /** True if a factory builds {@code modelType}. */
    public boolean supports(String modelType) {
        return byType.containsKey(modelType);
    }

    /** The factory for {@code modelType}; fails naming the supported types and how factories are registered. */
    public ModelFactory factory(String modelType) {
        ModelFactory factory = byType.get(modelType);
        if (factory == null) {
            throw new IllegalArgumentException("model_type '" + modelType + "' is not supported; " + supportedList());
        }
        return factory;
    }

    /** "supported: [a, b]" or a sentence saying no factory is installed, for error messages. */
    String supportedList() {
        if (byType.isEmpty()) {
            return "no model factory is installed (factories are found through " + SERVICE_FILE + ")";
        }
        return "supported: " + byType.keySet();
    }

    @Override
    public String toString() {
        return "ModelRegistry" + byType.keySet();
    }
}
