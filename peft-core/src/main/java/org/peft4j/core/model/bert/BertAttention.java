package org.peft4j.core.model.bert;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;

/**
 * Self-attention with its post-LN residual output (HF's {@code BertAttention}):
 * y = output(self(x), x) = LayerNorm(dropout(dense(self(x))) + x), children {@code self} and {@code output}.
 */
public final class BertAttention extends Layer {
    private final Slot<Layer> self;
    private final Slot<ResidualOutput> output;

    public BertAttention(Layer self, BertOutput output) {
        this.self = child("self", Layer.class, self);
        this.output = child("output", ResidualOutput.class, output);
    }

    /** The self-attention now in its slot (possibly wrapped by a method). */
    public Layer self() {
        return self.get();
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray context = self.get().forward(x, tape);                           // [n, hidden]
        return output.get().forward(context, x, tape);
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        ResidualOutput.Gradients g = output.get().backward(gradOutput, tape);
        return self.get().backward(g.dHidden(), tape).addi(g.dResidual());
    }
}
