package org.peft4j.core.io.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Reading ONNX initializers and graphs from files written field by field: every storage form peft4j
 * supports, the mapping to HF names, and hostile files, which must fail with {@link OnnxFormatException}
 * before anything large is allocated.
 */
class OnnxWeightsTest {
    @TempDir
    Path dir;

    /**
     * x·W + b then ·W2 + b2, as PyTorch exports two Linear layers: W under an opaque name with a scoped
     * MatMul, W2 through an Identity and an unscoped MatMul; plus each storage form of the supported types.
     */
    static Proto graph() {
        return new Proto()
                .message(Proto.GRAPH_NODE, Proto.node("/dense/MatMul", "MatMul", new String[] {"x", "onnx::MatMul_1"}, "h"))
                .message(Proto.GRAPH_NODE, Proto.node("/dense/Add", "Add", new String[] {"h", "dense.bias"}, "y"))
                .message(Proto.GRAPH_NODE, Proto.node("Identity_3", "Identity", new String[] {"w2"}, "w2_id"))
                .message(Proto.GRAPH_NODE, Proto.node("MatMul_7", "MatMul", new String[] {"y", "w2_id"}, "z"))
                .message(Proto.GRAPH_NODE, Proto.node("Add_8", "Add", new String[] {"z", "head.bias"}, "out"))
                .message(Proto.GRAPH_INITIALIZER, Proto.tensor("onnx::MatMul_1", Proto.FLOAT, 3, 2)
                        .bytes(Proto.TENSOR_RAW_DATA, Proto.floats(1, 2, 3, 4, 5, 6)))
                .message(Proto.GRAPH_INITIALIZER, Proto.tensor("dense.bias", Proto.FLOAT, 2)
                        .bytes(Proto.TENSOR_FLOAT_DATA, Proto.floats(0.5f, -0.5f)))              // packed float_data
                .message(Proto.GRAPH_INITIALIZER, Proto.tensor("w2", Proto.FLOAT16, 2, 2)
                        .bytes(Proto.TENSOR_RAW_DATA, Proto.shorts(0x3C00, 0x4000, 0xB800, 0x3400)))   // 1, 2, -0.5, 0.25
                .message(Proto.GRAPH_INITIALIZER, Proto.tensor("head.bias", Proto.DOUBLE, 2)
                        .bytes(Proto.TENSOR_DOUBLE_DATA, Proto.doubles(0.1, 0.2)))
                .message(Proto.GRAPH_INITIALIZER, Proto.tensor("shape", Proto.INT64, 2)
                        .bytes(Proto.TENSOR_INT64_DATA, new byte[] {2, 3}))
                .message(Proto.GRAPH_INITIALIZER, Proto.tensor("norm.weight", Proto.FLOAT, 3)
                        .fixed32Float(Proto.TENSOR_FLOAT_DATA, 1).fixed32Float(Proto.TENSOR_FLOAT_DATA, 2)
                        .fixed32Float(Proto.TENSOR_FLOAT_DATA, 3))                                 // unpacked float_data
                .message(Proto.GRAPH_INITIALIZER, Proto.tensor("temperature", Proto.FLOAT).bytes(Proto.TENSOR_RAW_DATA, Proto.floats(0.75f)))
                .message(Proto.GRAPH_INPUT, Proto.valueInfo("x"))
                .message(Proto.GRAPH_OUTPUT, Proto.valueInfo("out"));
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }

    private static List<Float> values(INDArray a) {
        float[] f = a.dup().data().asFloat();
        Float[] boxed = new Float[f.length];
        for (int i = 0; i < f.length; i++) {
            boxed[i] = f[i];
        }
        return Arrays.asList(boxed);
    }

