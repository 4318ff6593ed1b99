package org.peft4j.core.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels.NormOutput;
import org.peft4j.core.param.Param;

/** y = (x − mean)/√(var + eps)·weight + bias over the last axis of x {@code [n, dim]}. */
public final class LayerNorm extends Layer {
    private final Param weight;
    private final Param bias;
    private final double eps;

    private record Saved(INDArray x, INDArray mean, INDArray rstd) {
    }

    public LayerNorm(Param weight, Param bias, double eps) {
        if (weight.value().length() != bias.value().length()) {
            throw new IllegalArgumentException("LayerNorm weight and bias must have the same size, got "
                    + weight.value().length() + " and " + bias.value().length());
        }
        if (!(eps > 0)) {
            throw new IllegalArgumentException("LayerNorm eps must be > 0, got " + eps);
        }
        this.weight = register(weight);
        this.bias = register(bias);
        this.eps = eps;
    }

    /** A frozen LayerNorm with weight 1 and bias 0. */
    public static LayerNorm create(int dim, double eps, DataType type) {
        return new LayerNorm(Param.frozen("weight", Init.constant(type, 1.0, dim)), Param.frozen("bias", Init.constant(type, 0.0, dim)), eps);
    }

    public Param weight() {
        return weight;
    }

    public Param bias() {
        return bias;
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        NormOutput out = tape.kernels().layerNorm(x, weight.value(), bias.value(), eps);
        tape.push(this, new Saved(x, out.mean(), out.rstd()));
        return out.y();
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        return tape.kernels().layerNormBackward(gradOutput, s.x(), weight.value(), s.mean(), s.rstd(),
                weight.isTrainable() ? weight.grad() : null, bias.isTrainable() ? bias.grad() : null);
    }

    @Override
    public String describe() {
        return "LayerNorm(" + weight.value().length() + ", eps=" + eps + ")";
    }
}
