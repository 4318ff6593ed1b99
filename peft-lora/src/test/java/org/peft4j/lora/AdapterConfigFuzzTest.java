package org.peft4j.lora;

import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.peft4j.core.fuzz.FuzzFiles;
import org.peft4j.core.fuzz.FuzzSeeds;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;

/**
 * Fuzzes {@code adapter_config.json}: each input is the config of an adapter directory whose weights are
 * those of a valid LoRA adapter (r 2 on c_attn) of a tiny GPT-2, applied with {@link PeftModel#load}. A
 * config that does not fit (unknown keys and types, bad ranks, targets that match nothing, other methods)
 * must be rejected with an IllegalArgumentException naming the problem; one that fits loads.
 * Seed: the adapter's own config ({@code AdapterConfigFuzzTestInputs/}, written by {@link #main}).
 */
class AdapterConfigFuzzTest {
    private static final Gpt2Model BASE = FuzzSeeds.tinyGpt2();
    private static final Path DIR = adapterDirectory();

    private static Path adapterDirectory() {
        try {
            Path dir = Files.createDirectories(FuzzFiles.directory().resolve("adapter"));
            writeAdapter(dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The valid adapter whose weights lie beside every fuzzed config. */
    static void writeAdapter(Path dir) {
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(FuzzSeeds.tinyGpt2()).adapter("default",
                LoraConfig.builder().r(2).loraAlpha(4).targetModules("c_attn").taskType(TaskType.CAUSAL_LM).build()).build()) {
            peft.save(dir);
        }
    }

    static void load(byte[] data) {
        FuzzFiles.expectOnly(() -> {
            Files.write(DIR.resolve("adapter_config.json"), data);
            PeftModel.load(BASE, DIR).close();
        }, IllegalArgumentException.class);
    }

    @FuzzTest(maxExecutions = 3000)
    @DictionaryFile(resourcePath = "/org/peft4j/lora/adapter_config.dict")
    void adapterConfig(byte[] data) {
        load(data);
    }

    @Tag("jazzer-long")
    @FuzzTest(maxExecutions = 100_000, maxDuration = "60m")
    @DictionaryFile(resourcePath = "/org/peft4j/lora/adapter_config.dict")
    void adapterConfigLong(byte[] data) {
        load(data);
    }

    /** Writes the seed (the valid adapter's config) into the test resources; run from the repository root. */
    public static void main(String[] args) throws IOException {
        Path tmp = Files.createTempDirectory("adapter-seed");
        writeAdapter(tmp);
        byte[] config = Files.readAllBytes(tmp.resolve("adapter_config.json"));
        for (String method : new String[] {"adapterConfig", "adapterConfigLong"}) {
            Path dir = Files.createDirectories(Path.of("peft-lora/src/test/resources/org/peft4j/lora/AdapterConfigFuzzTestInputs", method));
            Files.write(dir.resolve("lora-c_attn"), config);
        }
    }
}
