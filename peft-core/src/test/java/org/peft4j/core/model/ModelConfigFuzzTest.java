package org.peft4j.core.model;

import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.peft4j.core.fuzz.FuzzFiles;
import org.peft4j.core.fuzz.FuzzSeeds;

/**
 * Fuzzes {@code config.json}: each input is the config of a directory that also holds the weights of a
 * tiny GPT-2, loaded with {@link HfCheckpoint#load}. A config that does not fit the weights (other sizes,
 * another architecture, huge dimensions) must be rejected with an IllegalArgumentException before
 * anything of its size is allocated; a config that does fit loads.
 */
class ModelConfigFuzzTest {
    private static final Path DIR = checkpointDirectory();

    private static Path checkpointDirectory() {
        try {
            Path dir = Files.createDirectories(FuzzFiles.directory().resolve("checkpoint"));
            HfCheckpoint.save(FuzzSeeds.tinyGpt2(), dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** BERT's factory builds encoders and classifiers, the decoders build causal LMs: the head follows model_type. */
    private static LoadOptions optionsFor(byte[] config) {
        String type;
        try {
            type = new ObjectMapper().readTree(config).path("model_type").asText("");
        } catch (IOException | RuntimeException e) {
            type = "";
        }
        return type.equals("bert") ? LoadOptions.classification(ModelHead.SEQUENCE_CLASSIFICATION, 2) : LoadOptions.of(ModelHead.CAUSAL_LM);
    }

    static void load(byte[] data) {
        FuzzFiles.expectOnly(() -> {
            Files.write(DIR.resolve(HfCheckpoint.CONFIG_FILE), data);
            HfCheckpoint.load(DIR, optionsFor(data));
        }, IllegalArgumentException.class);
    }

    @FuzzTest(maxExecutions = 3000)
    @DictionaryFile(resourcePath = "/org/peft4j/core/model/config.dict")
    void config(byte[] data) {
        load(data);
    }

    @Tag("jazzer-long")
    @FuzzTest(maxExecutions = 100_000, maxDuration = "60m")
    @DictionaryFile(resourcePath = "/org/peft4j/core/model/config.dict")
    void configLong(byte[] data) {
        load(data);
    }
}
