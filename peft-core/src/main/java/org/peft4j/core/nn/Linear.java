package org.peft4j.core.nn;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.param.Param;

/**
 * y = x·Wᵀ + b. Input {@code [n, in]}, output {@code [n, out]}. The weight keeps the layout of the
 * checkpoint it came from: {@code [out, in]} as {@code torch.nn.Linear} stores it
 * ({@link WeightLayout#OUT_IN}), or {@code [in, out]} as GPT-2's {@code Conv1D} does
 * ({@link WeightLayout#IN_OUT}, HF PEFT's {@code fan_in_fan_out}). A frozen weight gets no gradient
 * and costs no weight-gradient GEMM in backward.
 */
public final class Linear extends Layer implements LinearLike {
    /** How the weight matrix is stored. */
    public enum WeightLayout {
        /** {@code [out, in]}: torch.nn.Linear. */
        OUT_IN,
        /** {@code [in, out]}: GPT-2's Conv1D (fan_in_fan_out). */
        IN_OUT
    }

    private final int inFeatures;
    private final int outFeatures;
    private final WeightLayout layout;
    private final Param weight;
    private final Param bias;

    private record Saved(INDArray x) {
    }

    /**
     * Wraps existing params. {@code bias} may be null; the weight's shape must match {@code layout}.
     */
    public Linear(Param weight, Param bias, WeightLayout layout) {
        if (weight.value().rank() != 2) {
            throw new IllegalArgumentException("Linear weight must be rank 2, got " + Arrays.toString(weight.shape()));
        }
        this.layout = layout;
        this.inFeatures = (int) (layout == WeightLayout.OUT_IN ? weight.shape()[1] : weight.shape()[0]);
        this.outFeatures = (int) (layout == WeightLayout.OUT_IN ? weight.shape()[0] : weight.shape()[1]);
        if (bias != null && (bias.value().length() != outFeatures)) {
            throw new IllegalArgumentException("Linear bias must have " + outFeatures + " elements, got " + Arrays.toString(bias.shape()));
        }
        this.weight = register(weight);
        this.bias = bias == null ? null : register(bias);
    }

    /** A frozen layer with weight ~ N(0, std²) and zero bias (GPT-2's initialisation). */
    public static Linear normal(int in, int out, boolean withBias, WeightLayout layout, double std, DataType type, SplittableRandom rng) {
        long[] shape = layout == WeightLayout.OUT_IN ? new long[] {out, in} : new long[] {in, out};
        Param w = Param.frozen("weight", Init.normal(type, std, rng, shape));
        Param b = withBias ? Param.frozen("bias", Init.constant(type, 0.0, out)) : null;
        return new Linear(w, b, layout);
    }

    @Override
    public int inFeatures() {
        return inFeatures;
    }

    @Override
    public int outFeatures() {
        return outFeatures;
    }

    @Override
    public WeightLayout layout() {
        return layout;
    }

    public Param weight() {
        return weight;
    }

    /** The bias param, or null. */
    @Override
    public Param bias() {
        return bias;
    }

    @Override
    public DataType dataType() {
        return weight.value().dataType();
    }

    /** The weight param's value itself. */
    @Override
    public INDArray denseWeight() {
        return weight.value();
    }

    @Override
    public boolean denseWeightIsLive() {
        return true;
    }

    @Override
    public void setDenseWeight(INDArray w) {
        if (!Arrays.equals(w.shape(), weight.shape())) {
            throw new IllegalArgumentException("Linear weight must keep its shape " + Arrays.toString(weight.shape()) + ", got "
                    + Arrays.toString(w.shape()));
        }
        if (w != weight.value()) {
            weight.value().assign(w);
        }
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        if (x.rank() != 2 || x.columns() != inFeatures) {
            throw new IllegalArgumentException("Linear expects x [n, " + inFeatures + "], got " + Arrays.toString(x.shape()));
        }
        INDArray y = tape.kernels().linear(x, weight.value(), layout == WeightLayout.OUT_IN, bias == null ? null : bias.value()); // [n, out]
        tape.push(this, new Saved(x));
        return y;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        boolean outIn = layout == WeightLayout.OUT_IN;
        if (weight.isTrainable()) {
            if (outIn) {
                tape.kernels().matmulInto(gradOutput, s.x(), weight.grad(), true, false, 1.0, 1.0); // dW [out, in] += dyᵀ·x
            } else {
                tape.kernels().matmulInto(s.x(), gradOutput, weight.grad(), true, false, 1.0, 1.0); // dW [in, out] += xᵀ·dy
            }
        }
        if (bias != null && bias.isTrainable()) {
            tape.kernels().addColumnSums(gradOutput, bias.grad());                  // db += Σ_rows dy
        }
        return tape.kernels().matmul(gradOutput, weight.value(), false, !outIn);     // dx [n, in]
    }

    @Override
    public String describe() {
        return "Linear(in=" + inFeatures + ", out=" + outFeatures + (bias != null ? ", bias" : "")
                + (layout == WeightLayout.IN_OUT ? ", weight [in, out]" : "") + ")";
    }
}
