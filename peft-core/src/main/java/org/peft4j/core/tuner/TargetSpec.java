package org.peft4j.core.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Which modules an adapter wraps, with HF PEFT's rules ({@code check_target_module_exists}):
 * <ul>
 *   <li>a list of names matches a module whose path equals a name or ends with {@code "." + name};</li>
 *   <li>a string is a regular expression that must match the whole path; {@code "all-linear"} stands for
 *       every Linear except the output head;</li>
 *   <li>{@code exclude_modules} (a list or a regex, same rules) removes modules again;</li>
 *   <li>{@code layers_to_transform} keeps only suffix matches whose layer index (the integer right after
 *       {@code "." + layers_pattern + "."}, or else the first integer path segment after another segment) is
 *       listed; an exact path match is not filtered.</li>
 * </ul>
 * A null {@code targets} means the architecture's default (see {@link ArchitectureDefaults}).
 *
 * @param targets           the modules to wrap, or null for the architecture's default
 * @param exclude           modules never to wrap, or null
 * @param layersToTransform layer indices to keep, or null for all
 * @param layersPattern     names of the layer lists ({@code "h"}, {@code "layers"}), or null for any
 */
public record TargetSpec(ModuleNames targets, ModuleNames exclude, List<Integer> layersToTransform, List<String> layersPattern) {
    /** HF's shorthand for "every Linear except the output head". */
    public static final String ALL_LINEAR = "all-linear";

    /** A list of module names or one regular expression. */
    public sealed interface ModuleNames permits Listed, Regex {
    }

    /** Names matched exactly or as a suffix at a '.' boundary. */
    public record Listed(List<String> names) implements ModuleNames {
        public Listed {
            if (names == null || names.isEmpty()) {
                throw new IllegalArgumentException("a list of module names must name at least one module, e.g. [\"q_proj\", \"v_proj\"]");
            }
            for (String n : names) {
                if (n == null || n.isEmpty()) {
                    throw new IllegalArgumentException("module names must be non-empty, got " + names);
                }
            }
            names = List.copyOf(names);
        }
    }

    /** A regular expression that must match a module's whole path; {@code "all-linear"} is the shorthand. */
    public record Regex(String pattern) implements ModuleNames {
        public Regex {
            if (pattern == null || pattern.isEmpty()) {
                throw new IllegalArgumentException("a module regex must be non-empty");
            }
            try {
                Pattern.compile(pattern);
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException("module regex '" + pattern + "' is not a valid regular expression: " + e.getDescription(), e);
            }
        }

        /** True for HF's {@code "all-linear"} (any case). */
        public boolean isAllLinear() {
            return pattern.equalsIgnoreCase(ALL_LINEAR);
        }
    }

    /** How one module path fares against the spec. */
    public enum Match {
        /** The module is wrapped. */
        TARGETED,
        /** The module matched exclude_modules or modules_to_save. */
        EXCLUDED,
        /** The module did not match. */
        UNMATCHED
    }

    public TargetSpec {
        if (layersToTransform != null) {
            for (Integer i : layersToTransform) {
                if (i == null || i < 0) {
                    throw new IllegalArgumentException("layers_to_transform must hold layer indices >= 0, got " + layersToTransform);
                }
            }
            layersToTransform = List.copyOf(layersToTransform);
        }
        if (layersPattern != null) {
            layersPattern = List.copyOf(layersPattern);
        }
        if (targets instanceof Regex && layersToTransform != null) {
            throw new IllegalArgumentException("layers_to_transform cannot be used when target_modules is a regex string ('"
                    + ((Regex) targets).pattern() + "'); give target_modules as a list of names");
        }
        if (targets instanceof Regex && layersPattern != null) {
            throw new IllegalArgumentException("layers_pattern cannot be used when target_modules is a regex string ('"
                    + ((Regex) targets).pattern() + "'); give target_modules as a list of names");
        }
        if (layersPattern != null && !layersPattern.isEmpty() && layersToTransform == null) {
            throw new IllegalArgumentException("layers_pattern " + layersPattern + " needs layers_to_transform as well");
        }
    }

    /** The listed module names. */
    public static TargetSpec of(String... names) {
        return new TargetSpec(new Listed(List.of(names)), null, null, null);
    }

    /** Modules whose whole path matches {@code regex}. */
    public static TargetSpec regex(String regex) {
        return new TargetSpec(new Regex(regex), null, null, null);
    }

    /** Every Linear except the output head. */
    public static TargetSpec allLinear() {
        return regex(ALL_LINEAR);
    }

    /** The architecture's default targets. */
    public static TargetSpec architectureDefault() {
        return new TargetSpec(null, null, null, null);
    }

    /** True if targets is {@code "all-linear"}. */
    public boolean isAllLinear() {
        return targets instanceof Regex r && r.isAllLinear();
    }

    /** This spec with other targets. */
    public TargetSpec withTargets(ModuleNames newTargets) {
        return new TargetSpec(newTargets, exclude, layersToTransform, layersPattern);
    }

    /** This spec with other excluded modules. */
    public TargetSpec withExclude(ModuleNames newExclude) {
        return new TargetSpec(targets, newExclude, layersToTransform, layersPattern);
    }

    /** This spec keeping only the given layer indices, found after any of {@code patterns} (none: any segment). */
    public TargetSpec withLayers(List<Integer> indices, List<String> patterns) {
        return new TargetSpec(targets, exclude, indices, patterns);
    }

