package org.peft4j.core.model;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.train.Loss;
import org.peft4j.core.train.MetricsAccumulator;

/**
 * Next-token prediction with a {@link CausalLm}, as HF's {@code *ForCausalLM} computes it: the logits
 * at position t are scored against the label at t+1 (labels are given aligned with the ids and shifted
 * here), labels of -100 count nothing, and the loss is the mean over counted positions. Positions that
 * hooks insert (virtual tokens, prepended or among the tokens) have no label: the row before each token is
 * scored against that token's label, whatever row precedes it.
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
        SequenceContext ctx = tape.context();
        if (ctx.batch() != batch.batch() || ctx.seqLen() != seq || ctx.inputLength() != batch.seqLen()) {
            throw new IllegalStateException("the tape's context (" + ctx.batch() + " x " + ctx.seqLen() + " rows from " + ctx.inputLength()
                    + " tokens) is not this pass's (" + batch.batch() + " x " + seq + " rows from " + batch.seqLen() + " tokens)");
        }
        return score(batch, logits, shiftedTargets(batch, seq, ctx.inputRows()), tape, null);
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
     * Target of row (b, s) of a hidden sequence of length seq whose token t sits at row {@code inputRows[b·T + t]}:
     * the label of the token at row s+1, or ignore when row s+1 is no token (a virtual token, or past the end).
     */
    static int[] shiftedTargets(TokenBatch batch, int seq, int[] inputRows) {
        int t = batch.seqLen();
        int[] labelAtRow = new int[batch.batch() * seq];
        java.util.Arrays.fill(labelAtRow, TokenBatch.IGNORE_INDEX);
        for (int b = 0; b < batch.batch(); b++) {
            for (int i = 0; i < t; i++) {
                labelAtRow[b * seq + inputRows[b * t + i]] = batch.labels()[b * t + i];
            }
        }
        int[] targets = new int[batch.batch() * seq];
        for (int b = 0; b < batch.batch(); b++) {
            for (int s = 0; s < seq; s++) {
                targets[b * seq + s] = s + 1 < seq ? labelAtRow[b * seq + s + 1] : TokenBatch.IGNORE_INDEX;
            }
        }
        return targets;
    }
}
