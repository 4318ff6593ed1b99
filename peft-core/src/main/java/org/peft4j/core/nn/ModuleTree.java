package org.peft4j.core.nn;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Paths in a module tree: listing every module by its dotted path, finding one, and replacing one with
 * a wrapper. This is how methods plug in: {@code replace("transformer.h.0.attn.c_attn", base -> wrap(base))}.
 */
public final class ModuleTree {
    private ModuleTree() {
    }

    /** Every module under {@code root} by path, parents before children; the root has path "". */
    public static Map<String, Module> modules(Module root) {
        Map<String, Module> out = new LinkedHashMap<>();
        walk("", root, out);
        return out;
    }

    private static void walk(String path, Module module, Map<String, Module> out) {
        out.put(path, module);
        module.children().forEach((name, child) -> walk(path.isEmpty() ? name : path + "." + name, child, out));
    }

    /** The module at {@code path}; fails with the closest existing paths when there is none. */
    public static Module get(Module root, String path) {
        Module current = root;
        if (path.isEmpty()) {
            return current;
        }
        StringBuilder seen = new StringBuilder();
        for (String part : path.split("\\.", -1)) {
            if (!current.children().containsKey(part)) {
                throw new IllegalArgumentException("no module at '" + path + "': '" + (seen.length() == 0 ? "<root>" : seen)
                        + "' has children " + current.children().keySet());
            }
            current = current.child(part);
            seen.append(seen.length() == 0 ? "" : ".").append(part);
        }
        return current;
    }

    /**
     * Replaces the module at {@code path} with {@code wrap.apply(current)} and returns the new module.
     * The replacement must have the type the parent's slot requires.
     */
    public static Module replace(Module root, String path, UnaryOperator<Module> wrap) {
        int dot = path.lastIndexOf('.');
        if (path.isEmpty()) {
            throw new IllegalArgumentException("cannot replace the root module");
        }
        Module parent = get(root, dot < 0 ? "" : path.substring(0, dot));
        String name = path.substring(dot + 1);
        Module current = get(root, path);
        Module replacement = wrap.apply(current);
        parent.replaceChild(name, replacement);
        return replacement;
    }

    /** Paths of all modules of the given type (e.g. every {@link Linear}), in tree order. */
    public static List<String> pathsOf(Module root, Class<? extends Module> type) {
        List<String> out = new ArrayList<>();
        modules(root).forEach((path, m) -> {
            if (type.isInstance(m)) {
                out.add(path);
            }
        });
        return out;
    }

    /** An indented listing of the tree with each module's description, like printing a torch model. */
    public static String print(Module root) {
        StringBuilder sb = new StringBuilder();
        print(root.describe(), root, 0, sb);
        return sb.toString();
    }

    private static void print(String label, Module module, int depth, StringBuilder sb) {
        sb.append("  ".repeat(depth)).append(label).append('\n');
        module.children().forEach((name, child) -> print("(" + name + "): " + child.describe(), child, depth + 1, sb));
    }
}
