package org.peft4j.core.nn;

import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.param.Param;

/**
 * A lookup table {@code weight [numEmbeddings, dim]}. Backward adds dL/dy into the rows that were used
 * (a scatter-add), never a dense one-hot product.
 */
public final class Embedding extends EmbeddingLayer {
    private final Param weight;

    private record Saved(int[] ids) {
    }

    public Embedding(Param weight) {
        if (weight.value().rank() != 2) {
            throw new IllegalArgumentException("Embedding weight must be [num_embeddings, dim], got "
                    + java.util.Arrays.toString(weight.shape()));
        }
        this.weight = register(weight);
    }

    /** A frozen table with values ~ N(0, std²). */
    public static Embedding normal(int numEmbeddings, int dim, double std, DataType type, SplittableRandom rng) {
        return new Embedding(Param.frozen("weight", Init.normal(type, std, rng, numEmbeddings, dim)));
    }

    public Param weight() {
        return weight;
    }

    @Override
    public int numEmbeddings() {
        return (int) weight.shape()[0];
    }

    @Override
    public int embeddingDim() {
        return (int) weight.shape()[1];
    }

    @Override
    public INDArray forward(int[] ids, Tape tape) {
        INDArray y = tape.kernels().gatherRows(weight.value(), ids);    // [n, dim]
        tape.push(this, new Saved(ids));
        return y;
    }

    @Override
    public void backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        if (weight.isTrainable()) {
            tape.kernels().scatterAddRows(weight.grad(), s.ids(), gradOutput);
        }
    }

    @Override
    public String describe() {
        return "Embedding(" + numEmbeddings() + ", " + embeddingDim() + ")";
    }
}
