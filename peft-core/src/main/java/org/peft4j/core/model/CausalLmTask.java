package org.peft4j.core.model;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.kernel.Kernels.CrossEntropyOutput;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.train.Loss;
import org.peft4j.core.train.MetricsAccumulator;
import org.peft4j.core.train.TrainableTask;

/**
 * Next-token prediction with a {@link CausalLm}, as HF's {@code *ForCausalLM} computes it: the logits
 * at position t are scored against the label at t+1 (labels are given aligned with the ids and shifted
 * here), labels of -100 count nothing, and the loss is the mean over counted positions. Positions that
 * hooks prepend (virtual tokens) have no label.
 */
public final class CausalLmTask implements TrainableTask<TokenBatch> {
    private final CausalLm model;

    private record Saved(INDArray gradLogits) {
    }

    public CausalLmTask(CausalLm model) {
        this.model = model;
    }

    public CausalLm model() {
        return model;
    }

    @Override
    public Module module() {
        return model.module();
    }

    @Override
    public Kernels kernels() {
        return model.kernels();
    }

    @Override
    public Loss forward(TokenBatch batch, Tape tape) {
        if (batch.labels() == null || batch.labels().length != batch.ids().length) {
            throw new IllegalArgumentException("causal LM training needs labels aligned with the ids (" + batch.ids().length + " entries)");
        }
        INDArray logits = model.forward(batch, tape);                              // [B·S, vocab]
        int seq = (int) (logits.rows() / batch.batch());
        int[] targets = shiftedTargets(batch, seq);
        boolean withGrad = tape.isRecording();
        CrossEntropyOutput ce = model.kernels().crossEntropy(logits, targets, TokenBatch.IGNORE_INDEX,
                1.0 / Math.max(1, countTargets(targets)), withGrad);
        if (withGrad) {
            tape.push(this, new Saved(ce.gradLogits()));
        }
        double mean = ce.count() == 0 ? 0.0 : ce.lossSum() / ce.count();
        return new Loss(mean, ce.count(), batch.realTokens());
    }

    @Override
    public void backward(Tape tape, double scale) {
        INDArray grad = tape.pop(this, Saved.class).gradLogits();
        model.backward(scale == 1.0 ? grad : grad.muli(scale), tape);
    }

    /** Perplexity: e to the mean loss. */
    @Override
    public MetricsAccumulator<TokenBatch> newMetrics() {
        return meanLoss -> Map.of("perplexity", Math.exp(meanLoss));
    }

    /**
     * Target of row (b, s) of a hidden sequence of length seq whose last T rows are the batch's tokens:
     * the label of token s+1 (in batch coordinates s+1−(seq−T)), or ignore when there is none.
     */
    static int[] shiftedTargets(TokenBatch batch, int seq) {
        int t = batch.seqLen();
        int offset = seq - t;
        int[] targets = new int[batch.batch() * seq];
        for (int b = 0; b < batch.batch(); b++) {
            for (int s = 0; s < seq; s++) {
                int labelPos = s + 1 - offset;
                targets[b * seq + s] = labelPos >= 0 && labelPos < t ? batch.labels()[b * t + labelPos] : TokenBatch.IGNORE_INDEX;
            }
        }
        return targets;
    }

    private static int countTargets(int[] targets) {
        int n = 0;
        for (int t : targets) {
            n += t == TokenBatch.IGNORE_INDEX ? 0 : 1;
        }
        return n;
    }
}
