package org.peft4j.lora.adalora;

import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.param.Param;
import org.peft4j.lora.LoraAdapterHost;

/** An AdaLoRA wrapper: the SVD-form triplets (P = B, λ = E, Q = A) of each adapter it holds and which of them are kept. */
public interface AdaLoraLayer extends LoraAdapterHost {
    /** Q = A of {@code adapter}: {@code [r, in]}, r the triplets held. */
    Param loraA(String adapter);

    /** λ = E of {@code adapter}: {@code [r, 1]}. */
    Param loraE(String adapter);

    /** P = B of {@code adapter}: {@code [out, r]}. */
    Param loraB(String adapter);

    /** init_r of {@code adapter} (HF's {@code ranknum}, the denominator of the scaling). */
    int initR(String adapter);

    /** The scaling s of {@code adapter}: lora_alpha/(init_r + 1e-5). */
    double scaling(String adapter);

    /** Which of the init_r triplets the rows of A hold: row j is triplet {@code heldTriplets[j]}. */
    int[] heldTriplets(String adapter);

    /** Which of the init_r triplets are kept (unmasked): the module's rank_pattern entry. */
    List<Boolean> keptTriplets(String adapter);

    /** The number of kept triplets: the module's current rank. */
    int rank(String adapter);

    /** Keeps the held triplets whose flag is true and masks the others (their λ set to 0). */
    void keep(String adapter, boolean[] keepHeld);

    /** ΔW of {@code adapter} in the base weight's own layout, as a new array. */
    INDArray deltaWeight(String adapter);
}
