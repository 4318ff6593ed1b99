package org.peft4j.core.model.bert;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;

/**
 * One post-LN BERT layer (HF's {@code BertLayer}): a = attention(x) = LayerNorm(x + attn(x));
 * y = output(intermediate(a), a) = LayerNorm(a + dense(act(dense(a)))). Children {@code attention},
 * {@code intermediate}, {@code output}. Unlike the pre-LN {@link org.peft4j.core.nn.TransformerBlock},
 * the norms sit after each residual sum.
 */
public final class BertLayer extends Layer {
    private final Slot<Layer> attention;
    private final Slot<Layer> intermediate;
    private final Slot<ResidualOutput> output;

    public BertLayer(Layer attention, Layer intermediate, BertOutput output) {
        this.attention = child("attention", Layer.class, attention);
        this.intermediate = child("intermediate", Layer.class, intermediate);
        this.output = child("output", ResidualOutput.class, output);
    }

    /** The attention now in its slot (possibly wrapped by a method). */
    public Layer attention() {
        return attention.get();
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray a = attention.get().forward(x, tape);                             // [n, hidden]
        INDArray h = intermediate.get().forward(a, tape);                          // [n, intermediate]
        return output.get().forward(h, a, tape);                                   // [n, hidden]
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        ResidualOutput.Gradients g = output.get().backward(gradOutput, tape);
        INDArray da = intermediate.get().backward(g.dHidden(), tape).addi(g.dResidual());
        return attention.get().backward(da, tape);
    }
}
