package org.peft4j.core.model;

import org.peft4j.core.io.StrictJson;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.AtomicFiles;
import org.peft4j.core.io.SafetensorsCheckpointWriter;
import org.peft4j.core.io.SafetensorsWeights;

/**
 * An HF model directory as {@code save_pretrained} writes it: {@code config.json} beside {@code model.safetensors}
 * (or shards and {@code model.safetensors.index.json}). {@link #load} reads one with the {@link ModelFactory} that
 * the {@link ModelRegistry} has for the config's {@code model_type}; {@link #save} writes a {@link PretrainedModel}
 * (for instance a base model with merged adapters) so that HF transformers and peft4j can load it.
 *
 * <p>Only the fixed file names above are read, and shard names from an index must be plain file names (see
 * {@link SafetensorsWeights}), so nothing in a checkpoint can make peft4j read outside its directory. PyTorch
 * pickle files ({@code pytorch_model.bin}) are never read: unpickling can run arbitrary code.
 */
public final class HfCheckpoint {
    /** The model's HF configuration. */
    public static final String CONFIG_FILE = "config.json";
    /** HF's pickled PyTorch weights, which peft4j does not read. */
    public static final String PYTORCH_FILE = "pytorch_model.bin";
    /** The index of sharded pickled PyTorch weights, which peft4j does not read. */
    public static final String PYTORCH_INDEX_FILE = "pytorch_model.bin.index.json";

    /** The one-time conversion to safetensors, in Python with HF transformers, quoted in errors. */
    static final String CONVERSION_HINT = "convert it once with HF transformers in Python: "
            + "AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True), "
            + "which writes model.safetensors (use the Auto class of the model's head, e.g. AutoModelForCausalLM)";

    /** Indented as {@code save_pretrained} writes config.json. */
    private static final ObjectWriter PRETTY = JsonMapper.builder().build().writerWithDefaultPrettyPrinter();

    private HfCheckpoint() {
    }

    /**
     * How to save a model.
     *
     * @param storageType   the type every floating-point tensor is stored in (FLOAT, DOUBLE, FLOAT16 or BFLOAT16), or
     *                      null to store each in its own type; integer tensors keep theirs; the config's
     *                      {@code torch_dtype} is set to match
     * @param maxShardBytes the largest shard, {@link SafetensorsCheckpointWriter#UNSHARDED} for one file
     */
    public record SaveOptions(DataType storageType, long maxShardBytes) {
        public SaveOptions {
            if (storageType != null && torchDtype(storageType) == null) {
                throw new IllegalArgumentException("storage type must be FLOAT, DOUBLE, FLOAT16 (HALF) or BFLOAT16 (or null to keep each tensor's"
                        + " type), got " + storageType);
            }
            if (maxShardBytes <= 0) {
                throw new IllegalArgumentException("max shard size must be > 0 bytes (UNSHARDED for one file), got " + maxShardBytes);
            }
        }

        /** Each tensor in its own type, in one file. */
        public static SaveOptions defaults() {
            return new SaveOptions(null, SafetensorsCheckpointWriter.UNSHARDED);
        }
    }

    /** Loads the model in {@code directory} with the factories installed on the class path ({@link ModelRegistry#installed()}). */
    public static PretrainedModel load(Path directory, LoadOptions options) throws IOException {
        return load(directory, options, ModelRegistry.installed());
    }

    /**
     * Loads the model in {@code directory}: reads {@code config.json}, picks the factory for its {@code model_type}
     * from {@code registry}, opens the safetensors weights and lets the factory build the model. The weight files are
     * closed before this returns; the model holds its own arrays.
     */
    public static PretrainedModel load(Path directory, LoadOptions options, ModelRegistry registry) throws IOException {
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(registry, "registry");
        ObjectNode config = readConfig(directory);
        String modelType = modelType(config, directory.resolve(CONFIG_FILE), registry);
        ModelFactory factory = registry.factory(modelType);
        if (!factory.heads().contains(options.head())) {
            throw new IllegalArgumentException("a " + modelType + " model cannot be loaded with head " + options.head()
                    + "; " + factory.getClass().getSimpleName() + " supports " + factory.heads());
        }
        Path weightsPath = findWeights(directory);
        try (SafetensorsWeights weights = SafetensorsWeights.open(weightsPath)) {
            PretrainedModel model;
            try {
                model = factory.load(config, weights, options);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("cannot load the " + modelType + " model in " + directory + ": " + e.getMessage(), e);
            }
            if (model == null) {
                throw new IllegalStateException(factory.getClass().getName() + " returned no model for " + directory);
            }
            return model;
        }
    }

