package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.io.SafetensorsCheckpointWriter;
import org.peft4j.core.io.SafetensorsDType;
import org.peft4j.core.io.SafetensorsWeights;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.model.HfCheckpoint.SaveOptions;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.testing.TestGpt2Factory;
import org.peft4j.core.testing.TinyModels;
import org.peft4j.core.testing.TinyTestModel;

class HfCheckpointTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final LoadOptions BASE = LoadOptions.of(ModelHead.BASE);
    private static final LoadOptions CAUSAL = new LoadOptions(DataType.FLOAT, KernelChoice.PORTABLE, ModelHead.CAUSAL_LM, 0, 99);

    @TempDir
    Path dir;

    private static ModelRegistry gpt2Registry() {
        return ModelRegistry.of(new TestGpt2Factory());
    }

    /** The raw bits of every element, in c order, whatever the type. */
    private static long[] bits(INDArray array) {
        INDArray dense = array.dup('c');
        long[] out = new long[(int) dense.length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = switch (dense.dataType()) {
                case FLOAT -> Float.floatToRawIntBits(dense.getFloat(i));
                case DOUBLE -> Double.doubleToRawLongBits(dense.getDouble(i));
                default -> throw new IllegalArgumentException("compare " + dense.dataType() + " through storage instead");
            };
        }
        return out;
    }

    private static void assertBitIdentical(Map<String, INDArray> expected, Map<String, INDArray> actual) {
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(actual.keySet()));
        for (String name : expected.keySet()) {
            assertArrayEquals(expected.get(name).shape(), actual.get(name).shape(), name);
            assertArrayEquals(bits(expected.get(name)), bits(actual.get(name)), name);
        }
    }

    // ---------------------------------------------------------------- the ServiceLoader registry

    @Test
    void installedRegistryFindsTheTestFactoryThroughServiceLoader() throws IOException {
        ModelRegistry installed = ModelRegistry.installed();
        assertTrue(installed.modelTypes().contains(TinyTestModel.MODEL_TYPE), installed.toString());
        assertInstanceOf(TinyTestModel.Factory.class, installed.factory(TinyTestModel.MODEL_TYPE));

        TinyTestModel model = TinyTestModel.random(6, 3, DataType.FLOAT);
        List<Path> written = HfCheckpoint.save(model, dir);
        assertEquals(List.of(dir.resolve("model.safetensors"), dir.resolve("config.json")), written, "config.json last");
        PretrainedModel loaded = HfCheckpoint.load(dir, BASE);
        assertInstanceOf(TinyTestModel.class, loaded);
        assertBitIdentical(model.hfStateDict(), loaded.hfStateDict());
        assertEquals(model.hfConfig(), loaded.hfConfig());
    }

    @Test
    void registryRejectsTwoFactoriesForOneType() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelRegistry.of(new TinyTestModel.Factory(), new TinyTestModel.Factory()));
        assertTrue(e.getMessage().contains("claimed by two factories"), e.getMessage());
        ModelRegistry registry = ModelRegistry.of(new TestGpt2Factory());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> registry.factory("bert"));
        assertTrue(unknown.getMessage().contains("supported: [gpt2]"), unknown.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> registry.modelTypes().add("x"));
    }

    // ---------------------------------------------------------------- GPT-2 round trips

    @Test
    void gpt2RoundTripIsBitExactAndComputesTheSameLogits() throws IOException {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 11, DataType.FLOAT, KernelChoice.PORTABLE);
        HfCheckpoint.save(model, dir);
        JsonNode config = JSON.readTree(dir.resolve("config.json").toFile());
        assertEquals("gpt2", config.get("model_type").asText());
        assertEquals(8, config.get("n_embd").asInt());

        Gpt2Model loaded = (Gpt2Model) HfCheckpoint.load(dir, CAUSAL, gpt2Registry());
        assertEquals(model.config(), loaded.config());
        assertBitIdentical(model.hfStateDict(), loaded.hfStateDict());
        assertFalse(loaded.hfStateDict().containsKey("lm_head.weight"), "the tied head is saved once, as HF does");

        TokenBatch batch = TinyModels.paddedBatch();
        try (Tape a = Tape.inference(model.kernels()); Tape b = Tape.inference(loaded.kernels())) {
            assertArrayEquals(bits(model.forward(batch, a)), bits(loaded.forward(batch, b)), "same weights, same logits");
        }
    }

    @Test
    void gpt2ShardedRoundTripIsBitExact() throws IOException {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 12, DataType.FLOAT, KernelChoice.PORTABLE);
        List<Path> written = HfCheckpoint.save(model, dir, new SaveOptions(null, 1024));
        assertTrue(written.contains(dir.resolve(SafetensorsWeights.INDEX_FILE)));
        assertTrue(written.size() > 4, "several shards: " + written);
        assertFalse(Files.exists(dir.resolve(SafetensorsWeights.SINGLE_FILE)));
        PretrainedModel loaded = HfCheckpoint.load(dir, CAUSAL, gpt2Registry());
        assertBitIdentical(model.hfStateDict(), loaded.hfStateDict());
    }

    @Test
    void bfloat16AndHalfStorageKeepTheirBitPatterns() throws IOException {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 13, DataType.FLOAT, KernelChoice.PORTABLE);
        for (DataType storage : List.of(DataType.BFLOAT16, DataType.FLOAT16)) {
            Path first = dir.resolve(storage + "-1");
            Path second = dir.resolve(storage + "-2");
            HfCheckpoint.save(model, first, new SaveOptions(storage, SafetensorsCheckpointWriter.UNSHARDED));
            String torchDtype = storage == DataType.BFLOAT16 ? "bfloat16" : "float16";
            assertEquals(torchDtype, JSON.readTree(first.resolve("config.json").toFile()).get("torch_dtype").asText());

            Gpt2Model loaded = (Gpt2Model) HfCheckpoint.load(first, CAUSAL, gpt2Registry());
            try (SafetensorsWeights stored = SafetensorsWeights.open(first)) {
                for (Map.Entry<String, INDArray> param : loaded.hfStateDict().entrySet()) {
                    String name = param.getKey();
                    assertEquals(SafetensorsDType.of(storage), stored.info(name).dtype(), name + " stays narrow in storage");
                    INDArray narrow = stored.read(name);
                    INDArray expected = model.hfStateDict().get(name).castTo(storage);
                    assertEquals(expected, narrow, name + ": saved as the original rounded to " + storage);
                    assertArrayEquals(bits(narrow.castTo(DataType.FLOAT)), bits(param.getValue()), name + ": loaded exactly widened");
                }
            }
            // FLOAT values that came from the narrow type go back to exactly the same bits.
            HfCheckpoint.save(loaded, second, new SaveOptions(storage, SafetensorsCheckpointWriter.UNSHARDED));
            try (SafetensorsWeights a = SafetensorsWeights.open(first); SafetensorsWeights b = SafetensorsWeights.open(second)) {
                for (String name : a.names()) {
                    assertEquals(a.rawBytes(name), b.rawBytes(name), storage + " " + name + ": bit patterns preserved");
                }
            }
        }
    }

    @Test
    void onlyFloatingPointTensorsChangeTypeOnSave() throws IOException {
        TinyTestModel tiny = TinyTestModel.random(4, 5, DataType.FLOAT);
        PretrainedModel withBuffer = new PretrainedModel() {
            @Override
            public Module module() {
                return tiny.module();
            }

            @Override
            public Kernels kernels() {
                return tiny.kernels();
            }

            @Override
            public String modelType() {
                return tiny.modelType();
            }

            @Override
            public ObjectNode hfConfig() {
                return tiny.hfConfig();
            }

            @Override
            public Map<String, INDArray> hfStateDict() {
                Map<String, INDArray> state = new LinkedHashMap<>(tiny.hfStateDict());
                state.put("position_ids", Nd4j.createFromArray(0L, 1L, 2L));   // like BERT's buffer
                return state;
            }
        };
        HfCheckpoint.save(withBuffer, dir, new SaveOptions(DataType.BFLOAT16, SafetensorsCheckpointWriter.UNSHARDED));
        try (SafetensorsWeights stored = SafetensorsWeights.open(dir)) {
            assertEquals(SafetensorsDType.I64, stored.info("position_ids").dtype(), "integer tensors keep their type");
            assertEquals(SafetensorsDType.BF16, stored.info("proj.weight").dtype());
        }
    }

    // ---------------------------------------------------------------- errors

    private void writeConfig(String json) throws IOException {
        Files.writeString(dir.resolve("config.json"), json);
    }

    @Test
    void missingDirectoryOrConfigIsClear() throws IOException {
        NoSuchFileException noDir = assertThrows(NoSuchFileException.class, () -> HfCheckpoint.load(dir.resolve("absent"), BASE));
        assertTrue(noDir.getMessage().contains("no such model directory"), noDir.getMessage());
        Files.writeString(dir.resolve("file"), "x");
        assertThrows(NotDirectoryException.class, () -> HfCheckpoint.load(dir.resolve("file"), BASE));
        NoSuchFileException noConfig = assertThrows(NoSuchFileException.class, () -> HfCheckpoint.load(dir, BASE));
        assertTrue(noConfig.getMessage().contains("config.json"), noConfig.getMessage());
    }

    @Test
    void configMustBeAJsonObjectWithAKnownModelType() throws IOException {
        ModelRegistry registry = ModelRegistry.of(new TestGpt2Factory(), new TinyTestModel.Factory());
        Map<String, String> cases = Map.of(
                "{\"model_type\": ", "not valid JSON",
                "[1]", "must hold a JSON object",
                "{\"n_embd\": 8}", "has no \"model_type\"",
                "{\"model_type\": 7}", "must be a string",
                "{\"model_type\": \"t5\"}", "model_type 't5' is not supported; supported: [gpt2, peft4j-tiny-test]");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            writeConfig(c.getKey());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.load(dir, BASE, registry), c.getKey());
            assertTrue(e.getMessage().contains(c.getValue()), c.getKey() + " -> " + e.getMessage());
        }
        writeConfig("{\"n_embd\": 8}");
        IllegalArgumentException lists = assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.load(dir, BASE, registry));
        assertTrue(lists.getMessage().contains("supported: [gpt2, peft4j-tiny-test]"), lists.getMessage());
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.load(dir, BASE, ModelRegistry.of()));
        assertTrue(none.getMessage().contains("no model factory is installed"), none.getMessage());
    }

    @Test
    void pickleOnlyCheckpointsAreRefusedWithTheConversion() throws IOException {
        writeConfig("{\"model_type\": \"gpt2\"}");
        Files.write(dir.resolve("pytorch_model.bin"), new byte[] {(byte) 0x80, 2});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.load(dir, CAUSAL, gpt2Registry()));
        assertTrue(e.getMessage().contains("pytorch_model.bin") && e.getMessage().contains("only safetensors")
                && e.getMessage().contains("save_pretrained(dir, safe_serialization=True)"), e.getMessage());
        Files.delete(dir.resolve("pytorch_model.bin"));
        NoSuchFileException none = assertThrows(NoSuchFileException.class, () -> HfCheckpoint.load(dir, CAUSAL, gpt2Registry()));
        assertTrue(none.getMessage().contains("model.safetensors"), none.getMessage());
    }

    @Test
    void headsAndFactoryErrorsNameTheModel() throws IOException {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 14, DataType.FLOAT, KernelChoice.PORTABLE);
        HfCheckpoint.save(model, dir);
        IllegalArgumentException head = assertThrows(IllegalArgumentException.class,
                () -> HfCheckpoint.load(dir, LoadOptions.classification(ModelHead.SEQUENCE_CLASSIFICATION, 2), gpt2Registry()));
        assertTrue(head.getMessage().contains("SEQUENCE_CLASSIFICATION") && head.getMessage().contains("CAUSAL_LM"), head.getMessage());

        Map<String, INDArray> partial = new LinkedHashMap<>(model.hfStateDict());
        partial.remove("transformer.ln_f.bias");
        SafetensorsCheckpointWriter.write(dir, partial);
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.load(dir, CAUSAL, gpt2Registry()));
        assertTrue(missing.getMessage().contains("transformer.ln_f.bias") && missing.getMessage().contains(dir.toString()), missing.getMessage());
    }

    @Test
    void saveOptionsAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> new SaveOptions(DataType.INT32, SafetensorsCheckpointWriter.UNSHARDED));
        assertThrows(IllegalArgumentException.class, () -> new SaveOptions(null, 0));
    }
}
