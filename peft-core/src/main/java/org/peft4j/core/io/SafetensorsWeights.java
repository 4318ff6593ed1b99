package org.peft4j.core.io;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.WeightSource;

/**
 * The tensors of a safetensors checkpoint, one {@code model.safetensors} or the shards that a
 * {@code model.safetensors.index.json} lists, as a {@link WeightSource}.
 *
 * <p><b>Memory.</b> Opening reads and validates only the headers; tensor data stays in the files, memory-mapped on
 * demand. {@link #get} converts one tensor at a time to FLOAT (F16 and BF16 exactly, F64 rounded), so a BF16 or F16
 * checkpoint is widened per layer when a factory asks for each weight, and never held in memory as a whole in both
 * types: the peak is the FLOAT model built so far plus the one tensor being widened. {@link #read} returns a tensor
 * in its stored type, bit for bit.
 *
 * <p><b>Sharded checkpoints.</b> The index is HF's JSON {@code {"metadata": {...}, "weight_map": {name: shard}}}.
 * It is validated before any tensor is read: every shard must be a plain file name in the index's directory (no
 * separators, no {@code ..}, not absolute), must exist and must be a valid safetensors file; every tensor must be
 * held by the shard the index names; no tensor may appear in two shards; and every tensor in a shard must be listed.
 * Shard names are checked as names, not resolved through symbolic links, so HF's hub cache (whose snapshot files
 * are links into a blob folder) loads as it is.
 *
 * <p>Several threads may call {@link #get} at the same time; {@link #close} releases the files, after which arrays
 * already returned stay valid.
 */
public final class SafetensorsWeights implements WeightSource, AutoCloseable {
    /** The file name HF gives a checkpoint in one file. */
    public static final String SINGLE_FILE = "model.safetensors";
    /** The file name HF gives the index of a sharded checkpoint. */
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private static final int MAX_NAMES_IN_MESSAGE = 20;


    private final Path source;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> byName;   // in index (or file) order

    private SafetensorsWeights(Path source, List<SafetensorsFile> files, Map<String, SafetensorsFile> byName) {
        this.source = source;
        this.files = List.copyOf(files);
        this.byName = Collections.unmodifiableMap(byName);
    }

