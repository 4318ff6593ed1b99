package org.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeout;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class SafetensorsTest {
    @TempDir
    Path dir;

    // ---------------------------------------------------------------- round trips

    @Test
    void everyDTypeRoundTripsBitExactly() throws IOException {
        Random rng = new Random(7);
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        for (SafetensorsDType dtype : SafetensorsDType.values()) {
            tensors.put("t_" + dtype, randomArray(dtype, new long[] {3, 5}, rng));
        }
        Path path = dir.resolve("all.safetensors");
        SafetensorsWriter.write(path, tensors, Map.of("format", "pt"));

        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(file.names()));
            for (SafetensorsDType dtype : SafetensorsDType.values()) {
                String name = "t_" + dtype;
                INDArray original = tensors.get(name);
                INDArray back = file.read(name);
                assertEquals(dtype.dataType(), back.dataType(), name);
                assertArrayEquals(new long[] {3, 5}, back.shape(), name);
                assertFalse(back.isView(), name);
                assertArrayEquals(bytesOf(original), bytesOf(back), name + ": bytes differ after the round trip");
                assertArrayEquals(littleEndian(original, dtype), toArray(file.rawBytes(name)), name + ": stored bytes");
                assertEquals(ByteOrder.LITTLE_ENDIAN, file.rawBytes(name).order());
                assertTrue(file.rawBytes(name).isReadOnly());
                back.close();
            }
        }
    }

    @Test
    void floatSpecialValuesKeepTheirBits() throws IOException {
        INDArray f32 = Nd4j.createUninitialized(DataType.FLOAT, new long[] {5}, 'c');
        SafetensorsFile.nativeBytes(f32, 0, 20).asIntBuffer()
                .put(new int[] {0x7FC0_0001, 0xFFBA_DBAD, 0x8000_0000, 0x7F80_0001, 0xFF80_0000});
        INDArray f64 = Nd4j.createUninitialized(DataType.DOUBLE, new long[] {3}, 'c');
        SafetensorsFile.nativeBytes(f64, 0, 24).asLongBuffer()
                .put(new long[] {0x7FF8_0000_DEAD_BEEFL, 0x8000_0000_0000_0000L, 0xFFF0_0000_0000_0001L});
        INDArray f16 = Nd4j.createUninitialized(DataType.FLOAT16, new long[] {3}, 'c');
        SafetensorsFile.nativeBytes(f16, 0, 6).asShortBuffer().put(new short[] {(short) 0x7E01, (short) 0xFD55, (short) 0x8000});
        INDArray bf16 = Nd4j.createUninitialized(DataType.BFLOAT16, new long[] {3}, 'c');
        SafetensorsFile.nativeBytes(bf16, 0, 6).asShortBuffer().put(new short[] {(short) 0x7FC1, (short) 0xFF81, (short) 0x8000});
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("f32", f32);
        tensors.put("f64", f64);
        tensors.put("f16", f16);
        tensors.put("bf16", bf16);
        Path path = dir.resolve("nan.safetensors");
        SafetensorsWriter.write(path, tensors);

        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            for (Map.Entry<String, INDArray> entry : tensors.entrySet()) {
                assertArrayEquals(bytesOf(entry.getValue()), bytesOf(file.read(entry.getKey())), entry.getKey());
            }
            float[] widened = file.readAsFloat("bf16").toFloatVector();
            assertEquals(0x7FC1_0000, Float.floatToRawIntBits(widened[0]));
            assertEquals(0xFF81_0000, Float.floatToRawIntBits(widened[1]));
            assertEquals(0x8000_0000, Float.floatToRawIntBits(widened[2]));
        }
    }

    @Test
    void viewsAndFortranOrderedArraysAreWrittenInCOrder() throws IOException {
        INDArray base = Nd4j.createFromArray(new float[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}).reshape(3, 4);
        INDArray transposed = base.transpose();                                          // [4, 3] view, f order
        INDArray rows = base.get(NDArrayIndex.interval(1, 3), NDArrayIndex.all());       // [2, 4] view with offset
        INDArray fortran = base.dup('f');
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("transposed", transposed);
        tensors.put("rows", rows);
        tensors.put("fortran", fortran);
        Path path = dir.resolve("views.safetensors");
        SafetensorsWriter.write(path, tensors);

        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertArrayEquals(new float[] {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, floats(file.rawBytes("transposed")));
            assertArrayEquals(new float[] {4, 5, 6, 7, 8, 9, 10, 11}, floats(file.rawBytes("rows")));
            assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, floats(file.rawBytes("fortran")));
            assertEquals(transposed, file.read("transposed"));
            assertEquals(rows, file.read("rows"));
            assertEquals(base, file.read("fortran"));
        }
        assertEquals(0f, base.getFloat(0, 0));   // the caller's arrays are untouched
    }

    @Test
    void scalarsAndEmptyTensorsRoundTrip() throws IOException {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("scalar", Nd4j.scalar(3.5f));
        tensors.put("long_scalar", Nd4j.scalar(-7L));
        tensors.put("empty", Nd4j.create(DataType.FLOAT, 0, 3));
        tensors.put("empty_bf16", Nd4j.create(DataType.BFLOAT16, 0));
        tensors.put("after", Nd4j.createFromArray(1.0, 2.0));
        Path path = dir.resolve("scalar.safetensors");
        SafetensorsWriter.write(path, tensors);

        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertArrayEquals(new long[0], file.info("scalar").shape());
            INDArray scalar = file.read("scalar");
            assertEquals(0, scalar.rank());
            assertEquals(3.5f, scalar.getFloat(0));
            assertEquals(-7L, file.read("long_scalar").getLong(0));
            assertEquals(DataType.INT64, file.read("long_scalar").dataType());

            SafetensorsFile.TensorInfo empty = file.info("empty");
            assertArrayEquals(new long[] {0, 3}, empty.shape());
            assertEquals(0, empty.byteLength());
            INDArray emptyBack = file.read("empty");
            assertTrue(emptyBack.isEmpty());
            assertArrayEquals(new long[] {0, 3}, emptyBack.shape());
            assertTrue(file.readAsFloat("empty_bf16").isEmpty());
            assertEquals(0, file.rawBytes("empty").remaining());
            assertArrayEquals(new double[] {1, 2}, file.read("after").toDoubleVector());
        }
    }

    @Test
    void metadataRoundTripsAndComesFirst() throws IOException {
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put("note", "ünïcode ✓ \"quoted\"\n");
        Path path = dir.resolve("meta.safetensors");
        SafetensorsWriter.write(path, Map.of("w", Nd4j.createFromArray(1f)), metadata);

        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(metadata, file.metadata());
            assertEquals(List.of("w"), List.copyOf(file.names()));
        }
        assertTrue(headerText(Files.readAllBytes(path)).startsWith("{\"__metadata__\":{\"format\":\"pt\""));
    }

    @Test
    void writerProducesTheExactHuggingFaceLayout() throws IOException {
        Path path = dir.resolve("exact.safetensors");
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("w", Nd4j.createFromArray(new float[][] {{1, 2}, {3, 4}}));
        tensors.put("b", Nd4j.createFromArray((short) 5));
        SafetensorsWriter.write(path, tensors);

        String json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[16,18]}}";
        String padded = json + " ".repeat((8 - json.length() % 8) % 8);
        ByteBuffer expected = ByteBuffer.allocate(8 + padded.length() + 18).order(ByteOrder.LITTLE_ENDIAN);
        expected.putLong(padded.length()).put(padded.getBytes(StandardCharsets.US_ASCII));
        expected.putFloat(1).putFloat(2).putFloat(3).putFloat(4).putShort((short) 5);
        assertArrayEquals(expected.array(), Files.readAllBytes(path));
    }

    @Test
    void readsAHandBuiltFile() throws IOException {
        Path path = write("hand.safetensors", fileBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
                ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(1).putFloat(2).putFloat(3).putFloat(4).array()));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(new SafetensorsFile.TensorInfo("w", SafetensorsDType.F32, new long[] {2, 2}, 0, 16), file.info("w"));
            INDArray w = file.read("w");
            assertEquals(DataType.FLOAT, w.dataType());
            assertEquals(1f, w.getFloat(0, 0));
            assertEquals(2f, w.getFloat(0, 1));
            assertEquals(3f, w.getFloat(1, 0));
            assertEquals(4f, w.getFloat(1, 1));
            assertEquals(w, file.readAsFloat("w"));
            assertEquals(Map.of(), file.metadata());
        }
    }

    @Test
    void acceptsGapsAndOrdersNamesByOffset() throws IOException {
        // b is listed first but stored second; bytes 4..8 belong to no tensor; e is empty inside a's range.
        String header = "{\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]},"
                + "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}";
        byte[] data = {1, 2, (byte) 200, 4, 9, 9, 9, 9, 42, 0, 0, 0, 7, 7};
        try (SafetensorsFile file = SafetensorsFile.open(write("gaps.safetensors", fileBytes(header, data)))) {
            assertEquals(List.of("a", "e", "b"), List.copyOf(file.names()));
            assertEquals(DataType.UINT8, file.read("a").dataType());
            assertEquals(200, file.read("a").getInt(2));
            assertEquals(42, file.read("b").getInt(0));
        }
    }

    @Test
    void widensBFloat16AndHalfToHandComputedFloats() throws IOException {
        short[] bf16 = {0x3F80, (short) 0xC000, 0x7F80, (short) 0xFF80, 0x0000, (short) 0x8000, 0x3EAB, 0x0001};
        float[] bf16Expected = {1f, -2f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 0.333984375f, 0x1p-133f};
        short[] f16 = {0x3C00, (short) 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, (short) 0x8000, 0x7C00, (short) 0xFC00, 0x3555, (short) 0x8001};
        float[] f16Expected = {1f, -2f, 65504f, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, -0f, Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY, 0.333251953125f, -0x1p-24f};
        ByteBuffer data = ByteBuffer.allocate(2 * (bf16.length + f16.length) + 2 + 16).order(ByteOrder.LITTLE_ENDIAN);
        for (short s : bf16) {
            data.putShort(s);
        }
        for (short s : f16) {
            data.putShort(s);
        }
        data.putShort((short) 0x7E00);                        // F16 NaN
        data.putDouble(1.0 / 3).putDouble(1e300);             // F64
        int bfEnd = 2 * bf16.length;
        int f16End = bfEnd + 2 * f16.length;
        String header = "{\"bf\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[0," + bfEnd + "]},"
                + "\"half\":{\"dtype\":\"F16\",\"shape\":[11],\"data_offsets\":[" + bfEnd + "," + f16End + "]},"
                + "\"nan\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[" + f16End + "," + (f16End + 2) + "]},"
                + "\"wide\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[" + (f16End + 2) + "," + (f16End + 18) + "]}}";
        try (SafetensorsFile file = SafetensorsFile.open(write("widen.safetensors", fileBytes(header, data.array())))) {
            assertEquals(DataType.BFLOAT16, file.read("bf").dataType());
            assertEquals(DataType.FLOAT16, file.read("half").dataType());
            assertBitsEqual(bf16Expected, file.readAsFloat("bf").toFloatVector());
            assertBitsEqual(f16Expected, file.readAsFloat("half").toFloatVector());
            assertTrue(Float.isNaN(file.readAsFloat("nan").getFloat(0)));
            assertArrayEquals(new float[] {(float) (1.0 / 3), Float.POSITIVE_INFINITY}, file.readAsFloat("wide").toFloatVector());
            assertEquals(DataType.FLOAT, file.readAsFloat("wide").dataType());
        }
        for (int i = 0; i < f16.length; i++) {
            assertEquals(Float.floatToRawIntBits(f16Expected[i]), Float.floatToRawIntBits(SafetensorsDType.halfToFloat(f16[i])));
        }
    }

    @Test
    void widenedValuesMatchNd4jCastsForAllBitPatterns() throws IOException {
        INDArray half = Nd4j.createUninitialized(DataType.FLOAT16, new long[] {256, 256}, 'c');
        INDArray bf16 = Nd4j.createUninitialized(DataType.BFLOAT16, new long[] {65536}, 'c');
        short[] all = new short[65536];
        for (int i = 0; i < all.length; i++) {
            all[i] = (short) i;
        }
        SafetensorsFile.nativeBytes(half, 0, 2 * all.length).asShortBuffer().put(all);
        SafetensorsFile.nativeBytes(bf16, 0, 2 * all.length).asShortBuffer().put(all);
        Path path = dir.resolve("all-bits.safetensors");
        SafetensorsWriter.write(path, Map.of("half", half, "bf16", bf16));

        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            for (String name : List.of("half", "bf16")) {
                float[] ours = file.readAsFloat(name).ravel().toFloatVector();
                float[] nd4j = file.read(name).castTo(DataType.FLOAT).ravel().toFloatVector();
                for (int i = 0; i < all.length; i++) {
                    if (Float.isNaN(nd4j[i])) {
                        assertTrue(Float.isNaN(ours[i]), name + " bits 0x" + Integer.toHexString(i));
                    } else {
                        assertEquals(Float.floatToRawIntBits(nd4j[i]), Float.floatToRawIntBits(ours[i]),
                                name + " bits 0x" + Integer.toHexString(i) + ": ND4J " + nd4j[i] + ", ours " + ours[i]);
                    }
                }
            }
        }
    }

    @Test
    void smallChunksGiveTheSameResult() throws IOException {
        Random rng = new Random(11);
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        for (SafetensorsDType dtype : SafetensorsDType.values()) {
            tensors.put(dtype.name(), randomArray(dtype, new long[] {37, 3}, rng));
        }
        Path path = dir.resolve("chunks.safetensors");
        SafetensorsWriter.write(path, tensors);

        try (SafetensorsFile whole = SafetensorsFile.open(path);
             SafetensorsFile chunked = SafetensorsFile.open(path, 8)) {
            for (SafetensorsDType dtype : SafetensorsDType.values()) {
                assertArrayEquals(bytesOf(whole.read(dtype.name())), bytesOf(chunked.read(dtype.name())), dtype.name());
                if (dtype.isFloatingPoint()) {
                    assertArrayEquals(bytesOf(whole.readAsFloat(dtype.name())), bytesOf(chunked.readAsFloat(dtype.name())), dtype.name());
                }
            }
        }
    }

    @Test
    @SuppressWarnings("try")   // the workspace is only activated, never referenced
    void arraysAreCreatedOutsideWorkspaces() throws IOException {
        Path path = dir.resolve("ws.safetensors");
        WorkspaceConfiguration config = WorkspaceConfiguration.builder().initialSize(1 << 20)
                .policyAllocation(AllocationPolicy.STRICT).policyLearning(LearningPolicy.NONE).build();
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().getAndActivateWorkspace(config, "SAFETENSORS_TEST")) {
            INDArray attached = Nd4j.createFromArray(new float[] {1, 2, 3}).mul(2);
            assertTrue(attached.isAttached());
            SafetensorsWriter.write(path, Map.of("x", attached, "h", attached.castTo(DataType.FLOAT16)));
            try (SafetensorsFile file = SafetensorsFile.open(path)) {
                INDArray x = file.read("x");
                INDArray h = file.readAsFloat("h");
                assertFalse(x.isAttached());
                assertFalse(h.isAttached());
                assertArrayEquals(new float[] {2, 4, 6}, x.toFloatVector());
                assertArrayEquals(new float[] {2, 4, 6}, h.toFloatVector());
            }
        }
    }

    @Test
    void largeTensorIsCopiedInBulk() throws IOException {
        int n = 16 << 20;                                      // 64 MiB of floats
        float[] values = new float[n];
        Random rng = new Random(3);
        for (int i = 0; i < n; i++) {
            values[i] = rng.nextFloat();
        }
        INDArray big = Nd4j.createFromArray(values).reshape(4096, 4096);
        Path path = dir.resolve("big.safetensors");
        assertTimeout(Duration.ofSeconds(30), () -> {
            SafetensorsWriter.write(path, Map.of("big", big));
            try (SafetensorsFile file = SafetensorsFile.open(path)) {
                INDArray back = file.read("big");
                assertEquals(big, back);
                back.close();
            }
        });
    }

    @Test
    void infoReportsTheTensor() throws IOException {
        Path path = dir.resolve("info.safetensors");
        SafetensorsWriter.write(path, Map.of("x", Nd4j.create(DataType.BFLOAT16, 2, 3)));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            SafetensorsFile.TensorInfo info = file.info("x");
            assertEquals(SafetensorsDType.BF16, info.dtype());
            assertEquals(6, info.numel());
            assertEquals(12, info.byteLength());
            assertEquals(path, file.path());
        }
    }

    // ---------------------------------------------------------------- misuse

    @Test
    void unknownNameListsTheAvailableNames() throws IOException {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        for (int i = 0; i < 25; i++) {
            tensors.put("layer" + i, Nd4j.scalar(i * 1f));
        }
        Path path = dir.resolve("names.safetensors");
        SafetensorsWriter.write(path, tensors);
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> file.read("nope"));
            assertTrue(e.getMessage().contains("has no tensor 'nope'"), e.getMessage());
            assertTrue(e.getMessage().contains("'layer0', 'layer1'"), e.getMessage());
            assertTrue(e.getMessage().contains("'layer19'"), e.getMessage());
            assertFalse(e.getMessage().contains("'layer20'"), e.getMessage());
            assertTrue(e.getMessage().contains("(5 more)"), e.getMessage());
        }
    }

    @Test
    void readAsFloatRejectsIntegerTensors() throws IOException {
        Path path = dir.resolve("ints.safetensors");
        SafetensorsWriter.write(path, Map.of("ids", Nd4j.createFromArray(1, 2, 3)));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> file.readAsFloat("ids"));
            assertTrue(e.getMessage().contains("tensor 'ids' is I32; use read()"), e.getMessage());
        }
    }

    @Test
    void readingAfterCloseFails() throws IOException {
        Path path = dir.resolve("closed.safetensors");
        SafetensorsWriter.write(path, Map.of("x", Nd4j.createFromArray(1f)));
        SafetensorsFile file = SafetensorsFile.open(path);
        ByteBuffer before = file.rawBytes("x");
        file.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> file.read("x"));
        assertTrue(e.getMessage().contains("is closed"), e.getMessage());
        assertEquals(1f, before.getFloat(0));
    }

    @Test
    void rankBeyondNd4jIsReportedOnRead() throws IOException {
        String shape = IntStream.range(0, 33).mapToObj(i -> "1").collect(Collectors.joining(","));
        Path path = write("rank.safetensors", fileBytes("{\"x\":{\"dtype\":\"U8\",\"shape\":[" + shape + "],\"data_offsets\":[0,1]}}",
                new byte[] {5}));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> file.read("x"));
            assertTrue(e.getMessage().contains("at most 32 dimensions"), e.getMessage());
            assertEquals(5, file.rawBytes("x").get(0));
        }
    }

    @Test
    void writerRejectsBadNamesAndTypes() {
        Path path = dir.resolve("bad.safetensors");
        INDArray x = Nd4j.createFromArray(1f);
        assertWriteRejected(path, Map.of("", x), "names must be non-empty");
        assertWriteRejected(path, Map.of("__metadata__", x), "not \"__metadata__\"");
        Map<String, INDArray> identity = new IdentityHashMap<>();
        identity.put("w", x);
        identity.put(new String("w"), x);
        assertWriteRejected(path, identity, "'w' appears twice");
        Map<String, INDArray> withNull = new LinkedHashMap<>();
        withNull.put("n", null);
        assertWriteRejected(path, withNull, "tensor 'n' is null");
        assertWriteRejected(path, Map.of("u", Nd4j.create(DataType.UINT16, 2)), "UINT16 cannot be stored in safetensors; supported: DOUBLE, FLOAT");
        Map<String, String> badMetadata = new LinkedHashMap<>();
        badMetadata.put("k", null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(path, Map.of("x", x), badMetadata));
        assertTrue(e.getMessage().contains("metadata keys and values must not be null"), e.getMessage());
        assertFalse(Files.exists(path));
    }

    // ---------------------------------------------------------------- hostile input

    @Test
    void rejectsHostileHeaders() throws IOException {
        String f32x2 = "\"dtype\":\"F32\",\"shape\":[2]";
        byte[] eight = new byte[8];
        assertRejected(new byte[] {1, 2, 3, 4, 5}, "shorter than the 8-byte header length");
        assertRejected(new byte[0], "file is 0 bytes");
        assertRejected(prefix(1L << 63, new byte[16]), "header length 9223372036854775808 exceeds the 100 MiB limit");
        assertRejected(prefix(-1L, new byte[16]), "header length 18446744073709551615 exceeds the 100 MiB limit");
        assertRejected(prefix((100L << 20) + 1, new byte[16]), "exceeds the 100 MiB limit");
        assertRejected(prefix(100, "{}".getBytes(StandardCharsets.US_ASCII)), "header length 100 is larger than the file");
        assertRejected(fileBytes("{\"a\":{" + f32x2 + ",\"data_offsets\":[0,8]}}", new byte[4]), "reach beyond the end of the data section");
        assertRejected(fileBytes("{\"a\":{" + f32x2 + ",\"data_offsets\":[8,16]}}", eight), "[8, 16] reach beyond the end");
        assertRejected(fileBytes("{\"a\":{" + f32x2 + ",\"data_offsets\":[0,8]},\"b\":{" + f32x2 + ",\"data_offsets\":[4,12]}}",
                new byte[12]), "tensor 'b' at data_offsets [4, 12] overlaps tensor 'a' at [0, 8]");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight),
                "span 8 bytes, but dtype F32 with shape [3] needs 12 bytes");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", eight),
                "dtype 'F8_E4M3' is not supported; allowed: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", eight),
                "tensor 'a': shape[0] must be non-negative, got -2");
        assertRejected(fileBytes("[1,2]", eight), "header must be a JSON object");
        assertRejected(fileBytes("\"text\"", eight), "header must be a JSON object");
        assertRejected(fileBytes("", eight), "header must be a JSON object");
        assertRejected(fileBytes("{\"a\": ", eight), "header is not valid JSON");
        assertRejected(fileBytes("{} {}", eight), "header is not valid JSON");
        assertRejected(fileBytes("{\"a\":{" + f32x2 + ",\"data_offsets\":[0,8]},\"a\":{" + f32x2 + ",\"data_offsets\":[0,8]}}", eight),
                "Duplicate field 'a'");
        byte[] badUtf8 = fileBytes("{\"a\":1}", eight);
        badUtf8[10] = (byte) 0xFF;
        assertRejected(badUtf8, "header is not valid UTF-8");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", eight), "tensor 'a' is missing \"data_offsets\"");
        assertRejected(fileBytes("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", eight), "tensor 'a' is missing \"dtype\"");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", eight), "tensor 'a' is missing \"shape\"");
        assertRejected(fileBytes("{\"a\":[]}", eight), "tensor 'a' must be a JSON object");
        assertRejected(fileBytes("{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", eight), "\"dtype\" must be a string");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", eight), "\"shape\" must be an array");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", eight),
                "shape[0] must be a non-negative integer, got number 2.0");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,8]}}", eight),
                "shape[0] must be a non-negative integer, got null");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", eight),
                "overflows a 64-bit integer");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", eight),
                "overflows a 64-bit integer");
        assertRejected(fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", eight),
                "larger than 2^63 - 1");
        assertRejected(fileBytes("{\"a\":{" + f32x2 + ",\"data_offsets\":[8,0]}}", eight), "must satisfy begin <= end");
        assertRejected(fileBytes("{\"a\":{" + f32x2 + ",\"data_offsets\":[0,8,8]}}", eight), "[begin, end] of two non-negative integers");
        assertRejected(fileBytes("{\"a\":{" + f32x2 + ",\"data_offsets\":[-8,0]}}", eight), "data_offsets[0] must be non-negative");
        assertRejected(fileBytes("{\"__metadata__\":{\"k\":1}}", eight), "\"__metadata__\" value for key 'k' must be a string, got number 1");
        assertRejected(fileBytes("{\"__metadata__\":[\"k\"]}", eight), "\"__metadata__\" must be a JSON object");
        assertRejected(fileBytes("{\"" + "x".repeat(500) + "\":{\"dtype\":\"Q\",\"shape\":[],\"data_offsets\":[0,0]}}", eight),
                "tensor '" + "x".repeat(120) + "...': dtype 'Q' is not supported");
    }

    @Test
    void rejectsTruncatedFiles() throws IOException {
        Path path = dir.resolve("full.safetensors");
        SafetensorsWriter.write(path, Map.of("w", Nd4j.createFromArray(new float[] {1, 2, 3, 4})));
        byte[] full = Files.readAllBytes(path);
        assertRejected(Arrays.copyOf(full, full.length - 1), "reach beyond the end of the data section");
        assertRejected(Arrays.copyOf(full, 20), "is larger than the file");
        assertRejected(Arrays.copyOf(full, 7), "shorter than the 8-byte header length");
    }

    @Test
    void randomMutationsOnlyEverCauseFormatErrors() throws IOException {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        Random init = new Random(5);
        tensors.put("weight", randomArray(SafetensorsDType.F32, new long[] {2, 3}, init));
        tensors.put("bf", randomArray(SafetensorsDType.BF16, new long[] {4}, init));
        tensors.put("half", randomArray(SafetensorsDType.F16, new long[] {2, 2}, init));
        tensors.put("d", randomArray(SafetensorsDType.F64, new long[] {1}, init));
        tensors.put("ids", randomArray(SafetensorsDType.I64, new long[0], init));
        tensors.put("mask", randomArray(SafetensorsDType.BOOL, new long[] {3}, init));
        tensors.put("none", Nd4j.create(DataType.UINT8, 0));
        Path valid = dir.resolve("valid.safetensors");
        SafetensorsWriter.write(valid, tensors, Map.of("format", "pt"));
        byte[] original = Files.readAllBytes(valid);
        int headerEnd = 8 + (int) ByteBuffer.wrap(original).order(ByteOrder.LITTLE_ENDIAN).getLong(0);

        Random rng = new Random(20240601);
        Path path = dir.resolve("mutated.safetensors");
        int rejected = 0;
        int accepted = 0;
        for (int i = 0; i < 2000; i++) {
            byte[] bytes = mutate(original, headerEnd, rng);
            Files.write(path, bytes);
            try (SafetensorsFile file = SafetensorsFile.open(path)) {
                for (String name : file.names()) {
                    file.read(name).close();
                    if (file.info(name).dtype().isFloatingPoint()) {
                        file.readAsFloat(name).close();
                    }
                    file.rawBytes(name);
                }
                accepted++;
            } catch (SafetensorsFormatException e) {
                assertTrue(e.getMessage().startsWith(path.toString()), e.getMessage());
                rejected++;
            } catch (Throwable t) {
                fail("mutation " + i + " threw " + t + " for header " + headerText(bytes), t);
            }
        }
        assertTrue(rejected > 500, "only " + rejected + " mutations were rejected");
        assertTrue(accepted > 50, "only " + accepted + " mutations were accepted");
    }

    // ---------------------------------------------------------------- helpers

    private static byte[] mutate(byte[] original, int headerEnd, Random rng) {
        byte[] bytes = original.clone();
        String jsonChars = "{}[]\",:0123456789-.eE \\u";
        switch (rng.nextInt(7)) {
            case 0 -> {                                                   // flip bits in the header
                for (int k = 1 + rng.nextInt(4); k > 0; k--) {
                    bytes[rng.nextInt(headerEnd)] ^= (byte) (1 << rng.nextInt(8));
                }
            }
            case 1 -> bytes[8 + rng.nextInt(headerEnd - 8)] = (byte) jsonChars.charAt(rng.nextInt(jsonChars.length()));
            case 2 -> bytes = Arrays.copyOf(bytes, rng.nextInt(bytes.length));
            case 3 -> ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(0, rng.nextBoolean() ? rng.nextLong() : headerEnd - 8 + rng.nextInt(33) - 16);
            case 4 -> {                                                   // delete a range inside the header
                int from = 8 + rng.nextInt(headerEnd - 8);
                int to = Math.min(headerEnd, from + 1 + rng.nextInt(12));
                byte[] shorter = new byte[bytes.length - (to - from)];
                System.arraycopy(bytes, 0, shorter, 0, from);
                System.arraycopy(bytes, to, shorter, from, bytes.length - to);
                bytes = shorter;
            }
            case 5 -> {                                                   // replace a digit by another number
                List<Integer> digits = new ArrayList<>();
                for (int j = 8; j < headerEnd; j++) {
                    if (Character.isDigit(bytes[j])) {
                        digits.add(j);
                    }
                }
                bytes[digits.get(rng.nextInt(digits.size()))] = (byte) ('0' + rng.nextInt(10));
            }
            default -> {                                                  // overwrite a header byte with any byte
                bytes[8 + rng.nextInt(headerEnd - 8)] = (byte) rng.nextInt(256);
            }
        }
        return bytes;
    }

    private void assertRejected(byte[] bytes, String phrase) throws IOException {
        Path path = write("hostile.safetensors", bytes);
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class,
                () -> SafetensorsFile.open(path).close(), () -> "accepted " + headerText(bytes));
        assertTrue(e.getMessage().startsWith(path + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(phrase), "expected '" + phrase + "' in: " + e.getMessage());
    }

    private static void assertWriteRejected(Path path, Map<String, INDArray> tensors, String phrase) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(path, tensors));
        assertTrue(e.getMessage().contains(phrase), "expected '" + phrase + "' in: " + e.getMessage());
    }

    private static void assertBitsEqual(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                    "element " + i + ": expected " + expected[i] + ", got " + actual[i]);
        }
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path path = dir.resolve(name);
        Files.write(path, bytes);
        return path;
    }

    /** An 8-byte little-endian header length, the header JSON, then the data. */
    private static byte[] fileBytes(String header, byte[] data) {
        return prefix(header.getBytes(StandardCharsets.UTF_8).length,
                concat(header.getBytes(StandardCharsets.UTF_8), data));
    }

    private static byte[] prefix(long headerLength, byte[] rest) {
        return ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN).putLong(headerLength).put(rest).array();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(a);
        out.writeBytes(b);
        return out.toByteArray();
    }

    private static String headerText(byte[] file) {
        int length = Math.min(Math.max(file.length - 8, 0), 400);
        return new String(file, Math.min(8, file.length), length, StandardCharsets.UTF_8);
    }

    /** A c-ordered array of random bits (0/1 for BOOL). */
    private static INDArray randomArray(SafetensorsDType dtype, long[] shape, Random rng) {
        INDArray array = Nd4j.createUninitialized(dtype.dataType(), shape, 'c');
        byte[] bytes = new byte[(int) (array.length() * dtype.byteSize())];
        rng.nextBytes(bytes);
        if (dtype == SafetensorsDType.BOOL) {
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] &= 1;
            }
        }
        SafetensorsFile.nativeBytes(array, 0, bytes.length).put(bytes);
        return array;
    }

    /** The array's elements in c order, in native byte order. */
    private static byte[] bytesOf(INDArray array) {
        INDArray dense = array.dup('c');
        int length = (int) (dense.length() * dense.dataType().width());
        byte[] bytes = new byte[length];
        SafetensorsFile.nativeBytes(dense, 0, length).get(bytes);
        return bytes;
    }

    /** The array's elements in c order, little-endian, computed element by element as an independent reference. */
    private static byte[] littleEndian(INDArray array, SafetensorsDType dtype) {
        ByteBuffer nativeOrder = ByteBuffer.wrap(bytesOf(array)).order(ByteOrder.nativeOrder());
        ByteBuffer out = ByteBuffer.allocate(nativeOrder.capacity()).order(ByteOrder.LITTLE_ENDIAN);
        while (nativeOrder.hasRemaining()) {
            switch (dtype.byteSize()) {
                case 1 -> out.put(nativeOrder.get());
                case 2 -> out.putShort(nativeOrder.getShort());
                case 4 -> out.putInt(nativeOrder.getInt());
                default -> out.putLong(nativeOrder.getLong());
            }
        }
        return out.array();
    }

    private static byte[] toArray(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.duplicate().get(bytes);
        return bytes;
    }

    private static float[] floats(ByteBuffer littleEndian) {
        float[] values = new float[littleEndian.remaining() / 4];
        littleEndian.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }
}
