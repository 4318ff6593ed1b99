package org.peft4j.lora;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.param.Param;

/** A LoRA wrapper ({@link LoraLinear} or {@link LoraEmbedding}): the matrices, rank and scaling of each adapter it holds. */
public interface LoraLayer extends LoraAdapterHost {
    /** The rank r of {@code adapter}. */
    default int rank(String adapter) {
        return adapters().get(adapter).rank();
    }

    /** The scaling s of {@code adapter}: alpha/r, or alpha/√r with rsLoRA. */
    default double scaling(String adapter) {
        return adapters().get(adapter).scaling();
    }

    /** A of {@code adapter}: {@code [r, in]} ({@code [r, numEmbeddings]} for an embedding). */
    default Param loraA(String adapter) {
        return adapters().get(adapter).a();
    }

    /** B of {@code adapter}: {@code [out, r]} ({@code [dim, r]} for an embedding). */
    default Param loraB(String adapter) {
        return adapters().get(adapter).b();
    }

    /** DoRA's magnitude of {@code adapter}, or null without DoRA. */
    default Param magnitude(String adapter) {
        return adapters().get(adapter).magnitude();
    }

    /** DoRA adapters are left out of mixed batches, as in HF PEFT. */
    @Override
    default boolean excludedFromMixedBatches(String adapter) {
        return adapters().isDora(adapter);
    }

    @Override
    default String mixedBatchLimitation() {
        return "DoRA adapters cannot be used in mixed batches (as in HF PEFT)";
    }

    /** ΔW of {@code adapter} in the base weight's own layout, as a new array. */
    INDArray deltaWeight(String adapter);
}