    @Test
    void readsEveryStorageFormAndTheGraph() throws IOException {
        try (OnnxWeights onnx = OnnxWeights.open(write("model.onnx", Proto.model(graph())))) {
            assertEquals(List.of("onnx::MatMul_1", "dense.bias", "w2", "head.bias", "norm.weight", "temperature"), List.copyOf(onnx.names()),
                    "floating-point initializers in file order");
            assertEquals(OnnxDataType.OTHER, onnx.initializer("shape").dataType());
            assertEquals(8, onnx.irVersion());
            assertEquals("peft4j-test 1.0", onnx.producer());
            assertEquals(List.of("x"), onnx.graphInputs());
            assertEquals(List.of("out"), onnx.graphOutputs());
            assertEquals(5, onnx.nodes().size());
            assertEquals(new OnnxWeights.Node("/dense/Add", "Add", List.of("h", "dense.bias"), List.of("y")), onnx.nodes().get(1));

            INDArray w = onnx.get("onnx::MatMul_1");
            assertArrayEquals(new long[] {3, 2}, w.shape());
            assertEquals(List.of(1f, 2f, 3f, 4f, 5f, 6f), values(w));
            assertEquals(List.of(0.5f, -0.5f), values(onnx.get("dense.bias")));
            assertEquals(List.of(1f, 2f, -0.5f, 0.25f), values(onnx.get("w2")));
            assertEquals(List.of(0.1f, 0.2f), values(onnx.get("head.bias")));
            assertEquals(List.of(1f, 2f, 3f), values(onnx.get("norm.weight")));
            INDArray temperature = onnx.get("temperature");
            assertEquals(0, temperature.rank());
            assertEquals(0.75f, temperature.getFloat(0));

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> onnx.get("shape"));
            assertTrue(e.getMessage().contains("not a floating-point weight"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> onnx.get("nope"));
            assertTrue(e.getMessage().contains("no initializer 'nope'") && e.getMessage().contains("dense.bias"), e.getMessage());
        }
    }

    @Test
    void linearWeightsGetHfNamesAndTorchLayout() throws IOException {
        try (OnnxWeights onnx = OnnxWeights.open(write("model.onnx", Proto.model(graph())))) {
            OnnxHfNames hf = OnnxHfNames.of(onnx);
            assertEquals(List.of("dense.bias", "head.bias", "norm.weight", "dense.weight", "head.weight"), List.copyOf(hf.names()));
            assertEquals(new OnnxHfNames.Entry("dense.weight", "onnx::MatMul_1", true), hf.entries().get("dense.weight"),
                    "named by its scoped MatMul node");
            assertEquals(new OnnxHfNames.Entry("head.weight", "w2", true), hf.entries().get("head.weight"),
                    "named by the bias added right after it, through an Identity");
            assertEquals(List.of("temperature"), hf.unmapped());
            INDArray dense = hf.get("dense.weight");
            assertArrayEquals(new long[] {2, 3}, dense.shape(), "torch.nn.Linear's [out, in]");
            assertEquals(List.of(1f, 3f, 5f, 2f, 4f, 6f), values(dense));
            assertEquals(List.of(0.5f, -0.5f), values(hf.get("dense.bias")));
            assertThrows(IllegalArgumentException.class, () -> hf.get("onnx::MatMul_1"));
        }
    }

    private OnnxFormatException rejects(String name, byte[] bytes) throws IOException {
        Path file = write(name, bytes);
        return assertThrows(OnnxFormatException.class, () -> OnnxWeights.open(file).close());
    }

    private static byte[] withInitializer(Proto tensor) {
        return Proto.model(new Proto().message(Proto.GRAPH_INITIALIZER, tensor));
    }

