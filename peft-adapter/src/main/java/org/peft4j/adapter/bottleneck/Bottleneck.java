package org.peft4j.adapter.bottleneck;

import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.nn.ActivationLayer;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;

/**
 * One bottleneck adapter: a(z) = s·up(f(down(z))), down {@code [b, in]} and up {@code [out, b]} stored as
 * torch Linears ({@code [out, in]}) with biases. Its params are owned by {@link BottleneckMethod#ID} and
 * start frozen.
 *
 * @param name       the adapter's name
 * @param down       the down-projection
 * @param activation f
 * @param up         the up-projection
 * @param scaling    s
 */
record Bottleneck(String name, Linear down, ActivationLayer activation, Linear up, double scaling) {
    /** The standard deviation of the normal initialisation (Houlsby et al., AdapterHub). */
    static final double INIT_STD = 1e-2;

    /** A new adapter from {@code in} to {@code out} features through {@code size}, initialised as {@code init} says. */
    static Bottleneck create(String name, int in, int size, int out, Activation f, double scaling, BottleneckInit init, DataType type,
            SplittableRandom rng) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray downW = Init.normal(type, INIT_STD, rng, size, in);
            INDArray upW = init == BottleneckInit.BERT ? Init.normal(type, INIT_STD, rng, out, size) : Init.constant(type, 0.0, out, size);
            Linear down = new Linear(param("weight", downW), param("bias", Init.constant(type, 0.0, size)), WeightLayout.OUT_IN);
            Linear up = new Linear(param("weight", upW), param("bias", Init.constant(type, 0.0, out)), WeightLayout.OUT_IN);
            return new Bottleneck(name, down, new ActivationLayer(f), up, scaling);
        }
    }

    private static Param param(String name, INDArray value) {
        return Param.owned(name, BottleneckMethod.ID, value, false);
    }

    /** s·up(f(down(z))) {@code [n, out]} for z {@code [n, in]}; saves what backward needs on the tape. */
    INDArray forward(INDArray z, Tape tape) {
        return up.forward(activation.forward(down.forward(z, tape), tape), tape).muli(scaling);
    }

    /** dL/dz for dL/da; adds the gradients of the trainable params. */
    INDArray backward(INDArray gradOutput, Tape tape) {
        return down.backward(activation.backward(up.backward(gradOutput.mul(scaling), tape), tape), tape);
    }

    /** Frees the params. */
    void close() {
        down.weight().close();
        down.bias().close();
        up.weight().close();
        up.bias().close();
    }
}
