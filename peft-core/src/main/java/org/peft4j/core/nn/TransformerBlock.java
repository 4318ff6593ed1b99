package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A pre-LN transformer block: h = x + attn(norm1(x)); y = h + mlp(norm2(h)). Child names follow the
 * architecture ({@code ln_1, attn, ln_2, mlp} in GPT-2; {@code input_layernorm, self_attn,
 * post_attention_layernorm, mlp} in LLaMA). Attention and MLP apply their own output dropout.
 */
public final class TransformerBlock extends Layer {
    private final Slot<Layer> norm1;
    private final Slot<Layer> attention;
    private final Slot<Layer> norm2;
    private final Slot<Layer> mlp;

    /** Names of the four children, in forward order. */
    public record Names(String norm1, String attention, String norm2, String mlp) {
        public static final Names GPT2 = new Names("ln_1", "attn", "ln_2", "mlp");
        public static final Names LLAMA = new Names("input_layernorm", "self_attn", "post_attention_layernorm", "mlp");
    }

    public TransformerBlock(Names names, Layer norm1, Layer attention, Layer norm2, Layer mlp) {
        this.norm1 = child(names.norm1(), Layer.class, norm1);
        this.attention = child(names.attention(), Layer.class, attention);
        this.norm2 = child(names.norm2(), Layer.class, norm2);
        this.mlp = child(names.mlp(), Layer.class, mlp);
    }

    /** The attention module now in its slot (possibly wrapped by a method). */
    public Layer attention() {
        return attention.get();
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray a = attention.get().forward(norm1.get().forward(x, tape), tape);
        INDArray h = x.add(a);                                             // residual
        INDArray m = mlp.get().forward(norm2.get().forward(h, tape), tape);
        return h.add(m);                     // residual; h itself is saved by norm2, so not in place
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        INDArray dh = norm2.get().backward(mlp.get().backward(gradOutput, tape), tape).addi(gradOutput);
        return norm1.get().backward(attention.get().backward(dh, tape), tape).addi(dh);
    }
}