    /**
     * Matches one module path as HF PEFT does; {@code modulesToSave} entries (regexes, as in HF) exclude the
     * modules they name and everything below them. Targets must be resolved (not null, not "all-linear").
     */
    public Match match(String key, Collection<String> modulesToSave) {
        if (excludes(key, modulesToSave)) {
            return Match.EXCLUDED;
        }
        if (targets == null || isAllLinear()) {
            throw new IllegalStateException("targets must be resolved before matching, got " + (targets == null ? "the default" : ALL_LINEAR));
        }
        if (targets instanceof Regex r) {
            return Pattern.compile(r.pattern()).matcher(key).matches() ? Match.TARGETED : Match.UNMATCHED;
        }
        List<String> names = ((Listed) targets).names();
        if (names.contains(key)) {
            return Match.TARGETED;                       // an exact path is not filtered by layer (as in HF)
        }
        boolean found = names.stream().anyMatch(n -> key.endsWith("." + n));
        if (!found || layersToTransform == null || layersToTransform.isEmpty()) {
            return found ? Match.TARGETED : Match.UNMATCHED;
        }
        Integer layer = layerIndex(key);
        return layer != null && layersToTransform.contains(layer) ? Match.TARGETED : Match.UNMATCHED;
    }

    /** True if exclude_modules or a modules_to_save entry (a regex, as in HF) covers the module at {@code key} or one above it. */
    public boolean excludes(String key, Collection<String> modulesToSave) {
        if (exclude != null && matchesNames(exclude, key)) {
            return true;
        }
        for (String m : modulesToSave) {
            if (Pattern.compile("(^|.*\\.)" + m + "($|\\..*)").matcher(key).lookingAt()) {
                return true;
            }
        }
        return false;
    }

    /** The layer index of {@code key} under layers_pattern (HF's lazy match: the first numbered segment), or null. */
    Integer layerIndex(String key) {
        List<String> patterns = layersPattern == null || layersPattern.isEmpty() ? List.of("[^.]*") : layersPattern;
        for (String p : patterns) {
            Matcher m = Pattern.compile(".*?\\." + p + "\\.(\\d+)\\.").matcher(key);
            if (m.lookingAt()) {
                return Integer.parseInt(m.group(1));
            }
        }
        return null;
    }

    private static boolean matchesNames(ModuleNames names, String key) {
        if (names instanceof Regex r) {
            return Pattern.compile(r.pattern()).matcher(key).matches();
        }
        List<String> listed = ((Listed) names).names();
        return listed.contains(key) || listed.stream().anyMatch(n -> key.endsWith("." + n));
    }

    /**
     * The first of {@code patternKeys} that matches the end of {@code path} at a '.' boundary (HF's
     * {@code get_pattern_key}: the key is a regex; a leading {@code ^} anchors it to the start of the path), or null.
     */
    public static String patternKey(Collection<String> patternKeys, String path) {
        for (String key : patternKeys) {
            if (Pattern.compile("(.*\\.)?(" + key + ")$").matcher(path).matches()) {
                return key;
            }
        }
        return null;
    }

    /** Writes target_modules, exclude_modules, layers_to_transform and layers_pattern under HF's names. */
    public void writeHfJson(ObjectNode node) {
        node.set("target_modules", namesToJson(targets));
        node.set("exclude_modules", namesToJson(exclude));
        if (layersToTransform == null) {
            node.putNull("layers_to_transform");
        } else {
            ArrayNode a = node.putArray("layers_to_transform");
            layersToTransform.forEach(a::add);
        }
        if (layersPattern == null) {
            node.putNull("layers_pattern");
        } else {
            ArrayNode a = node.putArray("layers_pattern");
            layersPattern.forEach(a::add);
        }
    }

    /** Reads the four fields from an {@code adapter_config.json} (missing = null; ints and strings as HF allows). */
    public static TargetSpec fromHfJson(JsonNode node) {
        ModuleNames targets = namesFromJson(node.get("target_modules"), "target_modules");
        ModuleNames exclude = namesFromJson(node.get("exclude_modules"), "exclude_modules");
        List<Integer> layers = null;
        JsonNode l = node.get("layers_to_transform");
        if (l != null && !l.isNull()) {
            layers = new ArrayList<>();
            if (l.isInt()) {
                layers.add(l.intValue());
            } else if (l.isArray()) {
                for (JsonNode i : l) {
                    if (!i.isInt()) {
                        throw new IllegalArgumentException("layers_to_transform must be an int or a list of ints, got " + l);
                    }
                    layers.add(i.intValue());
                }
            } else {
                throw new IllegalArgumentException("layers_to_transform must be an int or a list of ints, got " + l);
            }
        }
        List<String> pattern = null;
        JsonNode p = node.get("layers_pattern");
        if (p != null && !p.isNull()) {
            pattern = new ArrayList<>();
            if (p.isTextual()) {
                pattern.add(p.textValue());
            } else if (p.isArray()) {
                for (JsonNode s : p) {
                    pattern.add(s.asText());
                }
            } else {
                throw new IllegalArgumentException("layers_pattern must be a string or a list of strings, got " + p);
            }
        }
        return new TargetSpec(targets, exclude, layers, pattern);
    }

    private static JsonNode namesToJson(ModuleNames names) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        if (names == null) {
            return f.nullNode();
        }
        if (names instanceof Regex r) {
            return f.textNode(r.pattern());
        }
        ArrayNode a = f.arrayNode();
        ((Listed) names).names().forEach(a::add);
        return a;
    }

    private static ModuleNames namesFromJson(JsonNode n, String field) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return new Regex(n.textValue());
        }
        if (n.isArray()) {
            List<String> names = new ArrayList<>();
            for (JsonNode s : n) {
                if (!s.isTextual()) {
                    throw new IllegalArgumentException(field + " must be a string or a list of strings, got " + n);
                }
                names.add(s.textValue());
            }
            return names.isEmpty() ? null : new Listed(names);
        }
        throw new IllegalArgumentException(field + " must be a string or a list of strings, got " + n);
    }
}
