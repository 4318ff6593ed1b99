package org.peft4j.core.tuner;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The adapters one tuner layer holds and its switches, for the layers of every method: the adapters by
 * name (in the order added), which are active, whether adapters are enabled, and which are merged into the
 * base weights (only methods whose update is linear merge).
 *
 * @param <A> what the wrapper keeps per adapter
 */
public final class AdapterSet<A> {
    private final Map<String, A> byName = new LinkedHashMap<>();
    private final List<String> merged = new ArrayList<>();
    private List<String> active = List.of();
    private boolean enabled = true;

    /** Adds adapter {@code name}; fails if this wrapper already holds one of that name. */
    public void add(String name, A adapter) {
        if (byName.putIfAbsent(name, adapter) != null) {
            throw new IllegalArgumentException("this layer already holds adapter '" + name + "'");
        }
    }

    /** The adapter called {@code name}; fails listing the adapters held. */
    public A get(String name) {
        A a = byName.get(name);
        if (a == null) {
            throw new IllegalArgumentException("this layer holds no adapter '" + name + "'; it holds " + byName.keySet());
        }
        return a;
    }

    /** Removes adapter {@code name} and returns it; fails if it is merged. */
    public A remove(String name) {
        A a = get(name);
        if (merged.contains(name)) {
            throw new IllegalStateException("cannot delete adapter '" + name + "' while it is merged; unmerge first");
        }
        byName.remove(name);
        List<String> rest = new ArrayList<>(active);
        rest.remove(name);
        active = List.copyOf(rest);
        return a;
    }

    /** True if this layer holds adapter {@code name}. */
    public boolean holds(String name) {
        return byName.containsKey(name);
    }

    /** True if adapter {@code name} is merged into the base weights. */
    public boolean isMerged(String name) {
        return merged.contains(name);
    }

    /** The names among {@code names} that this layer holds and has not merged yet, each once, in the given order. */
    public List<String> mergeable(List<String> names) {
        return names.stream().filter(n -> holds(n) && !isMerged(n)).distinct().toList();
    }

    /** The adapters held, in the order added. */
    public List<A> all() {
        return List.copyOf(byName.values());
    }

    /** The names held, in the order added. */
    public Set<String> names() {
        return new LinkedHashSet<>(byName.keySet());
    }

    /** Makes the adapters of {@code names} that this wrapper holds active. */
    public void setActive(List<String> names) {
        this.active = names.stream().filter(byName::containsKey).toList();
    }

    /** The active adapters held here. */
    public List<String> active() {
        return active;
    }

    /** The adapters forward applies now: the active ones, unless adapters are disabled or some are merged. */
    public List<A> applied() {
        if (!enabled || !merged.isEmpty()) {
            return List.of();
        }
        return active.stream().map(byName::get).toList();
    }

    public void setEnabled(boolean on) {
        this.enabled = on;
    }

    public boolean enabled() {
        return enabled;
    }

    /** The merged adapters, in merge order. */
    public List<String> merged() {
        return List.copyOf(merged);
    }

    /** Records that {@code name} was merged. */
    public void markMerged(String name) {
        merged.add(name);
    }

    /** Forgets every merge, returning the merged names last first (the order to subtract them in). */
    public List<String> clearMerged() {
        List<String> out = new ArrayList<>(merged);
        Collections.reverse(out);
        merged.clear();
        return out;
    }
}
