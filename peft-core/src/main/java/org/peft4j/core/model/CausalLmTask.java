package org.peft4j.core.model;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.train.Loss;
import org.peft4j.core.train.MetricsAccumulator;

/**
 * Next-token prediction with a {@link CausalLm}, as HF's {@code *ForCausalLM} computes it: the logits
 * at position t are scored against the label at t+1 (labels are given aligned with the ids and shifted
 * here), labels of -100 count nothing, and the loss is the mean over counted positions. Positions that
 * hooks prepend (virtual tokens) have no label.
 */
public final class CausalLmTask extends CrossEntropyTask<CausalLm> {
    public CausalLmTask(CausalLm model) {
        super(model);
    }

    @Override
    public Loss forward(TokenBatch batch, Tape tape) {
        if (batch.labels() == null || batch.labels().length != batch.ids().length) {
            throw new IllegalArgumentException("causal LM training needs labels aligned with the ids (" + batch.ids().length + " entries)");
        }
        INDArray logits = model().forward(batch, tape);                            // [B·S, vocab]
        int seq = (int) (logits.rows() / batch.batch());
        return score(batch, logits, shiftedTargets(batch, seq), tape, null);
    }

    @Override
    protected void backwardLogits(INDArray gradLogits, Tape tape) {
        model().backward(gradLogits, tape);
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
}
