package org.peft4j.examples;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.data.JsonlDataset;
import org.peft4j.core.data.LabelSet;
import org.peft4j.core.io.SafetensorsWriter;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.tokenizer.HfTokenizer;
import org.peft4j.core.tokenizer.Tokenizer;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.PeftMethods;
import org.peft4j.lora.LoraConfig;

/**
 * The user mistakes of docs/errors.md, one test each: the message must say what was wrong and what is
 * allowed. When a message changes, change the table too.
 */
class ErrorMessagesTest {
    @TempDir
    Path dir;

    private static Gpt2Model tinyGpt2() {
        Gpt2Config config = Gpt2Config.builder().vocabSize(11).nPositions(8).nEmbd(8).nLayer(1).nHead(2).build();
        return Gpt2Model.random(config, 3, DataType.FLOAT, KernelChoice.AUTO);
    }

    private static void assertMessage(Throwable e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
        }
    }

    @Test
    void rankNotPositive() {
        assertMessage(assertThrows(IllegalArgumentException.class, () -> LoraConfig.builder().r(0).build()), "r must be > 0, got 0");
    }

    @Test
    void targetModuleNotFoundListsTheModules() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PeftModel.builder(tinyGpt2()).adapter("default", LoraConfig.builder().targetModules("q_proj").build()).build());
        assertMessage(e, "target_modules", "q_proj", "matched no module", "modules of this gpt2 model", "c_attn");
    }

    @Test
    void shapeMismatchOnLoadNamesKeyExpectedAndFound() throws IOException {
        Gpt2Model model = tinyGpt2();
        Path adapter = dir.resolve("adapter");
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(model).adapter("default", LoraConfig.builder().r(2).targetModules("c_attn").build())
                .build()) {
            peft.save(adapter);
        }
        Path config = adapter.resolve("adapter_config.json");
        Files.writeString(config, Files.readString(config).replaceFirst("\"r\" ?: ?2", "\"r\": 4"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PeftModel.load(tinyGpt2(), adapter));
        assertMessage(e, "adapter_model.safetensors", "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", "has shape [2, 8]",
                "expects [4, 8]");
    }

    @Test
    void unknownAdapterConfigKeyIsNamedInAWarning() throws IOException {
        String json = "{\"peft_type\": \"LORA\", \"r\": 4, \"target_modules\": [\"c_attn\"], \"lora_alpah\": 8}";
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            PeftMethods.load().byPeftType("LORA").configFromHfJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(json));
        } finally {
            System.setErr(saved);
        }
        String log = captured.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("unexpected keys [lora_alpah] in a LoRA adapter config are ignored"), log);
    }

    @Test
    void wrongTaskForAModel() throws IOException {
        Path model = dir.resolve("gpt2");
        HfCheckpoint.save(tinyGpt2(), model);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HfCheckpoint.load(model, LoadOptions.classification(ModelHead.SEQUENCE_CLASSIFICATION, 2)));
        assertMessage(e, "a gpt2 model cannot be loaded with head SEQUENCE_CLASSIFICATION", "supports [CAUSAL_LM]");
    }

    @Test
    void tokenizerOfAnotherModel() throws IOException {
        StringBuilder vocab = new StringBuilder("\"[UNK]\": 0");
        for (int i = 1; i < 20; i++) {
            vocab.append(", \"w").append(i).append("\": ").append(i);
        }
        Path file = Files.writeString(dir.resolve("tokenizer.json"), "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, "
                + "\"added_tokens\": [], \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"post_processor\": null, "
                + "\"decoder\": null, \"model\": {\"type\": \"WordLevel\", \"vocab\": {" + vocab + "}, \"unk_token\": \"[UNK]\"}}");
        try (Tokenizer tokenizer = HfTokenizer.open(file)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tokenizer.requireFits(11, "--model tiny"));
            assertMessage(e, "the tokenizer has 20 tokens but --model tiny has a vocabulary of 11", "belongs to another model");
            tokenizer.requireFits(20, "a model of the same size");
        }
    }

    @Test
    void labelUnseenInTraining() throws IOException {
        Path data = Files.writeString(dir.resolve("eval.jsonl"), "{\"text\": \"fine\", \"label\": \"good\"}\n{\"text\": \"odd\", \"label\": \"weird\"}\n");
        LabelSet trained = LabelSet.ofStrings(List.of("bad", "good"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JsonlDataset.classification(data, trained));
        assertMessage(e, "eval.jsonl:2:", "\"weird\"", "is not in the label set [bad, good]");
    }

    @Test
    void safetensorsWithAHostileHeader() throws IOException {
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, java.util.Map.of("w", org.nd4j.linalg.factory.Nd4j.createFromArray(1f, 2f)));
        byte[] bytes = Files.readAllBytes(file);
        java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, Long.MAX_VALUE);
        Files.write(file, bytes);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> org.peft4j.core.io.SafetensorsWeights.openFile(file).close());
        assertMessage(e, file.toString(), "header length 9223372036854775807 exceeds the 100 MiB limit");
    }
}
