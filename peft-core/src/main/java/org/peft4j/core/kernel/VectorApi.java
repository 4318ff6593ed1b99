package org.peft4j.core.kernel;

import java.util.Optional;

/**
 * Loads this package's classes that use the JDK's incubating Vector API. They are named, never
 * referenced, until the module is known to be present: a JVM started without {@code --add-modules
 * jdk.incubator.vector} cannot link them.
 */
final class VectorApi {
    private VectorApi() {
    }

    /** A new instance of class {@code simpleName} of this package, or empty when the module is absent or the class cannot load. */
    static <T> Optional<T> instance(String simpleName, Class<T> type) {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(type.cast(Class.forName(VectorApi.class.getPackageName() + "." + simpleName).getDeclaredConstructor()
                    .newInstance()));
        } catch (ReflectiveOperationException | LinkageError e) {
            return Optional.empty();
        }
    }
}
