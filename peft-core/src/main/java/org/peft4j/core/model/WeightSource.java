package org.peft4j.core.model;

import java.util.Map;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Named tensors a model is built from: a safetensors checkpoint (one file or shards), the initializers
 * of an ONNX file, or a map in memory. Names are the checkpoint's own (HF's parameter paths).
 */
public interface WeightSource {
    /** Every tensor name. */
    Set<String> names();

    /** True if a tensor of this name exists. */
    default boolean contains(String name) {
        return names().contains(name);
    }

    /**
     * The tensor {@code name} as a FLOAT array outside any workspace (F16/BF16 widened); fails with the
     * available names when there is none.
     */
    INDArray get(String name);

    /** A source over tensors already in memory. */
    static WeightSource of(Map<String, INDArray> tensors) {
        Map<String, INDArray> copy = Map.copyOf(tensors);
        return new WeightSource() {
            @Override
            public Set<String> names() {
                return copy.keySet();
            }

            @Override
            public INDArray get(String name) {
                INDArray t = copy.get(name);
                if (t == null) {
                    throw new IllegalArgumentException("no tensor '" + name + "'; tensors: "
                            + copy.keySet().stream().sorted().limit(20).toList() + (copy.size() > 20 ? " ..." : ""));
                }
                return t;
            }
        };
    }
}
