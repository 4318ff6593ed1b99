package org.peft4j.core.io;

import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Writes ND4J arrays as a safetensors file that the Hugging Face libraries can load: tensors are stored in the
 * given order, each in its own dtype and in c order, contiguously and without gaps, after a JSON header padded
 * with spaces to a multiple of 8 bytes. The file is replaced atomically (see {@link AtomicFiles}).
 */
public final class SafetensorsWriter {
    private static final String METADATA_KEY = "__metadata__";
    private static final int PREFIX_BYTES = 8;
    private static final int HEADER_ALIGNMENT = 8;
    private static final int STAGING_BYTES = 1 << 20;

    /** Immutable and thread-safe. */
    private static final ObjectWriter JSON = JsonMapper.builder().build().writer();

    private SafetensorsWriter() {
    }

    private record Entry(String name, INDArray array, SafetensorsDType dtype) {
    }

    /** Writes {@code tensors} (in iteration order) to {@code file} with no metadata. */
    public static void write(Path file, Map<String, INDArray> tensors) throws IOException {
        write(file, tensors, Map.of());
    }

    /**
     * Writes {@code tensors} (in iteration order, each in its own dtype) and {@code metadata} to {@code file},
     * replacing it atomically; names must be non-empty, distinct and not {@code "__metadata__"}, and every array's
     * data type must be one that {@link SafetensorsDType#of} accepts.
     */
    public static void write(Path file, Map<String, INDArray> tensors, Map<String, String> metadata) throws IOException {
        Objects.requireNonNull(file, "file");
        List<Entry> entries = validate(file, tensors, metadata);
        byte[] header = header(entries, metadata);
        AtomicFiles.write(file, out -> {
            out.write(ByteBuffer.allocate(PREFIX_BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            out.write(header);
            byte[] staging = new byte[STAGING_BYTES];
            for (Entry entry : entries) {
                writeData(out, entry, staging);
            }
        });
    }

    private static List<Entry> validate(Path file, Map<String, INDArray> tensors, Map<String, String> metadata) {
        Objects.requireNonNull(tensors, "tensors");
        Objects.requireNonNull(metadata, "metadata");
        List<Entry> entries = new ArrayList<>(tensors.size());
        Set<String> seen = new HashSet<>();   // a map compares keys its own way (IdentityHashMap), so check again
        for (Map.Entry<String, INDArray> tensor : tensors.entrySet()) {
            String name = tensor.getKey();
            if (name == null || name.isEmpty() || name.equals(METADATA_KEY)) {
                throw new IllegalArgumentException("cannot write " + file + ": tensor name '" + name
                        + "' is not allowed; names must be non-empty and not \"" + METADATA_KEY + "\"");
            }
            if (!seen.add(name)) {
                throw new IllegalArgumentException("cannot write " + file + ": tensor name '" + name + "' appears twice");
            }
            INDArray array = tensor.getValue();
            if (array == null) {
                throw new IllegalArgumentException("cannot write " + file + ": tensor '" + name + "' is null");
            }
            SafetensorsDType dtype;
            try {
                dtype = SafetensorsDType.of(array.dataType());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("cannot write " + file + ": tensor '" + name + "': " + e.getMessage(), e);
            }
            entries.add(new Entry(name, array, dtype));
        }
        for (Map.Entry<String, String> entry : metadata.entrySet()) {
            if (entry.getKey() == null || entry.getValue() == null) {
                throw new IllegalArgumentException("cannot write " + file + ": metadata keys and values must not be null, got "
                        + entry.getKey() + "=" + entry.getValue());
            }
        }
        return entries;
    }

    /** The header JSON as UTF-8, padded with spaces so that the data section starts at a multiple of 8 bytes. */
    private static byte[] header(List<Entry> entries, Map<String, String> metadata) throws IOException {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(METADATA_KEY);
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Entry entry : entries) {
            long byteLength = Math.multiplyExact(entry.array().length(), entry.dtype().byteSize());
            ObjectNode node = root.putObject(entry.name());
            node.put("dtype", entry.dtype().safetensorsName());
            ArrayNode shape = node.putArray("shape");
            Arrays.stream(entry.array().shape()).forEach(shape::add);
            node.putArray("data_offsets").add(offset).add(offset + byteLength);
            offset += byteLength;
        }
        byte[] json = JSON.writeValueAsBytes(root);
        int padded = (json.length + HEADER_ALIGNMENT - 1) / HEADER_ALIGNMENT * HEADER_ALIGNMENT;
        byte[] header = Arrays.copyOf(json, padded);
        Arrays.fill(header, json.length, padded, (byte) ' ');
        return header;
    }

    /** Writes the elements of one array in c order and little-endian, a staging buffer at a time. */
    @SuppressWarnings("try")   // the scope object only marks the region outside workspaces
    private static void writeData(OutputStream out, Entry entry, byte[] staging) throws IOException {
        INDArray array = entry.array();
        if (array.isEmpty()) {
            return;
        }
        INDArray dense = array;
        if (!isDense(array)) {
            try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                dense = array.dup('c');
            }
        }
        try {
            long total = dense.length() * entry.dtype().byteSize();
            for (long done = 0; done < total; done += staging.length) {
                int length = (int) Math.min(staging.length, total - done);
                ByteBuffer littleEndian = ByteBuffer.wrap(staging, 0, length).order(ByteOrder.LITTLE_ENDIAN);
                entry.dtype().copy(SafetensorsFile.nativeBytes(dense, done, length), littleEndian);
                out.write(staging, 0, length);
            }
        } finally {
            if (dense != array) {
                dense.close();
            }
        }
    }

    /** Whether the array's memory holds exactly its elements in c order, so its bytes can be copied as they are. */
    private static boolean isDense(INDArray array) {
        return !array.isView() && array.ordering() == 'c' && array.offset() == 0
                && array.data().length() == array.length() && Shape.hasDefaultStridesForShape(array);
    }
}
