package org.peft4j.core.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.kernel.Kernels.CrossEntropyOutput;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.train.Loss;
import org.peft4j.core.train.TrainableTask;

/**
 * What every task with a cross-entropy loss over logits shares: the mean loss over the targets that
 * are not -100, dL/dlogits saved on the tape in forward, and its scaled backward into the model.
 *
 * @param <M> the model type
 */
public abstract class CrossEntropyTask<M extends PretrainedModel> implements TrainableTask<TokenBatch> {
    private final M model;

    private record Saved(INDArray gradLogits) {
    }

    protected CrossEntropyTask(M model) {
        this.model = model;
    }

    public final M model() {
        return model;
    }

    @Override
    public final Module module() {
        return model.module();
    }

    @Override
    public final Kernels kernels() {
        return model.kernels();
    }

    /**
     * The mean cross-entropy of {@code logits} {@code [n, classes]} against {@code targets} {@code [n]};
     * when the tape records, saves dL/dlogits for {@link #backward}.
     */
    protected final Loss score(TokenBatch batch, INDArray logits, int[] targets, Tape tape, INDArray outputs) {
        int counted = 0;
        for (int t : targets) {
            counted += t == TokenBatch.IGNORE_INDEX ? 0 : 1;
        }
        boolean withGrad = tape.isRecording();
        CrossEntropyOutput ce = model.kernels().crossEntropy(logits, targets, TokenBatch.IGNORE_INDEX, 1.0 / Math.max(1, counted), withGrad);
        if (withGrad) {
            tape.push(this, new Saved(ce.gradLogits()));
        }
        return new Loss(ce.count() == 0 ? 0.0 : ce.lossSum() / ce.count(), ce.count(), batch.realTokens(), outputs);
    }

    @Override
    public final void backward(Tape tape, double scale) {
        INDArray grad = tape.pop(this, Saved.class).gradLogits();
        backwardLogits(scale == 1.0 ? grad : grad.muli(scale), tape);
    }

    /** Backpropagates dL/dlogits through the model. */
    protected abstract void backwardLogits(INDArray gradLogits, Tape tape);
}
