package org.peft4j.core.testing;

import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;

/** Small models and batches for tests. */
public final class TinyModels {
    private TinyModels() {
    }

    /** vocab 13, 2 layers, hidden 8, 2 heads, MLP 16, no dropout. */
    public static Gpt2Config tinyGpt2() {
        return Gpt2Config.builder().vocabSize(13).nPositions(16).nEmbd(8).nLayer(2).nHead(2).nInner(16)
                .activation(Activation.GELU_TANH).dropout(0.0).build();
    }

    public static Gpt2Model gpt2(Gpt2Config config, long seed, DataType type, KernelChoice kernels) {
        return Gpt2Model.random(config, seed, type, kernels);
    }

    /** Two sequences of 5 tokens; the second right-padded by one, with its padding ignored in the labels. */
    public static TokenBatch paddedBatch() {
        int[] ids = {1, 4, 7, 2, 9, 3, 3, 8, 12, 0};
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
        int[] labels = {1, 4, 7, 2, 9, 3, 3, 8, 12, TokenBatch.IGNORE_INDEX};
        return new TokenBatch(2, 5, ids, mask, labels);
    }
}
