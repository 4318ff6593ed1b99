package org.peft4j.core.model.bert;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Supplies the value of each param while a BERT model is built, by the param's HF path relative to
 * the module being built ({@code embeddings.word_embeddings.weight}, {@code classifier.bias}): drawn as
 * HF initialises it, or read from a checkpoint. The returned array belongs to the new param.
 */
interface BertParamSource {
    /** How HF's {@code BertPreTrainedModel._init_weights} initialises a param. */
    enum Kind {
        /** N(0, initializer_range²): Linear and Embedding weights. */
        NORMAL,
        /** N(0, initializer_range²) with the pad_token_id row set to 0: the word embeddings. */
        NORMAL_PAD_ROW_ZERO,
        /** 0: biases, LayerNorm biases. */
        ZEROS,
        /** 1: LayerNorm weights. */
        ONES
    }

    /** The value of the param at {@code path}, of exactly {@code shape}. */
    INDArray get(String path, Kind kind, long... shape);
}
