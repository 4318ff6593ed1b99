package org.peft4j.core.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.param.Param;

/**
 * A {@link Layer} that computes y = x·Wᵀ + b, whatever the form its weight is kept in: a {@link Linear}
 * holds W as a param, a quantized layer holds it packed and dequantizes it when it runs. Wrappers that
 * add to a linear layer's output (LoRA, DoRA) take any {@code LinearLike}, so they work over a quantized
 * base unchanged. Implementations must extend {@link Layer}.
 */
public interface LinearLike {
    /** Input features: x is {@code [n, in]}. */
    int inFeatures();

    /** Output features: y is {@code [n, out]}. */
    int outFeatures();

    /** The layout {@link #denseWeight()} returns and {@link #setDenseWeight} expects. */
    WeightLayout layout();

    /** The type of the dense weight (FLOAT, or DOUBLE in gradient checks); adapters over this layer use it too. */
    DataType dataType();

    /** The bias param, or null. */
    Param bias();

    /**
     * The weight as a dense array in {@link #layout()}. For a {@link Linear} it is the weight param's own
     * value, so writes change the layer ({@link #denseWeightIsLive()} is true); for other layers it is a new
     * array the caller owns.
     */
    INDArray denseWeight();

    /** True if {@link #denseWeight()} returns the layer's own storage, so writes into it take effect. */
    boolean denseWeightIsLive();

    /**
     * Replaces the weight by {@code w} (in {@link #layout()}, the shape of {@link #denseWeight()}): a copy for a
     * {@link Linear}; a quantized layer quantizes it again, which loses precision.
     */
    void setDenseWeight(INDArray w);

    /** This layer as the {@link Layer} it is. */
    default Layer asLayer() {
        return (Layer) this;
    }
}
