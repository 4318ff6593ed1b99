package org.peft4j.core.fuzz;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.io.SafetensorsWriter;
import org.peft4j.core.io.onnx.OnnxSeeds;
import org.peft4j.core.data.LabelSet;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertModel;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.model.llama.LlamaConfig;
import org.peft4j.core.model.llama.LlamaModel;
import java.nio.charset.StandardCharsets;

/**
 * Writes the seed inputs of the fuzz tests into the test resources, where Jazzer finds them
 * ({@code <TestClass>Inputs/<method>/}). Run from the repository root after a build:
 * {@code java -cp peft-core/target/test-classes:peft-core/target/classes:"examples/target/lib/*" org.peft4j.core.fuzz.FuzzSeeds}.
 * The seeds are committed; rerun only when a format or a fuzz test changes.
 */
public final class FuzzSeeds {
    private static final Path RESOURCES = Path.of("peft-core/src/test/resources/org/peft4j/core");

    private FuzzSeeds() {
    }

    public static void main(String[] args) throws IOException {
        Path tmp = Files.createTempDirectory("seeds");
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("a.weight", Nd4j.createFromArray(new float[][] {{1, 2, 3}, {4, 5, 6}}));
        tensors.put("a.bias", Nd4j.createFromArray(0.5f, -0.5f).castTo(DataType.FLOAT16));
        tensors.put("b", Nd4j.createFromArray(1.5f, 2.5f).castTo(DataType.BFLOAT16));
        tensors.put("c", Nd4j.createFromArray(0.25, 0.75));
        tensors.put("ids", Nd4j.createFromArray(1L, 2L, 3L));
        tensors.put("scalar", Nd4j.scalar(7f));
        Path file = tmp.resolve("model.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        seed("io/SafetensorsFuzzTestInputs", List.of("safetensors", "safetensorsLong"), "all-dtypes", Files.readAllBytes(file));
        SafetensorsWriter.write(file, Map.of("w", Nd4j.createFromArray(1f, 2f)));
        seed("io/SafetensorsFuzzTestInputs", List.of("safetensors", "safetensorsLong"), "one-tensor", Files.readAllBytes(file));
        seed("io/onnx/OnnxFuzzTestInputs", List.of("onnx", "onnxLong"), "two-linear-layers", OnnxSeeds.model());
        Path sharded = Files.createDirectories(tmp.resolve("sharded"));
        writeShards(sharded);
        seed("io/SafetensorsIndexFuzzTestInputs", List.of("index", "indexLong"), "two-shards", ("{\"metadata\": {\"total_size\": 28}, "
                + "\"weight_map\": {\"a.weight\": \"model-00001-of-00002.safetensors\", \"a.bias\": \"model-00001-of-00002.safetensors\", "
                + "\"b\": \"model-00002-of-00002.safetensors\"}}").getBytes(StandardCharsets.UTF_8));
        Path checkpoint = tmp.resolve("gpt2");
        HfCheckpoint.save(tinyGpt2(), checkpoint);
        seed("model/ModelConfigFuzzTestInputs", List.of("config", "configLong"), "gpt2", Files.readAllBytes(checkpoint.resolve("config.json")));
        for (PretrainedModel other : otherArchitectures()) {
            Path dir = tmp.resolve(other.modelType());
            HfCheckpoint.save(other, dir);
            seed("model/ModelConfigFuzzTestInputs", List.of("config", "configLong"), other.modelType(), Files.readAllBytes(dir.resolve("config.json")));
        }
        Path labels = tmp.resolve("labels.json");
        LabelSet.ofStrings(List.of("acceptable", "unacceptable")).save(labels);
        seed("data/LabelSetFuzzTestInputs", List.of("labels", "labelsLong"), "strings", Files.readAllBytes(labels));
        LabelSet.ofIntegers(List.of(0L, 1L, 2L)).save(labels);
        seed("data/LabelSetFuzzTestInputs", List.of("labels", "labelsLong"), "integers", Files.readAllBytes(labels));
        System.out.println("seeds written under " + RESOURCES.toAbsolutePath());
    }

    /** The shard names of the seed index. */
    public static final String SHARD_1 = "model-00001-of-00002.safetensors";
    public static final String SHARD_2 = "model-00002-of-00002.safetensors";

    /** The two shards the seed index names: a.weight and a.bias in the first, b in the second. */
    public static void writeShards(Path dir) throws IOException {
        SafetensorsWriter.write(dir.resolve(SHARD_1), Map.of("a.weight", Nd4j.createFromArray(new float[][] {{1, 2}, {3, 4}}),
                "a.bias", Nd4j.createFromArray(0.5f, -0.5f)));
        SafetensorsWriter.write(dir.resolve(SHARD_2), Map.of("b", Nd4j.createFromArray(7f)));
    }

    /** The tiny GPT-2 whose weights lie beside every fuzzed config.json; its config is a seed. */
    public static Gpt2Model tinyGpt2() {
        Gpt2Config config = Gpt2Config.builder().vocabSize(11).nPositions(8).nEmbd(8).nLayer(1).nHead(2).build();
        return Gpt2Model.random(config, 3, DataType.FLOAT, KernelChoice.AUTO);
    }

    /** Tiny BERT and LLaMA models, whose configs are seeds too (their weights do not fit: the load must say so). */
    static List<PretrainedModel> otherArchitectures() {
        BertConfig bert = BertConfig.builder().vocabSize(11).hiddenSize(8).numHiddenLayers(1).numAttentionHeads(2).intermediateSize(16)
                .maxPositionEmbeddings(8).build();
        LlamaConfig llama = LlamaConfig.builder().vocabSize(11).hiddenSize(8).numHiddenLayers(1).numAttentionHeads(2).numKeyValueHeads(1)
                .intermediateSize(16).maxPositionEmbeddings(8).build();
        return List.of(BertModel.random(bert, 3, DataType.FLOAT, KernelChoice.AUTO), LlamaModel.random(llama, 3, DataType.FLOAT, KernelChoice.AUTO));
    }

    /** Writes one seed for each of {@code methods} of a fuzz test. */
    static void seed(String inputsDir, List<String> methods, String name, byte[] data) throws IOException {
        for (String method : methods) {
            Path dir = RESOURCES.resolve(inputsDir).resolve(method);
            Files.createDirectories(dir);
            Files.write(dir.resolve(name), data);
        }
    }
}
