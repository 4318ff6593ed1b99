package org.peft4j.core.model.bert;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.model.WeightSource;

/**
 * Params read from a checkpoint by HF path. A path is found with or without the {@code bert.} prefix
 * (a BertModel checkpoint has none, a BertForXxx checkpoint has it), and LayerNorm weights also under
 * the old TensorFlow names {@code gamma}/{@code beta}. Paths that may be missing (a new classifier) come
 * from a fallback source; other missing paths and wrong shapes are collected and reported together by
 * {@link #checkComplete}.
 */
final class CheckpointBertParams implements BertParamSource {
    private final WeightSource weights;
    private final DataType type;
    private final Predicate<String> mayBeMissing;
    private final BertParamSource fallback;
    private final List<String> missing = new ArrayList<>();
    private final List<String> wrongShapes = new ArrayList<>();
    private final List<String> initialised = new ArrayList<>();

    CheckpointBertParams(WeightSource weights, DataType type, Predicate<String> mayBeMissing, BertParamSource fallback) {
        this.weights = weights;
        this.type = type;
        this.mayBeMissing = mayBeMissing;
        this.fallback = fallback;
    }

    /** The checkpoint's name for {@code path}, or null if it has none. */
    static String find(WeightSource weights, String path) {
        for (String candidate : candidates(path)) {
            if (weights.contains(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    private static List<String> candidates(String path) {
        List<String> names = new ArrayList<>();
        names.add(path);
        names.add(path.startsWith("bert.") ? path.substring("bert.".length()) : "bert." + path);
        List<String> withAliases = new ArrayList<>(names);
        for (String n : names) {
            if (n.endsWith("LayerNorm.weight")) {
                withAliases.add(n.substring(0, n.length() - "weight".length()) + "gamma");
            } else if (n.endsWith("LayerNorm.bias")) {
                withAliases.add(n.substring(0, n.length() - "bias".length()) + "beta");
            }
        }
        return withAliases;
    }

    @Override
    public INDArray get(String path, Kind kind, long... shape) {
        String name = find(weights, path);
        if (name == null) {
            if (mayBeMissing.test(path)) {
                initialised.add(path);
                return fallback.get(path, kind, shape);
            }
            missing.add(path);
            return standIn(shape);
        }
        INDArray source = weights.get(name);
        if (!Arrays.equals(source.shape(), shape)) {
            wrongShapes.add(name + " is " + Arrays.toString(source.shape()) + ", the config needs " + Arrays.toString(shape));
            return standIn(shape);
        }
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray value = source.castTo(type);
            // the param owns its array: never share the source's (an in-memory source hands out the same array twice)
            return value == source ? source.dup('c') : value;
        }
    }

    /**
     * Zeros in place of a tensor the checkpoint lacks or holds in another shape, so that building goes on
     * and {@link #checkComplete} reports every problem at once. A config that asks for more than
     * {@link #MAX_STAND_IN_VALUES} values stops here instead: allocating them could exhaust memory (a config
     * with a huge size and the wrong checkpoint beside it), and the checkpoint holds no such tensor anyway.
     */
    private INDArray standIn(long[] shape) {
        long values = 1;
        for (long d : shape) {
            values = d > 0 && values > MAX_STAND_IN_VALUES / d ? MAX_STAND_IN_VALUES + 1 : values * d;
        }
        if (values > MAX_STAND_IN_VALUES) {
            throw problems("the model", null);
        }
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return Nd4j.zeros(type, shape);
        }
    }

    /** The most values a stand-in for a missing or misshapen tensor may have (64 Mi, 256 MB in float32). */
    static final long MAX_STAND_IN_VALUES = 1L << 26;

    /** Paths that were initialised from the fallback because the checkpoint lacks them. */
    List<String> initialised() {
        return List.copyOf(initialised);
    }

    /** Fails, naming every missing tensor and wrong shape, unless the checkpoint had all that was needed. */
    void checkComplete(String what, String hint) {
        if (!missing.isEmpty() || !wrongShapes.isEmpty()) {
            throw problems(what, hint);
        }
    }

    /** The error naming every missing tensor and wrong shape found so far. */
    private IllegalArgumentException problems(String what, String hint) {
        StringBuilder message = new StringBuilder("cannot build " + what + " from the checkpoint:");
        if (!missing.isEmpty()) {
            message.append(" missing ").append(missing.size()).append(" tensors ").append(abbreviate(missing))
                    .append(" (looked up with and without the 'bert.' prefix)");
        }
        if (!wrongShapes.isEmpty()) {
            message.append(missing.isEmpty() ? "" : ";").append(" wrong shapes: ").append(abbreviate(wrongShapes));
        }
        if (hint != null && !missing.isEmpty()) {
            message.append("; ").append(hint);
        }
        List<String> present = new ArrayList<>(weights.names());
        present.sort(null);
        message.append("; the checkpoint has ").append(present.size()).append(" tensors, e.g. ").append(abbreviate(present));
        return new IllegalArgumentException(message.toString());
    }

    private static String abbreviate(List<String> names) {
        return names.size() <= 12 ? names.toString() : names.subList(0, 12) + " ... (" + (names.size() - 12) + " more)";
    }
}
