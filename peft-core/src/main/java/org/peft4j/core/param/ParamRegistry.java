package org.peft4j.core.param;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleTree;

/**
 * Every param of a module tree under its full dotted path, the way HF's {@code named_parameters()}
 * lists them: a param shared by two modules (a tied LM head) appears once, under its first path.
 * The registry is a live view: it walks the tree on each call, so it sees modules that methods
 * replaced or attached after it was created.
 */
public final class ParamRegistry {
    private final Module root;

    /** One param with its path. */
    public record NamedParam(String path, Param param) {
        /** True if the param is trainable. */
        public boolean trainable() {
            return param.isTrainable();
        }
    }

    /** What {@link #load} did: paths it could not find in the given tensors, and given tensors it did not use. */
    public record LoadReport(List<String> missing, List<String> unexpected) {
    }

    public ParamRegistry(Module root) {
        this.root = root;
    }

    public Module root() {
        return root;
    }

    /** Every param in tree order, each once. */
    public List<NamedParam> all() {
        Map<Param, String> seen = new IdentityHashMap<>();
        List<NamedParam> out = new ArrayList<>();
        ModuleTree.modules(root).forEach((path, module) -> module.params().forEach((name, param) -> {
            if (!seen.containsKey(param)) {
                String full = path.isEmpty() ? name : path + "." + name;
                seen.put(param, full);
                out.add(new NamedParam(full, param));
            }
        }));
        return out;
    }

    /** The trainable params in tree order. */
    public List<NamedParam> trainable() {
        return all().stream().filter(NamedParam::trainable).collect(Collectors.toList());
    }

    /** Paths of all params. */
    public List<String> paths() {
        return all().stream().map(NamedParam::path).collect(Collectors.toList());
    }

    /** The param at {@code path}; fails with the paths that share its last component. */
    public Param get(String path) {
        for (NamedParam np : all()) {
            if (np.path().equals(path)) {
                return np.param();
            }
        }
        String last = path.substring(path.lastIndexOf('.') + 1);
        List<String> similar = paths().stream().filter(p -> p.endsWith("." + last) || p.equals(last)).limit(10).collect(Collectors.toList());
        throw new IllegalArgumentException("no param '" + path + "'" + (similar.isEmpty() ? "; params: " + abbreviate(paths()) : "; similar: " + similar));
    }

    /** Freezes every param. */
    public void freezeAll() {
        all().forEach(np -> np.param().setTrainable(false));
    }

    /** Unfreezes every param (full fine-tuning). */
    public void unfreezeAll() {
        all().forEach(np -> np.param().setTrainable(true));
    }

    /**
     * Makes the params selected by {@code selector} trainable or frozen and returns how many it
     * selected; selecting none is an error that lists the paths, since it is almost always a typo.
     */
    public int setTrainable(Predicate<NamedParam> selector, boolean trainable, String description) {
        int count = 0;
        for (NamedParam np : all()) {
            if (selector.test(np)) {
                np.param().setTrainable(trainable);
                count++;
            }
        }
        if (count == 0) {
            throw new IllegalArgumentException(description + " matched no param; params: " + abbreviate(paths()));
        }
        return count;
    }

    /** Unfreezes the param with exactly this path. */
    public int unfreeze(String path) {
        return setTrainable(np -> np.path().equals(path), true, "path '" + path + "'");
    }

    /** Unfreezes params whose path ends with {@code suffix} at a '.' boundary (e.g. "bias", "ln_f.weight"). */
    public int unfreezeSuffix(String suffix) {
        return setTrainable(np -> np.path().equals(suffix) || np.path().endsWith("." + suffix), true, "suffix '" + suffix + "'");
    }

    /** Unfreezes params whose whole path matches {@code regex}. */
    public int unfreezeMatching(Pattern regex) {
        return setTrainable(np -> regex.matcher(np.path()).matches(), true, "pattern '" + regex + "'");
    }

    /** Unfreezes params selected by a predicate. */
    public int unfreeze(Predicate<NamedParam> selector) {
        return setTrainable(selector, true, "predicate");
    }

    /** Freezes params whose path ends with {@code suffix} at a '.' boundary. */
    public int freezeSuffix(String suffix) {
        return setTrainable(np -> np.path().equals(suffix) || np.path().endsWith("." + suffix), false, "suffix '" + suffix + "'");
    }

