package org.peft4j.core.io;

import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.peft4j.core.fuzz.FuzzFiles;
import org.peft4j.core.fuzz.FuzzSeeds;

/**
 * Fuzzes the index of a sharded checkpoint ({@code model.safetensors.index.json}): each input is the
 * index, beside two valid shards; hostile shard names (absolute paths, "..", links out of the directory)
 * must be rejected with {@link SafetensorsFormatException} like every other bad index.
 */
class SafetensorsIndexFuzzTest {
    private static final Path DIR = shardDirectory();

    private static Path shardDirectory() {
        try {
            Path dir = Files.createDirectories(FuzzFiles.directory().resolve("sharded"));
            FuzzSeeds.writeShards(dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void openAndReadAll(byte[] data) {
        FuzzFiles.expectOnly(() -> {
            Path index = Files.write(DIR.resolve(SafetensorsWeights.INDEX_FILE), data);
            try (SafetensorsWeights weights = SafetensorsWeights.openIndex(index)) {
                for (String name : weights.names()) {
                    weights.read(name).close();
                }
            }
        }, SafetensorsFormatException.class);
    }

    @FuzzTest(maxExecutions = 4000)
    @DictionaryFile(resourcePath = "/org/peft4j/core/io/index.dict")
    void index(byte[] data) {
        openAndReadAll(data);
    }

    @Tag("jazzer-long")
    @FuzzTest(maxExecutions = 100_000, maxDuration = "60m")
    @DictionaryFile(resourcePath = "/org/peft4j/core/io/index.dict")
    void indexLong(byte[] data) {
        openAndReadAll(data);
    }
}
