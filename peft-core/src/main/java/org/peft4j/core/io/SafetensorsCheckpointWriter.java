package org.peft4j.core.io;

import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes a state dict as an HF safetensors checkpoint in a directory: one {@code model.safetensors}, or, when the
 * tensors exceed the shard size, shards {@code model-00001-of-0000N.safetensors} and a
 * {@code model.safetensors.index.json}, the layout {@code save_pretrained} writes and {@code from_pretrained} reads.
 *
 * <p>Every file carries the metadata {@code {"format": "pt"}} that HF transformers expects, and every file is
 * replaced atomically ({@link AtomicFiles}). The index is written after all its shards, so an index never names a
 * shard that is not complete. Files of an earlier save with another layout (a single file replaced by shards or the
 * reverse, or shards left over from a save with more of them) are removed after the new files are in place, except
 * that a stale {@code model.safetensors} is removed just before a new index is written, because readers (peft4j and
 * HF alike) prefer it to an index. A directory being written should not be read at the same time: each file is
 * whole, but the set of files is not replaced as one.
 */
public final class SafetensorsCheckpointWriter {
    /** The metadata HF writes into every safetensors file of a PyTorch checkpoint. */
    public static final Map<String, String> PT_METADATA = Map.of("format", "pt");
    /** No limit on the shard size: the checkpoint is always one file. */
    public static final long UNSHARDED = Long.MAX_VALUE;
    /** HF's default {@code max_shard_size} of {@code save_pretrained}, 5 GB. */
    public static final long HF_DEFAULT_SHARD_BYTES = 5_000_000_000L;

    private static final Pattern SHARD_NAME = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");
    private static final int MAX_SHARDS = 99_999;

    /** Immutable and thread-safe; the index is indented as HF writes it. */
    private static final ObjectWriter JSON = JsonMapper.builder().build().writerWithDefaultPrettyPrinter();

    private SafetensorsCheckpointWriter() {
    }

    /** Writes {@code stateDict} to {@code directory} as one {@code model.safetensors}; returns the files written. */
    public static List<Path> write(Path directory, Map<String, INDArray> stateDict) throws IOException {
        return write(directory, stateDict, UNSHARDED);
    }

    /**
     * Writes {@code stateDict} (in iteration order, each tensor in its own dtype) to {@code directory}: one
     * {@code model.safetensors} if its tensors take at most {@code maxShardBytes} bytes, else shards of at most that
     * size filled greedily in order, as HF does (a single tensor larger than the limit gets a shard of its own), and an
     * index. Returns the files written, the index last.
     */
    public static List<Path> write(Path directory, Map<String, INDArray> stateDict, long maxShardBytes) throws IOException {
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(stateDict, "stateDict");
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("max shard size must be > 0 bytes (UNSHARDED for one file), got " + maxShardBytes);
        }
        if (stateDict.isEmpty()) {
            throw new IllegalArgumentException("cannot write a checkpoint to " + directory + ": the state dict has no tensors");
        }
        List<Map<String, INDArray>> shards = shard(stateDict, maxShardBytes);
        Files.createDirectories(directory);
        if (shards.size() == 1) {
            Path file = directory.resolve(SafetensorsWeights.SINGLE_FILE);
            SafetensorsWriter.write(file, shards.get(0), PT_METADATA);
            Files.deleteIfExists(directory.resolve(SafetensorsWeights.INDEX_FILE));
            deleteStaleShards(directory, Set.of());
            return List.of(file);
        }
        if (shards.size() > MAX_SHARDS) {
            throw new IllegalArgumentException("a max shard size of " + maxShardBytes + " bytes makes " + shards.size()
                    + " shards, more than the " + MAX_SHARDS + " that HF's shard names can number; use larger shards");
        }
        List<Path> written = new ArrayList<>();
        Map<String, String> weightMap = new TreeMap<>();   // HF sorts the weight_map by tensor name
        long totalBytes = 0;
        for (int i = 0; i < shards.size(); i++) {
            String name = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, shards.size());
            Path file = directory.resolve(name);
            SafetensorsWriter.write(file, shards.get(i), PT_METADATA);
            written.add(file);
            for (Map.Entry<String, INDArray> tensor : shards.get(i).entrySet()) {
                weightMap.put(tensor.getKey(), name);
                totalBytes += byteSize(tensor.getValue());
            }
        }
        ObjectNode index = JsonNodeFactory.instance.objectNode();
        index.putObject("metadata").put("total_size", totalBytes);
        ObjectNode map = index.putObject("weight_map");
        weightMap.forEach(map::put);
        Files.deleteIfExists(directory.resolve(SafetensorsWeights.SINGLE_FILE));
        Path indexFile = directory.resolve(SafetensorsWeights.INDEX_FILE);
        byte[] json = JSON.writeValueAsBytes(index);
        AtomicFiles.write(indexFile, out -> {
            out.write(json);
            out.write('\n');
        });
        written.add(indexFile);
        deleteStaleShards(directory, Set.copyOf(weightMap.values()));
        return List.copyOf(written);
    }

    /**
     * Splits {@code stateDict} in order into groups of at most {@code maxShardBytes} bytes; a tensor larger than the
     * limit forms a group of its own.
     */
    static List<Map<String, INDArray>> shard(Map<String, INDArray> stateDict, long maxShardBytes) {
        List<Map<String, INDArray>> shards = new ArrayList<>();
        Map<String, INDArray> current = new LinkedHashMap<>();
        long currentBytes = 0;
        for (Map.Entry<String, INDArray> tensor : stateDict.entrySet()) {
            if (tensor.getValue() == null) {
                throw new IllegalArgumentException("tensor '" + tensor.getKey() + "' of the state dict is null");
            }
            long bytes = byteSize(tensor.getValue());
            if (!current.isEmpty() && currentBytes + bytes > maxShardBytes) {
                shards.add(current);
                current = new LinkedHashMap<>();
                currentBytes = 0;
            }
            current.put(tensor.getKey(), tensor.getValue());
            currentBytes += bytes;
        }
        shards.add(current);
        return shards;
    }

    /** The bytes {@code array} takes in a safetensors file. */
    private static long byteSize(INDArray array) {
        return Math.multiplyExact(array.length(), SafetensorsDType.of(array.dataType()).byteSize());
    }

    /** Deletes files named like HF shards ({@code model-NNNNN-of-NNNNN.safetensors}) that are not in {@code keep}. */
    private static void deleteStaleShards(Path directory, Set<String> keep) throws IOException {
        List<Path> stale = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                if (SHARD_NAME.matcher(name).matches() && !keep.contains(name)) {
                    stale.add(entry);
                }
            }
        }
        for (Path file : stale) {
            Files.deleteIfExists(file);
        }
    }
}
