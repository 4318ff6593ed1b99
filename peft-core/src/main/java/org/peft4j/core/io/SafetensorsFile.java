package org.peft4j.core.io;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.bytedeco.javacpp.BytePointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A safetensors file opened for reading: the header is parsed and fully validated by {@link #open(Path)}, and
 * tensor data is memory-mapped only when a tensor is read.
 *
 * <p>The format is an unsigned 64-bit little-endian header length {@code n}, then {@code n} bytes of UTF-8 JSON
 * mapping each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the
 * data section that follows the header) plus an optional {@code "__metadata__"} string map, then the data
 * section. Any byte sequence that is not such a file is rejected by {@code open} with a
 * {@link SafetensorsFormatException}; once a file is open, reading its tensors cannot fail on its format. Gaps
 * between tensors are accepted, overlapping tensors are not. Files and tensors larger than 2 GiB are read in
 * chunks. Several threads may read tensors from one open file at the same time.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The largest header accepted (100 MiB), a bound on what a hostile length field can make {@code open} allocate. */
    public static final long MAX_HEADER_BYTES = 100L << 20;

    private static final String METADATA_KEY = "__metadata__";
    private static final int PREFIX_BYTES = 8;
    private static final int MAX_NAMES_IN_MESSAGE = 20;
    private static final int MAX_QUOTED_CHARS = 120;
    /** The largest rank ND4J can hold. */
    private static final int MAX_ND4J_RANK = 32;
    /** Bytes mapped and copied per step; widened chunks grow 2×, so this keeps every buffer below 2 GiB. */
    private static final int DEFAULT_CHUNK_BYTES = 256 << 20;


    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;   // in file order (by begin offset)
    private final Map<String, String> metadata;
    private final int chunkBytes;

    /**
     * Where one tensor lies in a safetensors file and what it holds; {@code begin} and {@code end} are byte offsets
     * into the data section, so the tensor occupies {@code [begin, end)}.
     */
    public record TensorInfo(String name, SafetensorsDType dtype, long[] shape, long begin, long end) {
        /** Checks that the shape is valid and that {@code end - begin} is exactly the tensor's size in bytes. */
        public TensorInfo {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(dtype, "dtype of tensor " + name);
            shape = Objects.requireNonNull(shape, "shape of tensor " + name).clone();
            if (Arrays.stream(shape).anyMatch(dim -> dim < 0)) {
                throw new IllegalArgumentException("tensor '" + name + "' has a negative dimension in shape " + Arrays.toString(shape));
            }
            if (begin < 0 || end < begin) {
                throw new IllegalArgumentException("tensor '" + name + "' needs 0 <= begin <= end, got [" + begin + ", " + end + "]");
            }
            long expected;
            try {
                expected = Math.multiplyExact(numel(shape), dtype.byteSize());
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("tensor '" + name + "' of shape " + Arrays.toString(shape)
                        + " has more bytes than a 64-bit integer can count", e);
            }
            if (end - begin != expected) {
                throw new IllegalArgumentException("tensor '" + name + "' of dtype " + dtype + " and shape " + Arrays.toString(shape)
                        + " needs " + expected + " bytes, got [" + begin + ", " + end + "] (" + (end - begin) + " bytes)");
            }
        }

        /** The dimensions (a copy); empty for a scalar. */
        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** The number of elements: the product of the dimensions, 1 for a scalar. */
        public long numel() {
            return numel(shape);
        }

        /** The size of the tensor's data in bytes. */
        public long byteLength() {
            return end - begin;
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof TensorInfo that && name.equals(that.name) && dtype == that.dtype
                    && Arrays.equals(shape, that.shape) && begin == that.begin && end == that.end;
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
        }

        private static long numel(long[] shape) {
            long count = 1;
            for (long dim : shape) {
                count = Math.multiplyExact(count, dim);
            }
            return count;
        }
    }

    private SafetensorsFile(Path file, FileChannel channel, long dataStart, Map<String, TensorInfo> tensors,
                            Map<String, String> metadata, int chunkBytes) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
        this.chunkBytes = chunkBytes;
    }

    /**
     * Opens {@code file} and validates its whole header; throws {@link SafetensorsFormatException} if the bytes are
     * not a valid safetensors file and {@link IOException} if the file cannot be read.
     */
    public static SafetensorsFile open(Path file) throws IOException {
        return open(file, DEFAULT_CHUNK_BYTES);
    }

    /** Like {@link #open(Path)}, copying data in steps of {@code chunkBytes} (a positive multiple of 8); for tests. */
    static SafetensorsFile open(Path file, int chunkBytes) throws IOException {
        Objects.requireNonNull(file, "file");
        if (chunkBytes <= 0 || chunkBytes % 8 != 0) {
            throw new IllegalArgumentException("chunkBytes must be a positive multiple of 8, got " + chunkBytes);
        }
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        try {
            long size = channel.size();
            if (size < PREFIX_BYTES) {
                throw new SafetensorsFormatException(file, "file is " + size
                        + " bytes, shorter than the 8-byte header length that starts a safetensors file");
            }
            long headerLength = readFully(channel, 0, PREFIX_BYTES).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {   // negative: an unsigned value >= 2^63
                throw new SafetensorsFormatException(file, "header length " + Long.toUnsignedString(headerLength)
                        + " exceeds the 100 MiB limit (" + MAX_HEADER_BYTES + " bytes)");
            }
            if (headerLength > size - PREFIX_BYTES) {
                throw new SafetensorsFormatException(file, "header length " + headerLength + " is larger than the file: only "
                        + (size - PREFIX_BYTES) + " bytes follow the 8-byte length; the file is truncated or not safetensors");
            }
            ByteBuffer header = readFully(channel, PREFIX_BYTES, (int) headerLength);
            long dataStart = PREFIX_BYTES + headerLength;
            Header parsed = parseHeader(file, header, size - dataStart);
            return new SafetensorsFile(file, channel, dataStart, parsed.tensors(), parsed.metadata(), chunkBytes);
        } catch (Throwable failure) {
            try {
                channel.close();
            } catch (IOException closeFailure) {
                failure.addSuppressed(closeFailure);
            }
            throw failure;
        }
    }

    /** The file this was opened from. */
    public Path path() {
        return file;
    }

    /** The tensor names in file order (by data offset); unmodifiable. */
    public Set<String> names() {
        return Collections.unmodifiableSet(tensors.keySet());
    }

    /** The {@code __metadata__} string map of the header, empty if there is none; unmodifiable. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The dtype, shape and location of tensor {@code name}; fails if there is no such tensor, listing the names. */
    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            List<String> available = tensors.keySet().stream().limit(MAX_NAMES_IN_MESSAGE).map(SafetensorsFile::quote).toList();
            String more = tensors.size() > MAX_NAMES_IN_MESSAGE ? ", ... (" + (tensors.size() - MAX_NAMES_IN_MESSAGE) + " more)" : "";
            throw new IllegalArgumentException(file + " has no tensor " + quote(name) + "; its " + tensors.size()
                    + " tensors are: " + String.join(", ", available) + more);
        }
        return info;
    }

    /**
     * Reads tensor {@code name} into a new c-ordered array of its stored type (F16 as FLOAT16, BF16 as BFLOAT16,
     * U8 as UINT8, ...) that belongs to no workspace; the caller owns and closes it.
     */
    public INDArray read(String name) {
        TensorInfo info = info(name);
        ensureOpen();
        INDArray array = allocate(info, info.dtype().dataType());
        try {
            long total = info.byteLength();
            for (long done = 0; done < total; done += chunkBytes) {
                int length = (int) Math.min(chunkBytes, total - done);
                info.dtype().copy(map(info.begin() + done, length), nativeBytes(array, done, length));
            }
        } catch (RuntimeException failure) {
            array.close();
            throw failure;
        }
        return array;
    }

    /**
     * Reads floating-point tensor {@code name} into a new c-ordered FLOAT array that belongs to no workspace: F16 and
     * BF16 are widened exactly, F64 is rounded to the nearest float. Integer and BOOL tensors are rejected.
     */
    public INDArray readAsFloat(String name) {
        TensorInfo info = info(name);
        SafetensorsDType dtype = info.dtype();
        if (!dtype.isFloatingPoint()) {
            throw new IllegalArgumentException(file + ": readAsFloat converts the floating-point dtypes F64, F32, F16 and BF16, but tensor "
                    + quote(name) + " is " + dtype + "; use read() for it");
        }
        if (dtype == SafetensorsDType.F32) {
            return read(name);
        }
        ensureOpen();
        INDArray array = allocate(info, DataType.FLOAT);
        try {
            int sourceSize = dtype.byteSize();
            long total = info.byteLength();
            for (long done = 0; done < total; done += chunkBytes) {
                int length = (int) Math.min(chunkBytes, total - done);
                ByteBuffer target = nativeBytes(array, done / sourceSize * Float.BYTES, length / sourceSize * Float.BYTES);
                dtype.widenToFloat(map(info.begin() + done, length), target.asFloatBuffer());
            }
        } catch (RuntimeException failure) {
            array.close();
            throw failure;
        }
        return array;
    }

    /** The stored bytes of tensor {@code name} as a read-only little-endian buffer mapped from the file. */
    public ByteBuffer rawBytes(String name) {
        TensorInfo info = info(name);
        if (info.byteLength() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(file + ": tensor " + quote(name) + " has " + info.byteLength()
                    + " bytes, more than a ByteBuffer can hold (2^31 - 1); use read() for it");
        }
        return map(info.begin(), (int) info.byteLength());
    }

    /** Closes the file; buffers returned by {@link #rawBytes} stay valid, and reading further tensors fails. */
    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + file + ", " + tensors.size() + " tensors]";
    }

    /**
     * A window of {@code length} bytes at {@code byteOffset} into the memory of {@code array}, in native byte order.
     * The array must be dense: not a view, c-ordered, and owning exactly its elements.
     */
    static ByteBuffer nativeBytes(INDArray array, long byteOffset, int length) {
        if (length == 0) {
            return ByteBuffer.allocateDirect(0).order(ByteOrder.nativeOrder());
        }
        // Move the address itself: JavaCPP's asByteBuffer() clamps position and limit to 2^31 - 1.
        BytePointer window = new BytePointer(array.data().addressPointer()).getPointer(byteOffset);
        return window.position(0).limit(length).asByteBuffer().order(ByteOrder.nativeOrder());
    }

    @SuppressWarnings("try")   // the scope object only marks the region outside workspaces
    private INDArray allocate(TensorInfo info, DataType type) {
        if (info.shape.length > MAX_ND4J_RANK) {
            throw new IllegalArgumentException(file + ": tensor " + quote(info.name()) + " has rank " + info.shape.length
                    + " but ND4J arrays have at most " + MAX_ND4J_RANK + " dimensions; use rawBytes() for it");
        }
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return Nd4j.createUninitialized(type, info.shape(), 'c');
        }
    }

    /** Maps {@code length} bytes at {@code begin} in the data section as a read-only little-endian buffer. */
    private ByteBuffer map(long begin, int length) {
        ensureOpen();
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + begin, length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map bytes [" + begin + ", " + (begin + length) + ") of the data in " + file, e);
        }
    }

    private void ensureOpen() {
        if (!channel.isOpen()) {
            throw new IllegalStateException(file + " is closed; open it again to read tensors");
        }
    }

    private static ByteBuffer readFully(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                throw new EOFException("file ended at byte " + (position + buffer.position()) + " while reading "
                        + length + " bytes at " + position + "; was it truncated while being opened?");
            }
        }
        return buffer.flip();
    }

    private record Header(Map<String, TensorInfo> tensors, Map<String, String> metadata) {
    }

    /** Parses and validates the header JSON; {@code dataLength} is the number of bytes after the header. */
    private static Header parseHeader(Path file, ByteBuffer headerBytes, long dataLength) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(headerBytes)
                    .toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsFormatException(file, "header is not valid UTF-8", e);
        }
        JsonNode root = StrictJson.parse(text, (problem, cause) -> new SafetensorsFormatException(file, "header is " + problem, cause));
        if (root == null || !root.isObject()) {
            throw new SafetensorsFormatException(file, "header must be a JSON object {\"<tensor name>\": {\"dtype\": ..., "
                    + "\"shape\": [...], \"data_offsets\": [begin, end]}, ...}, got " + describe(root));
        }
        List<TensorInfo> parsed = new ArrayList<>();
        Map<String, String> metadata = Map.of();
        for (Map.Entry<String, JsonNode> entry : root.properties()) {
            if (entry.getKey().equals(METADATA_KEY)) {
                metadata = parseMetadata(file, entry.getValue());
            } else {
                parsed.add(parseTensor(file, entry.getKey(), entry.getValue(), dataLength));
            }
        }
        parsed.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));  // stable
        checkNoOverlap(file, parsed);
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (TensorInfo info : parsed) {
            tensors.put(info.name(), info);
        }
        return new Header(Collections.unmodifiableMap(tensors), metadata);
    }

    private static Map<String, String> parseMetadata(Path file, JsonNode node) {
        if (!node.isObject()) {
            throw new SafetensorsFormatException(file, "\"" + METADATA_KEY + "\" must be a JSON object of string values, got " + describe(node));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : node.properties()) {
            if (!entry.getValue().isTextual()) {
                throw new SafetensorsFormatException(file, "\"" + METADATA_KEY + "\" value for key " + quote(entry.getKey())
                        + " must be a string, got " + describe(entry.getValue()));
            }
            metadata.put(entry.getKey(), entry.getValue().textValue());
        }
        return Collections.unmodifiableMap(metadata);
    }

    private static TensorInfo parseTensor(Path file, String name, JsonNode node, long dataLength) {
        String where = "tensor " + quote(name);
        if (!node.isObject()) {
            throw new SafetensorsFormatException(file, where + " must be a JSON object with \"dtype\", \"shape\" and \"data_offsets\", got "
                    + describe(node));
        }
        JsonNode dtypeNode = required(file, where, node, "dtype");
        if (!dtypeNode.isTextual()) {
            throw new SafetensorsFormatException(file, where + ": \"dtype\" must be a string such as \"F32\", got " + describe(dtypeNode));
        }
        SafetensorsDType dtype = SafetensorsDType.fromSafetensorsName(dtypeNode.textValue()).orElseThrow(() ->
                new SafetensorsFormatException(file, where + ": dtype " + quote(dtypeNode.textValue())
                        + " is not supported; allowed: " + SafetensorsDType.allowedNames()));

        JsonNode shapeNode = required(file, where, node, "shape");
        if (!shapeNode.isArray()) {
            throw new SafetensorsFormatException(file, where + ": \"shape\" must be an array of non-negative integers, got " + describe(shapeNode));
        }
        long[] shape = new long[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(file, where + ": shape[" + i + "]", shapeNode.get(i));
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException e) {
                throw new SafetensorsFormatException(file, where + ": the element count of shape " + abbreviate(shapeNode.toString())
                        + " overflows a 64-bit integer", e);
            }
        }
        long expectedBytes;
        try {
            expectedBytes = Math.multiplyExact(numel, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new SafetensorsFormatException(file, where + ": the byte size of " + numel + " " + dtype
                    + " elements overflows a 64-bit integer", e);
        }

        JsonNode offsetsNode = required(file, where, node, "data_offsets");
        if (!offsetsNode.isArray() || offsetsNode.size() != 2) {
            throw new SafetensorsFormatException(file, where + ": \"data_offsets\" must be an array [begin, end] of two non-negative integers, got "
                    + describe(offsetsNode));
        }
        long begin = nonNegativeLong(file, where + ": data_offsets[0]", offsetsNode.get(0));
        long end = nonNegativeLong(file, where + ": data_offsets[1]", offsetsNode.get(1));
        if (begin > end) {
            throw new SafetensorsFormatException(file, where + ": data_offsets [" + begin + ", " + end + "] must satisfy begin <= end");
        }
        if (end > dataLength) {
            throw new SafetensorsFormatException(file, where + ": data_offsets [" + begin + ", " + end
                    + "] reach beyond the end of the data section, which has " + dataLength + " bytes; the file is truncated or the offsets are wrong");
        }
        if (end - begin != expectedBytes) {
            throw new SafetensorsFormatException(file, where + ": data_offsets [" + begin + ", " + end + "] span " + (end - begin)
                    + " bytes, but dtype " + dtype + " with shape " + Arrays.toString(shape) + " needs " + expectedBytes + " bytes");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /** Rejects two tensors whose byte ranges intersect; {@code sorted} is ordered by begin offset. */
    private static void checkNoOverlap(Path file, List<TensorInfo> sorted) {
        TensorInfo previous = null;
        for (TensorInfo info : sorted) {
            if (info.byteLength() == 0) {
                continue;                                     // an empty tensor occupies no bytes
            }
            if (previous != null && info.begin() < previous.end()) {
                throw new SafetensorsFormatException(file, "tensor " + quote(info.name()) + " at data_offsets [" + info.begin() + ", "
                        + info.end() + "] overlaps tensor " + quote(previous.name()) + " at [" + previous.begin() + ", "
                        + previous.end() + "]; tensors must occupy disjoint byte ranges");
            }
            previous = info;
        }
    }

    private static JsonNode required(Path file, String where, JsonNode node, String field) {
        JsonNode value = node.get(field);
        if (value == null) {
            throw new SafetensorsFormatException(file, where + " is missing \"" + field + "\"; each tensor needs \"dtype\", \"shape\" and \"data_offsets\"");
        }
        return value;
    }

    private static long nonNegativeLong(Path file, String what, JsonNode node) {
        if (!node.isIntegralNumber()) {
            throw new SafetensorsFormatException(file, what + " must be a non-negative integer, got " + describe(node));
        }
        if (!node.canConvertToLong()) {
            throw new SafetensorsFormatException(file, what + " is " + abbreviate(node.toString()) + ", larger than 2^63 - 1");
        }
        long value = node.longValue();
        if (value < 0) {
            throw new SafetensorsFormatException(file, what + " must be non-negative, got " + value);
        }
        return value;
    }

    /** The JSON type and (abbreviated) text of {@code node}, for error messages. */
    private static String describe(JsonNode node) {
        if (node == null || node.isMissingNode()) {
            return "an empty header";
        }
        if (node.isNull()) {
            return "null";
        }
        return node.getNodeType().name().toLowerCase(Locale.ROOT) + " " + abbreviate(node.toString());
    }

    /** {@code name} in quotes, shortened so that hostile headers cannot produce huge messages. */
    private static String quote(String name) {
        return "'" + abbreviate(name) + "'";
    }

    private static String abbreviate(String text) {
        return text.length() <= MAX_QUOTED_CHARS ? text : text.substring(0, MAX_QUOTED_CHARS) + "...";
    }
}
