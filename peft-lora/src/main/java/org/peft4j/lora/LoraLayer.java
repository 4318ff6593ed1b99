package org.peft4j.lora;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.TunerLayer;

/** A LoRA wrapper ({@link LoraLinear} or {@link LoraEmbedding}): the matrices, rank and scaling of each adapter it holds. */
public interface LoraLayer extends TunerLayer {
    /** The rank r of {@code adapter}. */
    int rank(String adapter);

    /** The scaling s of {@code adapter}: alpha/r, or alpha/√r with rsLoRA. */
    double scaling(String adapter);

    /** A of {@code adapter}: {@code [r, in]} ({@code [r, numEmbeddings]} for an embedding). */
    Param loraA(String adapter);

    /** B of {@code adapter}: {@code [out, r]} ({@code [dim, r]} for an embedding). */
    Param loraB(String adapter);

    /** DoRA's magnitude of {@code adapter}, or null without DoRA. */
    Param magnitude(String adapter);

    /** ΔW of {@code adapter} in the base weight's own layout, as a new array. */
    INDArray deltaWeight(String adapter);
}
