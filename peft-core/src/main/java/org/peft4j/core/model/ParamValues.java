package org.peft4j.core.model;

import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.Predicate;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.nn.Init;

/**
 * Where the value of each param comes from while a model is built: the architecture's random
 * initialisation ({@link #random}), or a checkpoint's tensor of the same HF name ({@link #checkpoint}). A
 * model's builder asks for every param by its path, its shape and how a fresh model initialises it, so
 * one piece of code builds both a new model and a loaded one.
 */
public interface ParamValues {
    /** The value of param {@code path}; a fresh model draws it from N(0, std²). */
    INDArray normal(String path, double std, long... shape);

    /** The value of param {@code path}; a fresh model fills it with {@code value}. */
    INDArray constant(String path, double value, long... shape);

    /** Fresh values from one generator seeded with {@code seed}, drawn in the order the params are asked for. */
    static ParamValues random(long seed, DataType type) {
        SplittableRandom rng = new SplittableRandom(seed);
        return new ParamValues() {
            @Override
            public INDArray normal(String path, double std, long... shape) {
                return Init.normal(type, std, rng, shape);
            }

            @Override
            public INDArray constant(String path, double value, long... shape) {
                return Init.constant(type, value, shape);
            }
        };
    }

    /**
     * The tensors of {@code source}, converted to {@code type}. A param at path p is read from tensor p or,
     * if there is none, from p without {@code optionalPrefix} (HF saves a base model such as GPT2Model
     * without the "transformer." its LM wrapper adds). Params take the arrays the source returns (FLOAT) or
     * their conversion, so a source over arrays in memory shares them with the model.
     */
    static Checkpoint checkpoint(WeightSource source, DataType type, String optionalPrefix) {
        return new Checkpoint(source, type, optionalPrefix);
    }

    /** Values read from a checkpoint, remembering which tensors were used. */
    final class Checkpoint implements ParamValues {
        private final WeightSource source;
        private final DataType type;
        private final String optionalPrefix;
        private final Set<String> used = new LinkedHashSet<>();

        private Checkpoint(WeightSource source, DataType type, String optionalPrefix) {
            if (source == null || type == null || optionalPrefix == null) {
                throw new IllegalArgumentException("a checkpoint needs a weight source, a data type and a prefix (\"\" for none)");
            }
            if (!type.isFPType()) {
                throw new IllegalArgumentException("params must have a floating-point type, got " + type);
            }
            this.source = source;
            this.type = type;
            this.optionalPrefix = optionalPrefix;
        }

        @Override
        public INDArray normal(String path, double std, long... shape) {
            return read(path, shape);
        }

        @Override
        public INDArray constant(String path, double value, long... shape) {
            return read(path, shape);
        }

        /** True if the checkpoint holds a tensor for {@code path} (under either name). */
        public boolean contains(String path) {
            return source.contains(path) || !optionalPrefix.isEmpty() && path.startsWith(optionalPrefix)
                    && source.contains(path.substring(optionalPrefix.length()));
        }

        /** Fails, naming them, if the checkpoint holds tensors that no param used and {@code ignorable} does not accept. */
        public void requireAllUsed(Predicate<String> ignorable, String architecture) {
            Set<String> unexpected = new TreeSet<>();
            for (String name : source.names()) {
                if (!used.contains(name) && !ignorable.test(name)) {
                    unexpected.add(name);
                }
            }
            if (!unexpected.isEmpty()) {
                List<String> shown = unexpected.stream().limit(20).toList();
                throw new IllegalArgumentException("the checkpoint has " + unexpected.size() + " tensors that " + architecture
                        + " with this config does not use: " + shown + (unexpected.size() > shown.size() ? " ..." : "")
                        + "; does config.json describe these weights?");
            }
        }

        @SuppressWarnings("try")   // the scope only marks the region outside workspaces
        private INDArray read(String path, long[] shape) {
            String name = source.contains(path) ? path : path.startsWith(optionalPrefix) ? path.substring(optionalPrefix.length()) : path;
            if (!source.contains(name)) {
                throw new IllegalArgumentException("the checkpoint has no tensor '" + path + "'"
                        + (optionalPrefix.isEmpty() || !path.startsWith(optionalPrefix) ? "" : " (nor '" + name + "')")
                        + "; it has " + source.names().size() + " tensors, e.g. " + source.names().stream().sorted().limit(8).toList());
            }
            INDArray tensor = source.get(name);
            if (!Arrays.equals(tensor.shape(), shape)) {
                throw new IllegalArgumentException("tensor '" + name + "' has shape " + Arrays.toString(tensor.shape()) + " but the config needs "
                        + Arrays.toString(shape));
            }
            used.add(name);
            if (tensor.dataType() == type) {
                return tensor;
            }
            try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                return tensor.castTo(type);
            }
        }
    }
}