    /**
     * Reads {@code directory/config.json} as a JSON object; fails with {@link NoSuchFileException} if it is missing
     * and {@link IllegalArgumentException} if it is not a JSON object.
     */
    public static ObjectNode readConfig(Path directory) throws IOException {
        Objects.requireNonNull(directory, "directory");
        checkDirectory(directory);
        Path file = directory.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no " + CONFIG_FILE + " in " + directory
                    + "; an HF model directory holds config.json beside model.safetensors");
        }
        JsonNode node = StrictJson.read(file, (problem, cause) -> new IllegalArgumentException(file + " is " + problem, cause));
        if (!node.isObject()) {
            throw new IllegalArgumentException(file + " must hold a JSON object such as {\"model_type\": \"gpt2\", ...}, got "
                    + (node == null ? "nothing" : node.getNodeType().name().toLowerCase(Locale.ROOT)));
        }
        return (ObjectNode) node;
    }

    /** The config's {@code model_type}; fails if it is missing, not a string or not in {@code registry}, listing the supported ones. */
    static String modelType(JsonNode config, Path configFile, ModelRegistry registry) {
        JsonNode type = config.get("model_type");
        if (type == null || type.isNull()) {
            throw new IllegalArgumentException(configFile + " has no \"model_type\", which names the architecture (e.g. \"gpt2\"); "
                    + registry.supportedList());
        }
        if (!type.isTextual()) {
            throw new IllegalArgumentException(configFile + ": \"model_type\" must be a string such as \"gpt2\", got " + type);
        }
        if (!registry.supports(type.textValue())) {
            throw new IllegalArgumentException(configFile + ": model_type '" + type.textValue() + "' is not supported; "
                    + registry.supportedList());
        }
        return type.textValue();
    }

    /**
     * The weights of the model in {@code directory}: {@code model.safetensors}, else {@code model.safetensors.index.json};
     * fails naming what was found instead (pickled PyTorch weights, with how to convert them, or nothing).
     */
    public static Path findWeights(Path directory) throws IOException {
        checkDirectory(directory);
        Path single = directory.resolve(SafetensorsWeights.SINGLE_FILE);
        if (Files.isRegularFile(single)) {
            return single;
        }
        Path index = directory.resolve(SafetensorsWeights.INDEX_FILE);
        if (Files.isRegularFile(index)) {
            return index;
        }
        for (String pickle : List.of(PYTORCH_FILE, PYTORCH_INDEX_FILE)) {
            if (Files.exists(directory.resolve(pickle))) {
                throw new IllegalArgumentException(directory + " holds " + pickle + " (PyTorch pickle) but no "
                        + SafetensorsWeights.SINGLE_FILE + "; peft4j reads only safetensors, because loading a pickle can run code. "
                        + "To use this model, " + CONVERSION_HINT);
            }
        }
        throw new NoSuchFileException(directory.toString(), null, "no weights: expected " + SafetensorsWeights.SINGLE_FILE + " or "
                + SafetensorsWeights.INDEX_FILE + " beside " + CONFIG_FILE);
    }

    /** Saves {@code model} into {@code directory} with each tensor in its own type, in one file; returns the files written. */
    public static List<Path> save(PretrainedModel model, Path directory) throws IOException {
        return save(model, directory, SaveOptions.defaults());
    }

    /**
     * Saves {@code model} into {@code directory} as HF's {@code save_pretrained} does: the weights from
     * {@link PretrainedModel#hfStateDict()} as safetensors (see {@link SafetensorsCheckpointWriter}), then
     * {@code config.json} from {@link PretrainedModel#hfConfig()}, last, so a directory with a config always has its
     * weights. Every file is replaced atomically. Returns the files written, config.json last.
     */
    public static List<Path> save(PretrainedModel model, Path directory, SaveOptions options) throws IOException {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(options, "options");
        ObjectNode config = model.hfConfig().deepCopy();
        if (!config.hasNonNull("model_type")) {
            config.put("model_type", model.modelType());
        } else if (!config.get("model_type").asText().equals(model.modelType())) {
            throw new IllegalArgumentException("the model's config says model_type '" + config.get("model_type").asText()
                    + "' but the model is a '" + model.modelType() + "'; they must agree for the checkpoint to load again");
        }
        if (options.storageType() != null) {
            config.put("torch_dtype", torchDtype(options.storageType()));
        }
        Map<String, INDArray> stateDict = model.hfStateDict();
        Map<String, INDArray> stored = new LinkedHashMap<>();
        List<INDArray> casts = new ArrayList<>();
        try {
            for (Map.Entry<String, INDArray> tensor : stateDict.entrySet()) {
                INDArray value = tensor.getValue();
                if (options.storageType() != null && value.dataType().isFPType() && value.dataType() != options.storageType()) {
                    value = value.castTo(options.storageType());
                    casts.add(value);
                }
                stored.put(tensor.getKey(), value);
            }
            List<Path> written = new ArrayList<>(SafetensorsCheckpointWriter.write(directory, stored, options.maxShardBytes()));
            Path configFile = directory.resolve(CONFIG_FILE);
            byte[] json = PRETTY.writeValueAsBytes(config);
            AtomicFiles.write(configFile, out -> {
                out.write(json);
                out.write('\n');
            });
            written.add(configFile);
            return List.copyOf(written);
        } finally {
            casts.forEach(INDArray::close);
        }
    }

    /** HF's {@code torch_dtype} name of {@code type}, or null if there is none. */
    static String torchDtype(DataType type) {
        return switch (type) {
            case FLOAT -> "float32";
            case DOUBLE -> "float64";
            case HALF -> "float16";
            case BFLOAT16 -> "bfloat16";
            default -> null;
        };
    }

    private static void checkDirectory(Path directory) throws IOException {
        if (!Files.exists(directory)) {
            throw new NoSuchFileException(directory.toString(), null, "no such model directory");
        }
        if (!Files.isDirectory(directory)) {
            throw new NotDirectoryException(directory + " is not a directory; pass the folder that holds config.json");
        }
    }
}
