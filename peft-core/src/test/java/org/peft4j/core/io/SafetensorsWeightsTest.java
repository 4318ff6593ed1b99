package org.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class SafetensorsWeightsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** Ten tensors of mixed float dtypes, 4·5 elements each: 80 bytes for F32, 40 for F16/BF16, 160 for F64. */
    private static Map<String, INDArray> stateDict(long seed) {
        Random rng = new Random(seed);
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        SafetensorsDType[] types = {SafetensorsDType.F32, SafetensorsDType.BF16, SafetensorsDType.F16, SafetensorsDType.F64};
        for (int i = 0; i < 10; i++) {
            SafetensorsDType dtype = types[i % types.length];
            tensors.put("layers." + i + ".weight", finiteRandom(dtype, new long[] {4, 5}, rng));
        }
        return tensors;
    }

    /** Random finite values of {@code dtype}, set through their bits where the type is narrower than float. */
    private static INDArray finiteRandom(SafetensorsDType dtype, long[] shape, Random rng) {
        INDArray array = Nd4j.createUninitialized(dtype.dataType(), shape, 'c');
        int n = (int) array.length();
        switch (dtype) {
            case F32 -> SafetensorsFile.nativeBytes(array, 0, 4 * n).asFloatBuffer().put(floats(n, rng));
            case F64 -> {
                double[] values = new double[n];
                for (int i = 0; i < n; i++) {
                    values[i] = rng.nextGaussian();
                }
                SafetensorsFile.nativeBytes(array, 0, 8 * n).asDoubleBuffer().put(values);
            }
            case BF16, F16 -> {
                short[] bits = new short[n];
                for (int i = 0; i < n; i++) {
                    if (dtype == SafetensorsDType.BF16) {
                        bits[i] = (short) (Float.floatToRawIntBits((float) rng.nextGaussian()) >>> 16);
                    } else {                                  // a normal half: sign, exponent 10..20 (2^-5..2^5), mantissa
                        bits[i] = (short) ((rng.nextInt(2) << 15) | ((10 + rng.nextInt(11)) << 10) | rng.nextInt(1 << 10));
                    }
                }
                SafetensorsFile.nativeBytes(array, 0, 2 * n).asShortBuffer().put(bits);
            }
            default -> throw new IllegalArgumentException(dtype.name());
        }
        return array;
    }

    private static float[] floats(int n, Random rng) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) rng.nextGaussian();
        }
        return values;
    }

    private static byte[] bytesOf(INDArray array) {
        INDArray dense = array.dup('c');
        int length = (int) (dense.length() * dense.dataType().width());
        byte[] bytes = new byte[length];
        SafetensorsFile.nativeBytes(dense, 0, length).get(bytes);
        return bytes;
    }

    /** The value {@code get} must give: the stored value widened (exact for F16/BF16) or rounded (F64). */
    private static float[] expectedFloats(INDArray stored) {
        int n = (int) stored.length();
        float[] out = new float[n];
        byte[] bytes = bytesOf(stored);
        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.nativeOrder());
        for (int i = 0; i < n; i++) {
            out[i] = switch (stored.dataType()) {
                case FLOAT -> buffer.getFloat(4 * i);
                case DOUBLE -> (float) buffer.getDouble(8 * i);
                case BFLOAT16 -> Float.intBitsToFloat(buffer.getShort(2 * i) << 16);
                case HALF -> half(buffer.getShort(2 * i));
                default -> throw new IllegalArgumentException(stored.dataType().name());
            };
        }
        return out;
    }

    /** A normal half's value computed from its fields, independently of the code under test. */
    private static float half(short bits) {
        int sign = (bits >> 15) & 1;
        int exponent = (bits >> 10) & 0x1F;
        int mantissa = bits & 0x3FF;
        assertTrue(exponent > 0 && exponent < 31, "test data holds normal halves only");
        float magnitude = Math.scalb(1 + mantissa / 1024f, exponent - 15);
        return sign == 1 ? -magnitude : magnitude;
    }

    private static void assertSameTensors(Map<String, INDArray> expected, SafetensorsWeights weights) {
        assertEquals(new TreeSet<>(expected.keySet()), new TreeSet<>(weights.names()));
        for (Map.Entry<String, INDArray> entry : expected.entrySet()) {
            String name = entry.getKey();
            INDArray stored = weights.read(name);
            assertEquals(entry.getValue().dataType(), stored.dataType(), name);
            assertArrayEquals(bytesOf(entry.getValue()), bytesOf(stored), name + ": stored bits must be preserved");
            INDArray widened = weights.get(name);
            assertEquals(DataType.FLOAT, widened.dataType(), name);
            assertArrayEquals(entry.getValue().shape(), widened.shape(), name);
            float[] actual = widened.dup().data().asFloat();
            float[] reference = expectedFloats(entry.getValue());
            for (int i = 0; i < reference.length; i++) {
                assertEquals(Float.floatToRawIntBits(reference[i]), Float.floatToRawIntBits(actual[i]), name + "[" + i + "]");
            }
            stored.close();
            widened.close();
        }
    }

    // ---------------------------------------------------------------- round trips

    @Test
    void oneFileRoundTripsEveryDtypeBitExactly() throws IOException {
        Map<String, INDArray> tensors = stateDict(1);
        List<Path> written = SafetensorsCheckpointWriter.write(dir, tensors);
        assertEquals(List.of(dir.resolve(SafetensorsWeights.SINGLE_FILE)), written);
        assertFalse(Files.exists(dir.resolve(SafetensorsWeights.INDEX_FILE)), "one shard needs no index");
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir)) {
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(weights.names()), "file order");
            assertSameTensors(tensors, weights);
            assertEquals(Map.of("format", "pt"), weights.metadataOf("layers.0.weight"));
            assertEquals(SafetensorsDType.BF16, weights.info("layers.1.weight").dtype(), "BF16 stays BF16 in storage until asked for");
        }
    }

    @Test
    void shardedRoundTripWritesHfLayout() throws IOException {
        Map<String, INDArray> tensors = stateDict(2);
        // 80 + 40 + 40 + 160 + 80 + 40 + 40 + 160 + 80 + 40 bytes, greedy under 200: [0,1,2] [3] [4,5,6] [7] [8,9]
        List<Path> written = SafetensorsCheckpointWriter.write(dir, tensors, 200);
        assertEquals(6, written.size());
        assertEquals(dir.resolve(SafetensorsWeights.INDEX_FILE), written.get(5), "index last");
        assertFalse(Files.exists(dir.resolve(SafetensorsWeights.SINGLE_FILE)));
        JsonNode index = JSON.readTree(dir.resolve(SafetensorsWeights.INDEX_FILE).toFile());
        assertEquals(760, index.get("metadata").get("total_size").asLong());
        JsonNode map = index.get("weight_map");
        List<String> keys = new ArrayList<>();
        map.fieldNames().forEachRemaining(keys::add);
        assertEquals(new ArrayList<>(new TreeSet<>(keys)), keys, "HF sorts the weight_map");
        assertEquals("model-00001-of-00005.safetensors", map.get("layers.2.weight").asText());
        assertEquals("model-00002-of-00005.safetensors", map.get("layers.3.weight").asText());
        assertEquals("model-00005-of-00005.safetensors", map.get("layers.9.weight").asText());

        try (SafetensorsWeights weights = SafetensorsWeights.open(dir)) {
            assertEquals(5, weights.files().size());
            assertSameTensors(tensors, weights);
            for (String name : tensors.keySet()) {
                assertEquals(Map.of("format", "pt"), weights.metadataOf(name), "every shard carries HF's metadata");
            }
            assertEquals("model-00003-of-00005.safetensors", weights.fileOf("layers.5.weight").getFileName().toString());
        }
        try (SafetensorsWeights viaIndex = SafetensorsWeights.open(dir.resolve(SafetensorsWeights.INDEX_FILE))) {
            assertEquals(10, viaIndex.names().size());
        }
    }

    @Test
    void aTensorLargerThanTheShardSizeGetsAShardOfItsOwn() {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("small", Nd4j.zeros(DataType.FLOAT, 2));        // 8 bytes
        tensors.put("big", Nd4j.zeros(DataType.FLOAT, 100));        // 400 bytes
        tensors.put("tail", Nd4j.zeros(DataType.FLOAT, 2));
        List<Map<String, INDArray>> shards = SafetensorsCheckpointWriter.shard(tensors, 16);
        assertEquals(List.of(Set.of("small"), Set.of("big"), Set.of("tail")), shards.stream().map(Map::keySet).toList());
    }

    @Test
    void changingTheLayoutRemovesStaleFiles() throws IOException {
        Map<String, INDArray> tensors = stateDict(3);
        SafetensorsCheckpointWriter.write(dir, tensors, 200);
        Files.writeString(dir.resolve("notes.txt"), "kept");
        SafetensorsCheckpointWriter.write(dir, tensors);
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(Set.of("model.safetensors", "notes.txt"), files.map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
        }
        SafetensorsCheckpointWriter.write(dir, tensors, 400);
        try (Stream<Path> files = Files.list(dir)) {
            Set<String> names = files.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
            assertFalse(names.contains("model.safetensors"), "a stale single file would shadow the new index: " + names);
            assertTrue(names.contains(SafetensorsWeights.INDEX_FILE));
        }
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir)) {
            assertSameTensors(tensors, weights);
        }
        SafetensorsCheckpointWriter.write(dir, tensors, 200);   // more shards than before, old names replaced
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(7, files.count(), "5 shards, the index and notes.txt");
        }
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir)) {
            assertSameTensors(tensors, weights);
        }
    }

    @Test
    void writerRejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> SafetensorsCheckpointWriter.write(dir, Map.of()));
        assertThrows(IllegalArgumentException.class, () -> SafetensorsCheckpointWriter.write(dir, stateDict(4), 0));
    }

    // ---------------------------------------------------------------- hostile and broken indexes

    /** Writes a two-shard checkpoint (a, b in shard 1; c in shard 2) and returns its index as a mutable JSON tree. */
    private ObjectNode twoShards() throws IOException {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("a", Nd4j.ones(DataType.FLOAT, 4));
        tensors.put("b", Nd4j.ones(DataType.FLOAT, 4));
        tensors.put("c", Nd4j.ones(DataType.FLOAT, 4));
        SafetensorsCheckpointWriter.write(dir, tensors, 32);
        return (ObjectNode) JSON.readTree(dir.resolve(SafetensorsWeights.INDEX_FILE).toFile());
    }

    private SafetensorsFormatException openWithIndex(JsonNode index) throws IOException {
        Path file = dir.resolve(SafetensorsWeights.INDEX_FILE);
        Files.writeString(file, JSON.writeValueAsString(index));
        return assertThrows(SafetensorsFormatException.class, () -> SafetensorsWeights.openIndex(file));
    }

    @Test
    void shardPathsMustBePlainFileNames() throws IOException {
        twoShards();
        Path shard = dir.resolve("model-00002-of-00002.safetensors");
        Files.createDirectories(dir.resolve("sub"));
        Files.copy(shard, dir.resolve("sub").resolve(shard.getFileName()));      // these files exist, so only the name check stops them
        Path outside = shard.toAbsolutePath();
        for (String hostile : List.of("../outside.safetensors", "..", "sub/model-00002-of-00002.safetensors",
                "..\\outside.safetensors", outside.toAbsolutePath().toString(), "/etc/passwd", "", "C:model.safetensors",
                "model\u0000.safetensors")) {
            ObjectNode index = twoShards();
            ((ObjectNode) index.get("weight_map")).put("c", hostile);
            SafetensorsFormatException e = openWithIndex(index);
            assertTrue(e.getMessage().contains("plain file name"), hostile + ": " + e.getMessage());
            assertTrue(e.getMessage().contains("'c'"), "names the tensor: " + e.getMessage());
        }
    }

    @Test
    void everyMappedShardMustExist() throws IOException {
        ObjectNode index = twoShards();
        ((ObjectNode) index.get("weight_map")).put("c", "model-00003-of-00003.safetensors");
        SafetensorsFormatException e = openWithIndex(index);
        assertTrue(e.getMessage().contains("model-00003-of-00003.safetensors") && e.getMessage().contains("not a file"), e.getMessage());
    }

    @Test
    void everyTensorMustBeInTheShardTheIndexNames() throws IOException {
        ObjectNode index = twoShards();
        ((ObjectNode) index.get("weight_map")).put("c", "model-00001-of-00002.safetensors");
        ((ObjectNode) index.get("weight_map")).put("x", "model-00002-of-00002.safetensors");
        SafetensorsFormatException e = openWithIndex(index);
        assertTrue(e.getMessage().contains("does not hold") || e.getMessage().contains("does not list"), e.getMessage());

        ObjectNode missingTensor = twoShards();
        ((ObjectNode) missingTensor.get("weight_map")).put("ghost", "model-00002-of-00002.safetensors");
        SafetensorsFormatException ghost = openWithIndex(missingTensor);
        assertTrue(ghost.getMessage().contains("'ghost'") && ghost.getMessage().contains("does not hold it"), ghost.getMessage());

        ObjectNode unlisted = twoShards();
        ((ObjectNode) unlisted.get("weight_map")).remove("b");
        SafetensorsFormatException extra = openWithIndex(unlisted);
        assertTrue(extra.getMessage().contains("'b'") && extra.getMessage().contains("does not list"), extra.getMessage());
    }

    @Test
    void aTensorInTwoShardsIsAnError() throws IOException {
        twoShards();
        Map<String, INDArray> second = new LinkedHashMap<>();
        second.put("c", Nd4j.ones(DataType.FLOAT, 4));
        second.put("a", Nd4j.zeros(DataType.FLOAT, 4));
        SafetensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), second, Map.of("format", "pt"));
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsWeights.open(dir));
        assertTrue(e.getMessage().contains("'a' is in two shards"), e.getMessage());
    }

    @Test
    void malformedIndexesAreRejected() throws IOException {
        twoShards();
        Path file = dir.resolve(SafetensorsWeights.INDEX_FILE);
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("{not json", "not valid JSON");
        cases.put("[1, 2]", "JSON object");
        cases.put("{\"metadata\": {}}", "weight_map");
        cases.put("{\"weight_map\": []}", "weight_map");
        cases.put("{\"weight_map\": {}}", "empty");
        cases.put("{\"weight_map\": {\"a\": 3}}", "as a string");
        cases.put("{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}", "Duplicate field");
        cases.put("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\"}} {}", "not valid JSON");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Files.writeString(file, c.getKey());
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsWeights.openIndex(file), c.getKey());
            assertTrue(e.getMessage().contains(c.getValue()), c.getKey() + " -> " + e.getMessage());
            assertTrue(e.getMessage().startsWith(file.toAbsolutePath().toString()), "names the index: " + e.getMessage());
        }
    }

    @Test
    void missingCheckpointsAndUnknownNamesAreClear() throws IOException {
        NoSuchFileException none = assertThrows(NoSuchFileException.class, () -> SafetensorsWeights.open(dir));
        assertTrue(none.getMessage().contains("model.safetensors"), none.getMessage());
        assertThrows(NoSuchFileException.class, () -> SafetensorsWeights.open(dir.resolve("absent.safetensors")));
        SafetensorsCheckpointWriter.write(dir, stateDict(5));
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> weights.get("nope"));
            assertTrue(e.getMessage().contains("'nope'") && e.getMessage().contains("layers.0.weight"), e.getMessage());
            assertFalse(weights.contains("nope"));
            assertTrue(weights.contains("layers.9.weight"));
        }
    }

    @Test
    void plainFileNameRules() {
        assertNull(SafetensorsWeights.plainFileNameProblem("model-00001-of-00002.safetensors"));
        for (String bad : List.of("a/b", "a\\b", "..", ".", "x..y", "/abs", "C:x", "a\u0001b", "")) {
            assertTrue(SafetensorsWeights.plainFileNameProblem(bad) != null, bad);
        }
    }

    @Test
    void integerTensorsAreReadButNotWidened() throws IOException {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("ids", Nd4j.createFromArray(1L, 2L, 3L));
        SafetensorsCheckpointWriter.write(dir, tensors);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir)) {
            assertEquals(tensors.get("ids"), weights.read("ids"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> weights.get("ids"));
            assertTrue(e.getMessage().contains("I64"), e.getMessage());
        }
    }
}
