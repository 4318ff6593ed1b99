package org.peft4j.core.io;

import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.peft4j.core.fuzz.FuzzFiles;

/**
 * Fuzzes the safetensors reader: header, dtypes, shapes, offsets and the data, by opening each input as
 * {@code model.safetensors} and reading every tensor in its own type and, if floating-point, as float. Only {@link SafetensorsFormatException} may come out.
 * Seeds: {@code SafetensorsFuzzTestInputs/} in the test resources (valid files of each dtype).
 */
class SafetensorsFuzzTest {
    static void openAndReadAll(byte[] data) {
        Path file = FuzzFiles.write("model.safetensors", data);
        FuzzFiles.expectOnly(() -> {
            try (SafetensorsWeights weights = SafetensorsWeights.openFile(file)) {
                for (String name : weights.names()) {
                    weights.read(name).close();
                    if (weights.info(name).dtype().isFloatingPoint()) {
                        weights.get(name).close();
                    }
                    weights.rawBytes(name);
                }
            }
        }, SafetensorsFormatException.class);
    }

    @FuzzTest(maxExecutions = 4000)
    @DictionaryFile(resourcePath = "/org/peft4j/core/io/safetensors.dict")
    void safetensors(byte[] data) {
        openAndReadAll(data);
    }

    @Tag("jazzer-long")
    @FuzzTest(maxExecutions = 100_000, maxDuration = "60m")
    @DictionaryFile(resourcePath = "/org/peft4j/core/io/safetensors.dict")
    void safetensorsLong(byte[] data) {
        openAndReadAll(data);
    }
}