    @Test
    void sizesAreCheckedBeforeAnythingIsAllocated() throws IOException {
        OnnxFormatException e = rejects("short.onnx", withInitializer(Proto.tensor("big", Proto.FLOAT, 1000, 1000)
                .bytes(Proto.TENSOR_RAW_DATA, Proto.floats(1, 2))));
        assertTrue(e.getMessage().contains("'big'") && e.getMessage().contains("needs 4000000 bytes") && e.getMessage().contains("has 8"),
                e.getMessage());
        e = rejects("huge.onnx", withInitializer(Proto.tensor("huge", Proto.FLOAT, 1L << 40, 1L << 40).bytes(Proto.TENSOR_RAW_DATA,
                Proto.floats(1))));
        assertTrue(e.getMessage().contains("'huge'"), e.getMessage());
        e = rejects("billions.onnx", withInitializer(Proto.tensor("billions", Proto.FLOAT, 3_000_000_000L).bytes(Proto.TENSOR_RAW_DATA,
                Proto.floats(1))));
        assertTrue(e.getMessage().contains("3000000000 elements"), e.getMessage());
        e = rejects("negative.onnx", withInitializer(Proto.tensor("neg", Proto.FLOAT, 2, -3)));
        assertTrue(e.getMessage().contains("negative dim -3"), e.getMessage());
        long[] tooManyDims = new long[40];
        Arrays.fill(tooManyDims, 1);
        e = rejects("rank.onnx", withInitializer(Proto.tensor("deep", Proto.FLOAT, tooManyDims)));
        assertTrue(e.getMessage().contains("more than 32 dims"), e.getMessage());
        e = rejects("claim.onnx", new Proto().varint(Proto.MODEL_IR_VERSION, 8).lyingLength(Proto.MODEL_GRAPH, 1_900_000_000, new byte[10])
                .toBytes());
        assertTrue(e.getMessage().contains("claims 1900000000 bytes"), e.getMessage());
        e = rejects("name.onnx", Proto.model(new Proto().lyingLength(2, 2_000_000_000, "g".getBytes())));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void unsupportedAndMalformedFilesAreExplained() throws IOException {
        assertTrue(rejects("empty.onnx", new byte[0]).getMessage().contains("no graph"));
        assertTrue(rejects("text.onnx", "this is not a model".getBytes()).getMessage().contains(dir.resolve("text.onnx").toString()));
        OnnxFormatException e = rejects("external.onnx", withInitializer(Proto.tensor("ext", Proto.FLOAT, 4).varint(Proto.TENSOR_DATA_LOCATION, 1)));
        assertTrue(e.getMessage().contains("external file"), e.getMessage());
        e = rejects("group.onnx", Proto.model(new Proto().tag(20, 3)));
        assertTrue(e.getMessage().contains("protobuf group"), e.getMessage());
        e = rejects("twice.onnx", Proto.model(new Proto()
                .message(Proto.GRAPH_INITIALIZER, Proto.tensor("w", Proto.FLOAT, 1).bytes(Proto.TENSOR_RAW_DATA, Proto.floats(1)))
                .message(Proto.GRAPH_INITIALIZER, Proto.tensor("w", Proto.FLOAT, 1).bytes(Proto.TENSOR_RAW_DATA, Proto.floats(2)))));
        assertTrue(e.getMessage().contains("two initializers are named 'w'"), e.getMessage());
        e = rejects("nodata.onnx", withInitializer(Proto.tensor("empty", Proto.FLOAT16, 2)));
        assertTrue(e.getMessage().contains("no data"), e.getMessage());
        e = rejects("wire.onnx", Proto.model(new Proto().message(Proto.GRAPH_INITIALIZER, new Proto().varint(Proto.TENSOR_NAME, 5))));
        assertTrue(e.getMessage().contains("wire type"), e.getMessage());
        assertThrows(NoSuchFileException.class, () -> OnnxWeights.open(dir.resolve("missing.onnx")));
    }

    @Test
    void everyTruncationAndRandomCorruptionFailsCleanlyOrReads() throws IOException {
        byte[] valid = Proto.model(graph());
        Path file = dir.resolve("cut.onnx");
        for (int length = 0; length < valid.length; length++) {
            Files.write(file, Arrays.copyOf(valid, length));
            assertThrows(OnnxFormatException.class, () -> OnnxWeights.open(file).close(), "prefix of " + length + " bytes");
        }
        SplittableRandom rng = new SplittableRandom(42);
        int opened = 0;
        for (int trial = 0; trial < 400; trial++) {
            byte[] corrupt = valid.clone();
            for (int flips = 0; flips < 1 + trial % 3; flips++) {
                corrupt[rng.nextInt(corrupt.length)] = (byte) rng.nextInt(256);
            }
            Files.write(file, corrupt);
            try (OnnxWeights onnx = OnnxWeights.open(file)) {
                opened++;
                for (String name : onnx.names()) {
                    assertTrue(onnx.get(name).length() == onnx.initializer(name).numel(), name);   // whatever opens can be read
                }
            } catch (OnnxFormatException expected) {
                assertFalse(expected.getMessage().isEmpty());
            }
        }
        assertTrue(opened > 0, "some corruptions (in values, not structure) still give a readable file");
    }

    @Test
    void readingAfterCloseFails() throws IOException {
        OnnxWeights onnx = OnnxWeights.open(write("model.onnx", Proto.model(graph())));
        onnx.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> onnx.get("dense.bias"));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
}
