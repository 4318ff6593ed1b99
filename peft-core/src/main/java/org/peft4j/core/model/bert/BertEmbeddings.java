package org.peft4j.core.model.bert;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.nn.Dropout;
import org.peft4j.core.nn.EmbeddingLayer;
import org.peft4j.core.nn.InputHooks;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.LayerNorm;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;

/**
 * HF's {@code BertEmbeddings}: x = LayerNorm(word(ids) + token_type(typeIds) + position(past + t)), then
 * dropout; children {@code word_embeddings}, {@code position_embeddings}, {@code token_type_embeddings},
 * {@code LayerNorm}. Input hooks run on the word embeddings before the type and position embeddings are
 * added (HF PEFT's prompt methods pass {@code inputs_embeds}, which get both); rows a hook inserts get
 * token type 0, as HF PEFT pads {@code token_type_ids} with zeros.
 */
public final class BertEmbeddings extends Module {
    private final Slot<EmbeddingLayer> wordEmbeddings;
    private final Slot<EmbeddingLayer> positionEmbeddings;
    private final Slot<EmbeddingLayer> tokenTypeEmbeddings;
    private final Slot<Layer> layerNorm;
    private final Dropout dropout;

    public BertEmbeddings(EmbeddingLayer word, EmbeddingLayer position, EmbeddingLayer tokenType, LayerNorm layerNorm, double dropout) {
        if (word.embeddingDim() != position.embeddingDim() || word.embeddingDim() != tokenType.embeddingDim()) {
            throw new IllegalArgumentException("word, position and token type embeddings must have one width, got " + word.embeddingDim()
                    + ", " + position.embeddingDim() + ", " + tokenType.embeddingDim());
        }
        this.wordEmbeddings = child("word_embeddings", EmbeddingLayer.class, word);
        this.positionEmbeddings = child("position_embeddings", EmbeddingLayer.class, position);
        this.tokenTypeEmbeddings = child("token_type_embeddings", EmbeddingLayer.class, tokenType);
        this.layerNorm = child("LayerNorm", Layer.class, layerNorm);
        this.dropout = new Dropout(dropout);
    }

    /** The word embedding table now in its slot. */
    public EmbeddingLayer wordEmbeddings() {
        return wordEmbeddings.get();
    }

    /**
     * Returns the embeddings {@code [batch·seq', hidden]} of the batch, after the hooks have run (seq' ≥
     * seqLen when they prepend rows). The tape's context must be the batch's, before the hooks.
     */
    public INDArray forward(TokenBatch batch, InputHooks hooks, Tape tape) {
        INDArray x = hooks.forward(wordEmbeddings.get().forward(batch.ids(), tape), tape);   // [B·S, d]
        SequenceContext ctx = tape.context();
        INDArray types = tokenTypeEmbeddings.get().forward(typeIds(batch, ctx), tape);
        INDArray positions = positionEmbeddings.get().forward(positionIds(ctx), tape);
        x = x.addi(types).addi(positions);                                          // HF: inputs_embeds + token_type, += position
        return dropout.forward(layerNorm.get().forward(x, tape), tape);
    }

    /** Adds the gradients of the tables, the norm and the hooks for dL/d(embeddings). */
    public void backward(INDArray gradOutput, InputHooks hooks, Tape tape) {
        INDArray g = layerNorm.get().backward(dropout.backward(gradOutput, tape), tape);
        positionEmbeddings.get().backward(g, tape);
        tokenTypeEmbeddings.get().backward(g, tape);
        wordEmbeddings.get().backward(hooks.backward(g, tape), tape);
    }

    /** Position ids past + s for every row s of every sequence, as HF's BertEmbeddings with past_key_values_length. */
    private int[] positionIds(SequenceContext ctx) {
        int past = ctx.pastLength();
        int max = positionEmbeddings.get().numEmbeddings();
        if (past + ctx.seqLen() > max) {
            throw new IllegalArgumentException("sequence of " + ctx.seqLen() + " tokens after " + past
                    + " past positions exceeds max_position_embeddings = " + max);
        }
        int[] ids = new int[ctx.rows()];
        for (int b = 0; b < ctx.batch(); b++) {
            for (int s = 0; s < ctx.seqLen(); s++) {
                ids[b * ctx.seqLen() + s] = past + s;
            }
        }
        return ids;
    }

    /** The batch's token type ids (0 where null) at the rows the context gives the tokens (rows hooks inserted get 0). */
    private int[] typeIds(TokenBatch batch, SequenceContext ctx) {
        int t = batch.seqLen();
        int seq = ctx.seqLen();
        int[] ids = new int[ctx.rows()];
        if (batch.typeIds() == null) {
            return ids;
        }
        int types = tokenTypeEmbeddings.get().numEmbeddings();
        int[] rows = ctx.inputRows();
        for (int b = 0; b < batch.batch(); b++) {
            for (int s = 0; s < t; s++) {
                int id = batch.typeIds()[b * t + s];
                if (id >= types) {
                    throw new IllegalArgumentException("token type id " + id + " at sequence " + b + ", position " + s
                            + " is outside type_vocab_size = " + types);
                }
                ids[b * seq + rows[b * t + s]] = id;
            }
        }
        return ids;
    }
}
