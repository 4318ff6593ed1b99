package org.peft4j.core.testing;

import org.peft4j.core.kernel.Activation;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.llama.LlamaConfig;

/** Small LLaMA-style and GPT-2 configs for tests of the decoders and of generation. */
public final class TinyDecoders {
    private TinyDecoders() {
    }

    /**
     * vocab 13, 2 layers, hidden 12, 4 heads of 4 sharing 2 kv heads (q is 16 wide, wider than hidden), MLP 20,
     * rope_theta 500, untied, q/k/v/o and MLP biases.
     */
    public static LlamaConfig.Builder tinyLlama() {
        return LlamaConfig.builder().vocabSize(13).hiddenSize(12).intermediateSize(20).numHiddenLayers(2).numAttentionHeads(4)
                .numKeyValueHeads(2).headDim(4).maxPositionEmbeddings(64).rmsNormEps(1e-6).ropeTheta(500).attentionBias(true).mlpBias(true);
    }

    /** vocab 13, 2 layers, hidden 8, 2 heads, MLP 16, 64 positions, no dropout. */
    public static Gpt2Config tinyGpt2() {
        return Gpt2Config.builder().vocabSize(13).nPositions(64).nEmbd(8).nLayer(2).nHead(2).nInner(16).activation(Activation.GELU_TANH)
                .dropout(0.0).build();
    }
}