    /** Number of elements in trainable params. */
    public long trainableCount() {
        return all().stream().filter(NamedParam::trainable).mapToLong(np -> np.param().length()).sum();
    }

    /** Number of elements in all params. */
    public long totalCount() {
        return all().stream().mapToLong(np -> np.param().length()).sum();
    }

    /** Number of elements per owner ("base", "lora", ...). */
    public Map<String, Long> countByOwner() {
        Map<String, Long> out = new LinkedHashMap<>();
        all().forEach(np -> out.merge(np.param().owner(), np.param().length(), Long::sum));
        return out;
    }

    /** HF PEFT's line: {@code trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364}. */
    public String summary() {
        long trainable = trainableCount();
        long total = totalCount();
        double percent = total == 0 ? 0.0 : 100.0 * trainable / total;
        return String.format(Locale.ROOT, "trainable params: %,d || all params: %,d || trainable%%: %.4f", trainable, total, percent);
    }

    /** The live values of the selected params by path (the basis of checkpoints and adapter files). */
    public Map<String, INDArray> export(Predicate<NamedParam> selector) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        all().stream().filter(selector).forEach(np -> out.put(np.path(), np.param().value()));
        return out;
    }

    /**
     * The model's own params by path: every param except those under children added with
     * {@link Module#attach} (input hooks of prompt methods, which are saved with their adapter). This is
     * what an HF checkpoint of the model holds, merged adapters and trained head copies included, plus every
     * module's {@link Module#extraState()} (a quantized layer's packed weight) under the module's path.
     */
    public Map<String, INDArray> modelState() {
        List<String> attachedPrefixes = new ArrayList<>();
        ModuleTree.modules(root).forEach((path, module) -> module.attachedNames()
                .forEach(name -> attachedPrefixes.add((path.isEmpty() ? name : path + "." + name) + ".")));
        Map<String, INDArray> out = export(np -> attachedPrefixes.stream().noneMatch(np.path()::startsWith));
        ModuleTree.modules(root).forEach((path, module) -> module.extraState().forEach((name, tensor) -> {
            String key = path.isEmpty() ? name : path + "." + name;
            if (attachedPrefixes.stream().noneMatch(key::startsWith)) {
                out.put(key, tensor);
            }
        }));
        return out;
    }

    /**
     * Copies tensors into the params with the same paths. Shapes must match exactly. With {@code strict},
     * a missing or unexpected path is an error; otherwise the report lists them.
     */
    public LoadReport load(Map<String, INDArray> tensors, Predicate<NamedParam> expected, boolean strict) {
        Map<String, Param> byPath = new LinkedHashMap<>();
        all().stream().filter(expected).forEach(np -> byPath.put(np.path(), np.param()));
        List<String> missing = new ArrayList<>();
        for (String path : byPath.keySet()) {
            if (!tensors.containsKey(path)) {
                missing.add(path);
            }
        }
        Set<String> unexpected = new TreeSet<>(tensors.keySet());
        unexpected.removeAll(byPath.keySet());
        if (strict && (!missing.isEmpty() || !unexpected.isEmpty())) {
            throw new IllegalArgumentException("tensors do not match the model: missing " + abbreviate(missing) + ", unexpected "
                    + abbreviate(new ArrayList<>(unexpected)));
        }
        for (Map.Entry<String, Param> e : byPath.entrySet()) {
            INDArray source = tensors.get(e.getKey());
            if (source != null) {
                e.getValue().load(source.castTo(e.getValue().value().dataType()), e.getKey());
            }
        }
        return new LoadReport(List.copyOf(missing), List.copyOf(unexpected));
    }

    /** A table of every param: path, shape, owner, state. */
    public String table() {
        StringBuilder sb = new StringBuilder();
        for (NamedParam np : all()) {
            sb.append(String.format(Locale.ROOT, "%-60s %-16s %-8s %s%n", np.path(), Arrays.toString(np.param().shape()),
                    np.param().owner(), np.trainable() ? "trainable" : "frozen"));
        }
        return sb.toString();
    }

    private static String abbreviate(List<String> paths) {
        if (paths.size() <= 12) {
            return paths.toString();
        }
        return paths.subList(0, 12) + " ... (" + paths.size() + " in all)";
    }
}
