package org.peft4j.core.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels.NormOutput;
import org.peft4j.core.param.Param;

/** y = x/√(mean(x²) + eps)·weight over the last axis of x {@code [n, dim]} (LLaMA's RMSNorm). */
public final class RmsNorm extends Layer {
    private final Param weight;
    private final double eps;

    private record Saved(INDArray x, INDArray rstd) {
    }

    public RmsNorm(Param weight, double eps) {
        if (!(eps > 0)) {
            throw new IllegalArgumentException("RMSNorm eps must be > 0, got " + eps);
        }
        this.weight = register(weight);
        this.eps = eps;
    }

    /** A frozen RMSNorm with weight 1. */
    public static RmsNorm create(int dim, double eps, DataType type) {
        return new RmsNorm(Param.frozen("weight", Init.constant(type, 1.0, dim)), eps);
    }

    public Param weight() {
        return weight;
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        NormOutput out = tape.kernels().rmsNorm(x, weight.value(), eps);
        tape.push(this, new Saved(x, out.rstd()));
        return out.y();
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        return tape.kernels().rmsNormBackward(gradOutput, s.x(), weight.value(), s.rstd(), weight.isTrainable() ? weight.grad() : null);
    }

    @Override
    public String describe() {
        return "RMSNorm(" + weight.value().length() + ", eps=" + eps + ")";
    }
}
