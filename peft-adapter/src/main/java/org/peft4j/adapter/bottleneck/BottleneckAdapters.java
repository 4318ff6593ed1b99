package org.peft4j.adapter.bottleneck;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.tuner.AdapterSet;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.ModuleDict;

/**
 * The bottleneck adapters of one wrapper: their projections live in the wrapper's children
 * {@code adapter_down.<name>} and {@code adapter_up.<name>}, and the outputs of the applied adapters add up.
 */
final class BottleneckAdapters {
    private final ModuleDict down = new ModuleDict();
    private final ModuleDict up = new ModuleDict();
    private final AdapterSet<Bottleneck> set = new AdapterSet<>();
    private final boolean parallel;
    private final int in;
    private final int out;
    private final DataType type;

    private record Saved(List<Bottleneck> applied) {
    }

    /** Adapters from {@code in} to {@code out} features with params of {@code type}, reading the wrapped module's input or output. */
    BottleneckAdapters(boolean parallel, int in, int out, DataType type) {
        this.parallel = parallel;
        this.in = in;
        this.out = out;
        this.type = type;
    }

    /** True if the adapters read the wrapped module's input (parallel), false if its output (Houlsby, Pfeiffer). */
    boolean parallel() {
        return parallel;
    }

    ModuleDict down() {
        return down;
    }

    ModuleDict up() {
        return up;
    }

    AdapterSet<Bottleneck> set() {
        return set;
    }

    /** Adds a frozen, inactive adapter of {@code config}. */
    void add(String name, BottleneckConfig config, SplittableRandom rng) {
        Bottleneck b = Bottleneck.create(name, in, config.bottleneckFor(out), out, config.nonLinearity(), config.scaling(), config.initWeights(),
                type, rng);
        set.add(name, b);
        down.put(name, b.down());
        up.put(name, b.up());
    }

    /** Removes adapter {@code name} and frees its params. */
    void remove(String name) {
        Bottleneck b = set.remove(name);
        down.remove(name);
        up.remove(name);
        b.close();
    }

    /** The params of adapter {@code name} by their names relative to the wrapper, the adapter name left out. */
    Map<String, Param> params(String name) {
        Bottleneck b = set.get(name);
        Map<String, Param> outMap = new LinkedHashMap<>();
        outMap.put("adapter_down.weight", b.down().weight());
        outMap.put("adapter_down.bias", b.down().bias());
        outMap.put("adapter_up.weight", b.up().weight());
        outMap.put("adapter_up.bias", b.up().bias());
        return outMap;
    }

    /** Σ of the applied adapters' outputs for z {@code [n, in]}, or null when none applies. */
    INDArray forward(INDArray z, Tape tape) {
        List<Bottleneck> applied = set.applied();
        INDArray sum = null;
        for (Bottleneck b : applied) {
            INDArray a = b.forward(z, tape);
            sum = sum == null ? a : sum.addi(a);
        }
        tape.push(this, new Saved(applied));
        return sum;
    }

    /** Σ of dL/dz over the adapters the matching forward applied, or null when none did. */
    INDArray backward(INDArray gradOutput, Tape tape) {
        List<Bottleneck> applied = new ArrayList<>(tape.pop(this, Saved.class).applied());
        INDArray dz = null;
        for (int i = applied.size() - 1; i >= 0; i--) {
            INDArray d = applied.get(i).backward(gradOutput, tape);
            dz = dz == null ? d : dz.addi(d);
        }
        return dz;
    }
}