    /**
     * Opens the checkpoint at {@code path}: a directory (its {@code model.safetensors} if there is one, else its
     * {@code model.safetensors.index.json}, the order HF's {@code from_pretrained} looks in), an index file (a name
     * ending in {@code .json}) or a single {@code .safetensors} file.
     */
    public static SafetensorsWeights open(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        if (Files.isDirectory(path)) {
            Path single = path.resolve(SINGLE_FILE);
            if (Files.isRegularFile(single)) {
                return openFile(single);
            }
            Path index = path.resolve(INDEX_FILE);
            if (Files.isRegularFile(index)) {
                return openIndex(index);
            }
            throw new NoSuchFileException(path.toString(), null, "the directory holds neither " + SINGLE_FILE + " nor " + INDEX_FILE);
        }
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such safetensors file, index or checkpoint directory");
        }
        return path.getFileName().toString().endsWith(".json") ? openIndex(path) : openFile(path);
    }

    /** Opens one safetensors file and validates its header (see {@link SafetensorsFile#open}). */
    public static SafetensorsWeights openFile(Path file) throws IOException {
        SafetensorsFile opened = SafetensorsFile.open(file);
        Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
        for (String name : opened.names()) {
            byName.put(name, opened);
        }
        return new SafetensorsWeights(file, List.of(opened), byName);
    }

    /**
     * Opens a sharded checkpoint through its index and validates the index and every shard (see the class comment);
     * throws {@link SafetensorsFormatException} naming the index, the tensor or shard at fault and what is allowed.
     */
    public static SafetensorsWeights openIndex(Path indexFile) throws IOException {
        Objects.requireNonNull(indexFile, "indexFile");
        Path absolute = indexFile.toAbsolutePath();
        Path directory = absolute.getParent();
        Map<String, String> weightMap = readWeightMap(absolute);

        Map<String, List<String>> tensorsByShard = new LinkedHashMap<>();
        for (Map.Entry<String, String> entry : weightMap.entrySet()) {
            tensorsByShard.computeIfAbsent(entry.getValue(), shard -> new ArrayList<>()).add(entry.getKey());
        }
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
            for (Map.Entry<String, List<String>> entry : tensorsByShard.entrySet()) {
                String shard = entry.getKey();
                Path shardPath = directory.resolve(shard);
                if (!Files.isRegularFile(shardPath)) {
                    throw new SafetensorsFormatException(absolute, "shard '" + shard + "' (holding " + describeNames(entry.getValue())
                            + ") is not a file in " + directory + "; every shard the weight_map names must exist beside the index");
                }
                SafetensorsFile file = SafetensorsFile.open(shardPath);
                opened.add(file);
                shards.put(shard, file);
            }
            Map<String, String> holder = new LinkedHashMap<>();   // tensor name -> the shard whose header holds it
            for (Map.Entry<String, SafetensorsFile> shard : shards.entrySet()) {
                for (String name : shard.getValue().names()) {
                    String previous = holder.putIfAbsent(name, shard.getKey());
                    if (previous != null) {
                        throw new SafetensorsFormatException(absolute, "tensor '" + name + "' is in two shards, '" + previous + "' and '"
                                + shard.getKey() + "'; each tensor must be stored exactly once");
                    }
                    if (!weightMap.containsKey(name)) {
                        throw new SafetensorsFormatException(absolute, "shard '" + shard.getKey() + "' holds tensor '" + name
                                + "', which the weight_map does not list; the index and its shards disagree");
                    }
                }
            }
            Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
            for (Map.Entry<String, String> entry : weightMap.entrySet()) {
                String name = entry.getKey();
                String shard = entry.getValue();
                if (!shard.equals(holder.get(name))) {
                    String actual = holder.get(name);
                    throw new SafetensorsFormatException(absolute, "the weight_map puts tensor '" + name + "' in shard '" + shard
                            + "', but that shard does not hold it" + (actual == null ? "" : " (it is in '" + actual + "')"));
                }
                byName.put(name, shards.get(shard));
            }
            return new SafetensorsWeights(absolute, opened, byName);
        } catch (Throwable failure) {
            for (SafetensorsFile file : opened) {
                try {
                    file.close();
                } catch (IOException closeFailure) {
                    failure.addSuppressed(closeFailure);
                }
            }
            throw failure;
        }
    }

    /** Reads and validates the {@code weight_map} of an index: a non-empty object of tensor name to plain shard file name. */
    private static Map<String, String> readWeightMap(Path index) throws IOException {
        if (!Files.isRegularFile(index)) {
            throw new NoSuchFileException(index.toString(), null, "no such safetensors index file");
        }
        JsonNode root = StrictJson.read(index, (problem, cause) -> new SafetensorsFormatException(index, "the index is " + problem, cause));
        if (!root.isObject()) {
            throw new SafetensorsFormatException(index, "the index must be a JSON object with a \"weight_map\" of tensor name to shard file");
        }
        JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new SafetensorsFormatException(index, "the index needs a \"weight_map\" object of tensor name to shard file, got "
                    + (map == null ? "none" : map.getNodeType().name().toLowerCase(Locale.ROOT)));
        }
        if (map.isEmpty()) {
            throw new SafetensorsFormatException(index, "the weight_map is empty; a checkpoint needs at least one tensor");
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : map.properties()) {
            if (!entry.getValue().isTextual()) {
                throw new SafetensorsFormatException(index, "weight_map entry '" + entry.getKey() + "' must name a shard file as a string, got "
                        + entry.getValue());
            }
            String shard = entry.getValue().textValue();
            checkPlainFileName(index, entry.getKey(), shard);
            weightMap.put(entry.getKey(), shard);
        }
        return weightMap;
    }

    /**
     * Rejects a shard name that is not a plain file name in the index's directory, so that no index can make peft4j
     * read outside that directory.
     */
    static void checkPlainFileName(Path index, String tensor, String shard) {
        String problem = plainFileNameProblem(shard);
        if (problem != null) {
            throw new SafetensorsFormatException(index, "weight_map entry '" + tensor + "' names shard '" + shard + "', which " + problem
                    + "; shards must be plain file names in the index's directory, such as model-00001-of-00002.safetensors");
        }
    }

    /** Why {@code name} is not a plain file name (no separators, no {@code ..}, not absolute), or null if it is one. */
    public static String plainFileNameProblem(String name) {
        if (name.isEmpty()) {
            return "is empty";
        }
        if (name.equals(".") || name.equals("..") || name.contains("..")) {
            return "contains '..'";
        }
        if (name.indexOf('/') >= 0 || name.indexOf('\\') >= 0) {
            return "contains a path separator";
        }
        if (name.indexOf(':') >= 0) {
            return "contains ':' (a drive or stream name)";
        }
        for (int i = 0; i < name.length(); i++) {
            if (Character.isISOControl(name.charAt(i))) {
                return "contains a control character";
            }
        }
        try {
            Path path = Path.of(name);
            if (path.isAbsolute() || path.getNameCount() != 1 || !path.getFileName().toString().equals(name)) {
                return "is not a plain file name";
            }
        } catch (InvalidPathException e) {
            return "is not a valid file name (" + e.getReason() + ")";
        }
        return null;
    }

    /** The file or index this checkpoint was opened from (absolute for an index). */
    public Path source() {
        return source;
    }

    /** The open safetensors files: one, or the shards in the order the index first names them. */
    public List<Path> files() {
        return files.stream().map(SafetensorsFile::path).toList();
    }

    /** Every tensor name, in the index's order (or the file's order for one file); unmodifiable. */
    @Override
    public Set<String> names() {
        return byName.keySet();
    }

    @Override
    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    /** The dtype, shape and location in its file of tensor {@code name}. */
    public SafetensorsFile.TensorInfo info(String name) {
        return file(name).info(name);
    }

    /** The file that holds tensor {@code name}. */
    public Path fileOf(String name) {
        return file(name).path();
    }

    /**
     * Tensor {@code name} as a new FLOAT array outside any workspace, owned by the caller: F32 copied, F16 and BF16
     * widened exactly, F64 rounded to the nearest float; integer and BOOL tensors are rejected (use {@link #read}).
     */
    @Override
    public INDArray get(String name) {
        return file(name).readAsFloat(name);
    }

    /** Tensor {@code name} in its stored type (BF16 as BFLOAT16, ...), bit for bit, as a new array owned by the caller. */
    public INDArray read(String name) {
        return file(name).read(name);
    }

    /** The stored bytes of tensor {@code name}, little-endian and read-only, mapped from its file (see {@link SafetensorsFile#rawBytes}). */
    public ByteBuffer rawBytes(String name) {
        return file(name).rawBytes(name);
    }

    /** The {@code __metadata__} of the file that holds tensor {@code name} (HF writes {@code {"format": "pt"}}). */
    public Map<String, String> metadataOf(String name) {
        return file(name).metadata();
    }

    /** Closes every file; arrays already returned stay valid. */
    @Override
    public void close() throws IOException {
        IOException failure = null;
        for (SafetensorsFile file : files) {
            try {
                file.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "SafetensorsWeights[" + source + ", " + byName.size() + " tensors in " + files.size() + " file(s)]";
    }

    private SafetensorsFile file(String name) {
        SafetensorsFile file = byName.get(name);
        if (file == null) {
            throw new IllegalArgumentException(source + " has no tensor '" + name + "'; its " + byName.size() + " tensors are: "
                    + describeNames(byName.keySet()));
        }
        return file;
    }

    private static String describeNames(Collection<String> names) {
        List<String> shown = names.stream().limit(MAX_NAMES_IN_MESSAGE).toList();
        String more = names.size() > MAX_NAMES_IN_MESSAGE ? ", ... (" + (names.size() - MAX_NAMES_IN_MESSAGE) + " more)" : "";
        return String.join(", ", shown) + more;
    }
}
