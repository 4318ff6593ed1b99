package org.peft4j.core.testing;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Test resources as files: other modules read peft-core's from its test jar, where they are no files. */
public final class TestResources {
    private TestResources() {
    }

    /** Copies {@code folder/name} of the test class path into {@code dir} for every name; returns {@code dir}. */
    public static Path copy(Path dir, String folder, String... names) throws IOException {
        Files.createDirectories(dir);
        for (String name : names) {
            try (InputStream in = TestResources.class.getResourceAsStream(folder + "/" + name)) {
                assertNotNull(in, "resource " + folder + "/" + name + " is on the test class path");
                Files.copy(in, dir.resolve(name));
            }
        }
        return dir;
    }

    /** The tiny HF checkpoint {@code reference/<name>} (config.json and model.safetensors) copied into {@code dir}. */
    public static Path referenceCheckpoint(Path dir, String name) throws IOException {
        return copy(dir, "/reference/" + name, "config.json", "model.safetensors");
    }
}
