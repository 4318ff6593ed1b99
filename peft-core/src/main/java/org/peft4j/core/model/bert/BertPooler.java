package org.peft4j.core.model.bert;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.nn.ActivationLayer;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;

/**
 * HF's {@code BertPooler}: pooled = tanh(dense(h[:, 0])), the first row of each sequence of the hidden
 * states {@code [batch·seq, hidden]} → {@code [batch, hidden]}; child {@code dense}.
 */
public final class BertPooler extends Layer {
    private final Slot<Layer> dense;
    private final ActivationLayer tanh = new ActivationLayer(Activation.TANH);

    private record Saved(int[] firstRows, long rows) {
    }

    public BertPooler(Layer dense) {
        this.dense = child("dense", Layer.class, dense);
    }

    @Override
    public INDArray forward(INDArray hidden, Tape tape) {
        SequenceContext ctx = tape.context();
        if (hidden.rows() != ctx.rows()) {
            throw new IllegalArgumentException("pooler expects the hidden states of the pass, [" + ctx.rows() + ", hidden], got "
                    + java.util.Arrays.toString(hidden.shape()));
        }
        int[] firstRows = new int[ctx.batch()];
        for (int b = 0; b < firstRows.length; b++) {
            firstRows[b] = b * ctx.seqLen();
        }
        INDArray first = tape.kernels().gatherRows(hidden, firstRows);              // [B, hidden]
        INDArray pooled = tanh.forward(dense.get().forward(first, tape), tape);
        tape.push(this, new Saved(firstRows, hidden.rows()));
        return pooled;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        INDArray dFirst = dense.get().backward(tanh.backward(gradOutput, tape), tape);   // [B, hidden]
        INDArray dHidden = Nd4j.zeros(dFirst.dataType(), s.rows(), dFirst.columns());
        tape.kernels().scatterAddRows(dHidden, s.firstRows(), dFirst);
        return dHidden;
    }
}
