package org.peft4j.core.nn;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Keys and values that precede a sequence in every attention layer: a learned prefix (Prefix Tuning,
 * P-Tuning v2) or the cache of earlier tokens during generation. Each layer's keys and values are
 * {@code [batch · kvHeads, length, headDim]}. When {@link #requiresGrad()} is true, attention adds
 * dL/dkeys and dL/dvalues into {@link #keyGrad}/{@link #valueGrad} during backward.
 */
public final class PastKeyValues {
    private final int length;
    private final INDArray[] keys;
    private final INDArray[] values;
    private final INDArray[] keyGrads;
    private final INDArray[] valueGrads;

    /**
     * @param length       number of past positions P
     * @param keys         per layer, {@code [batch · kvHeads, P, headDim]}
     * @param values       per layer, same shape as keys
     * @param requiresGrad allocate gradient accumulators of the same shapes
     */
    public PastKeyValues(int length, INDArray[] keys, INDArray[] values, boolean requiresGrad) {
        if (keys.length != values.length) {
            throw new IllegalArgumentException("past keys and values need one entry per layer each, got " + keys.length + " and " + values.length);
        }
        for (int i = 0; i < keys.length; i++) {
            if (keys[i].rank() != 3 || keys[i].size(1) != length || !Arrays.equals(keys[i].shape(), values[i].shape())) {
                throw new IllegalArgumentException("past keys/values of layer " + i + " must both be [batch*kvHeads, " + length
                        + ", headDim], got " + Arrays.toString(keys[i].shape()) + " and " + Arrays.toString(values[i].shape()));
            }
        }
        this.length = length;
        this.keys = keys.clone();
        this.values = values.clone();
        this.keyGrads = new INDArray[keys.length];
        this.valueGrads = new INDArray[keys.length];
        if (requiresGrad) {
            for (int i = 0; i < keys.length; i++) {
                keyGrads[i] = keys[i].ulike().assign(0);
                valueGrads[i] = values[i].ulike().assign(0);
            }
        }
    }

    public int length() {
        return length;
    }

    public int numLayers() {
        return keys.length;
    }

    public INDArray keys(int layer) {
        return keys[checkLayer(layer)];
    }

    public INDArray values(int layer) {
        return values[checkLayer(layer)];
    }

    public boolean requiresGrad() {
        return keyGrads.length > 0 && keyGrads[0] != null;
    }

    /** dL/dkeys of {@code layer}, accumulated by attention's backward. */
    public INDArray keyGrad(int layer) {
        return keyGrads[checkLayer(layer)];
    }

    /** dL/dvalues of {@code layer}, accumulated by attention's backward. */
    public INDArray valueGrad(int layer) {
        return valueGrads[checkLayer(layer)];
    }

    private int checkLayer(int layer) {
        if (layer < 0 || layer >= keys.length) {
            throw new IllegalArgumentException("layer " + layer + " out of range: past keys/values cover layers 0.." + (keys.length - 1));
        }
        return layer;
    }
}
