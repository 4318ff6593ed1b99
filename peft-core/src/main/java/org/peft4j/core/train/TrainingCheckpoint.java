package org.peft4j.core.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.SafetensorsFile;
import org.peft4j.core.io.SafetensorsWriter;
import org.peft4j.core.io.StrictJson;
import org.peft4j.core.param.ParamRegistry.NamedParam;

/**
 * What a training run needs to continue exactly where it stopped, as a directory
 * {@code checkpoint-<step>/}: the trainable params ({@value #PARAMS}), the optimizer's state
 * ({@value #OPTIMIZER}, e.g. Adam's moments) and the step ({@value #STATE}). Dropout masks and the data
 * order are functions of the seed and the step, so no random-generator state needs saving.
 *
 * <p>Crash safety: a checkpoint is written into a hidden {@code .partial} directory that is renamed to its
 * final name only when complete, so a checkpoint directory is never half-written; a kill during a save
 * leaves the previous checkpoints intact and at most a {@code .partial} directory, which is ignored and
 * removed by the next save.
 */
public final class TrainingCheckpoint {
    public static final String PARAMS = "trainable.safetensors";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "trainer_state.json";
    private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");
    private static final String PARTIAL_PREFIX = ".partial-";
    private static final String FORMAT = "peft4j-training-checkpoint";

    private TrainingCheckpoint() {
    }

    /** The step, total steps and seed a checkpoint was written at. */
    public record Info(Path directory, int step, int totalSteps, long seed) {
    }

    /**
     * Writes the checkpoint of {@code step} (completed steps) under {@code root}, keeping the newest
     * {@code keep} checkpoints; returns its directory.
     */
    public static Path write(Path root, int step, int totalSteps, long seed, List<NamedParam> trainable, Optimizer optimizer, int keep)
            throws IOException {
        Files.createDirectories(root);
        removePartials(root);
        Path partial = Files.createDirectory(root.resolve(PARTIAL_PREFIX + "checkpoint-" + step + "-" + System.nanoTime()));
        Map<String, INDArray> params = new LinkedHashMap<>();
        trainable.forEach(np -> params.put(np.path(), np.param().value()));
        SafetensorsWriter.write(partial.resolve(PARAMS), params, Map.of("format", FORMAT, "step", Integer.toString(step)));
        SafetensorsWriter.write(partial.resolve(OPTIMIZER), optimizer.state(trainable), Map.of("format", FORMAT, "updater",
                optimizer.toString()));
        ObjectNode state = new ObjectMapper().createObjectNode();
        state.put("format", FORMAT);
        state.put("step", step);
        state.put("total_steps", totalSteps);
        state.put("seed", seed);
        state.putPOJO("trainable", params.keySet());
        Files.writeString(partial.resolve(STATE), new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(state) + "\n");
        Path target = root.resolve("checkpoint-" + step);
        if (Files.exists(target)) {
            discard(target);
        }
        try {
            Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot rename " + partial + " to " + target + " atomically on this file system", e);
        }
        List<Info> all = list(root);
        for (int i = 0; i < all.size() - Math.max(1, keep); i++) {
            discard(all.get(i).directory());
        }
        return target;
    }

    /** The complete checkpoints under {@code root}, oldest first (partial ones are skipped). */
    public static List<Info> list(Path root) throws IOException {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        List<Info> found = new java.util.ArrayList<>();
        try (Stream<Path> children = Files.list(root)) {
            for (Path p : children.filter(p -> NAME.matcher(p.getFileName().toString()).matches()).toList()) {
                try {
                    found.add(info(p));
                } catch (NoSuchFileException gone) {
                    // discarded by a run that is still writing checkpoints here
                }
            }
        }
        found.sort(Comparator.comparingInt(Info::step));
        return found;
    }

    /** The newest complete checkpoint under {@code root}, if any. */
    public static Optional<Info> latest(Path root) throws IOException {
        List<Info> all = list(root);
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    /**
     * {@code path} itself if it is a checkpoint, else the newest checkpoint under it; fails naming what
     * was found when there is none.
     */
    public static Info resolve(Path path) throws IOException {
        if (Files.isRegularFile(path.resolve(STATE))) {
            return info(path);
        }
        if (!Files.isDirectory(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such checkpoint or checkpoint directory");
        }
        return latest(path).orElseThrow(() -> new NoSuchFileException(path.toString(), null,
                "no training checkpoint (a checkpoint-<step> directory with " + STATE + ") to resume from"));
    }

    /**
     * Loads checkpoint {@code info} into {@code trainable} and {@code optimizer}; the params must be the same
     * (names and shapes) as when it was written. Returns the step to continue from.
     */
    public static int restore(Info info, List<NamedParam> trainable, Optimizer optimizer) throws IOException {
        Path dir = info.directory();
        try (SafetensorsFile params = SafetensorsFile.open(dir.resolve(PARAMS));
                SafetensorsFile state = SafetensorsFile.open(dir.resolve(OPTIMIZER))) {
            List<String> expected = trainable.stream().map(NamedParam::path).sorted().toList();
            List<String> saved = params.names().stream().sorted().toList();
            if (!expected.equals(saved)) {
                throw new IllegalArgumentException(dir + ": the checkpoint holds the trainable params " + saved
                        + " but the model now trains " + expected + "; resume with the same model, method and options");
            }
            Map<String, INDArray> optimizerState = new LinkedHashMap<>();
            for (NamedParam np : trainable) {
                INDArray value = params.read(np.path());
                if (!Arrays.equals(value.shape(), np.param().value().shape()) || value.dataType() != np.param().value().dataType()) {
                    throw new IllegalArgumentException(dir + ": param '" + np.path() + "' is " + value.dataType() + " "
                            + Arrays.toString(value.shape()) + " in the checkpoint but " + np.param().value().dataType() + " "
                            + Arrays.toString(np.param().value().shape()) + " in the model");
                }
                np.param().value().assign(value);
                value.close();
                if (state.names().contains(np.path())) {
                    optimizerState.put(np.path(), state.read(np.path()));
                }
            }
            optimizer.restore(trainable, optimizerState);
            optimizerState.values().forEach(INDArray::close);
        }
        return info.step();
    }

    private static Info info(Path dir) throws NoSuchFileException {
        Path file = dir.resolve(STATE);
        try {
            JsonNode json = StrictJson.read(file, (problem, cause) -> new IllegalArgumentException(file + " is " + problem, cause));
            if (!FORMAT.equals(json.path("format").asText()) || !json.path("step").canConvertToInt() || !json.path("total_steps").canConvertToInt()) {
                throw new IllegalArgumentException(file + " is not a peft4j training checkpoint (format " + FORMAT
                        + " with step and total_steps)");
            }
            return new Info(dir, json.get("step").asInt(), json.get("total_steps").asInt(), json.path("seed").asLong());
        } catch (NoSuchFileException e) {
            throw e;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void removePartials(Path root) throws IOException {
        try (Stream<Path> children = Files.list(root)) {
            for (Path p : children.filter(p -> p.getFileName().toString().startsWith(PARTIAL_PREFIX)).toList()) {
                deleteTree(p);
            }
        }
    }

    /** Renames a checkpoint out of sight in one atomic step, then deletes it: it is never seen half-deleted. */
    private static void discard(Path checkpoint) throws IOException {
        Path hidden = checkpoint.resolveSibling(PARTIAL_PREFIX + "discarded-" + checkpoint.getFileName() + "-" + System.nanoTime());
        Files.move(checkpoint, hidden, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(hidden);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

}
