package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/** A module that maps token ids {@code [n]} to vectors {@code [n, dim]}; the input of every model. */
public abstract class EmbeddingLayer extends Module {
    /** Number of rows of the table (the vocabulary size). */
    public abstract int numEmbeddings();

    /** Width of each vector. */
    public abstract int embeddingDim();

    /** Returns the vectors of {@code ids} ({@code [ids.length, dim]}). */
    public abstract INDArray forward(int[] ids, Tape tape);

    /** Adds dL/dθ for dL/dy ({@code [n, dim]}); ids have no gradient. */
    public abstract void backward(INDArray gradOutput, Tape tape);
}
