package org.peft4j.core.nn;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.Kernels;

/**
 * Rotary position embedding as HF's LLaMA applies it to queries and keys {@code [batch·heads, seq, headDim]}:
 * the vector at position p is split into halves x₁ = x[0, d/2) and x₂ = x[d/2, d) (not interleaved pairs),
 * and each pair (x₁[i], x₂[i]) is rotated by the angle p·invFreq[i]. Positions start at the number of
 * keys before the sequence (past keys/values or a cache). A rotation's inverse is its transpose, so the
 * backward rotates the gradient by the negative angles.
 *
 * <p>HF computes the inverse frequencies and the angles in float32; so does this class (then cos and sin
 * in double), so that long positions give HF's angles to the last bit rather than more exact ones.
 */
public final class RotaryEmbedding implements MultiHeadAttention.PositionEncoding {
    private final float[] inverseFrequencies;   // [headDim/2]
    private final Kernels kernels;

    /**
     * @param inverseFrequencies the angle per position of each of the headDim/2 pairs (see {@link #defaultInverseFrequencies})
     * @param kernels            the kernels that rotate
     */
    public RotaryEmbedding(float[] inverseFrequencies, Kernels kernels) {
        if (inverseFrequencies == null || inverseFrequencies.length == 0) {
            throw new IllegalArgumentException("rotary embedding needs at least one inverse frequency (headDim/2 of them)");
        }
        for (float f : inverseFrequencies) {
            if (!(f > 0) || Float.isInfinite(f)) {
                throw new IllegalArgumentException("rotary inverse frequencies must be finite and > 0, got " + Arrays.toString(inverseFrequencies));
            }
        }
        this.inverseFrequencies = inverseFrequencies.clone();
        this.kernels = java.util.Objects.requireNonNull(kernels, "kernels");
    }

    /** HF's default: invFreq[i] = 1/θ^(2i/d) for i < d/2, computed in float32 as HF does. */
    public static float[] defaultInverseFrequencies(int headDim, double theta) {
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("rotary embedding needs an even head size > 0, got " + headDim);
        }
        if (!(theta > 1)) {
            throw new IllegalArgumentException("rope_theta must be > 1, got " + theta);
        }
        float[] inv = new float[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            float exponent = (float) (2 * i) / headDim;                       // arange(0, d, 2).float() / d
            inv[i] = (float) (1.0 / (float) Math.pow(theta, exponent));        // 1.0 / base ** exponent, in float32
        }
        return inv;
    }

    /** Size of the vectors this embedding rotates: twice the number of frequencies. */
    public int headDim() {
        return 2 * inverseFrequencies.length;
    }

    /** The inverse frequencies (a copy). */
    public float[] inverseFrequencies() {
        return inverseFrequencies.clone();
    }

    @Override
    public INDArray apply(INDArray x, int start, int heads) {
        checkInput(x);
        return kernels.rotateHalves(x, table(start, (int) x.size(1), x.dataType(), true), table(start, (int) x.size(1), x.dataType(), false));
    }

    @Override
    public INDArray backward(INDArray gradOutput, int start, int heads) {
        checkInput(gradOutput);
        int seq = (int) gradOutput.size(1);
        INDArray negativeSin = table(start, seq, gradOutput.dataType(), false).negi();
        return kernels.rotateHalves(gradOutput, table(start, seq, gradOutput.dataType(), true), negativeSin);
    }

    private void checkInput(INDArray x) {
        if (x.rank() != 3 || x.size(2) != headDim()) {
            throw new IllegalArgumentException("rotary embedding expects [batch*heads, seq, " + headDim() + "], got " + Arrays.toString(x.shape()));
        }
    }

    /** cos (or sin) of the angles of positions start .. start+seq−1: {@code [seq, headDim/2]}. */
    private INDArray table(int start, int seq, DataType type, boolean cos) {
        if (start < 0) {
            throw new IllegalArgumentException("rotary positions start at a non-negative index, got " + start);
        }
        int half = inverseFrequencies.length;
        double[] values = new double[seq * half];
        for (int t = 0; t < seq; t++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) (start + t) * inverseFrequencies[i];     // freqs = inv_freq ⊗ positions, in float32
                values[t * half + i] = cos ? Math.cos(angle) : Math.sin(angle);
            }
        }
        return Nd4j.create(values, new long[] {seq, half}, type);
    }
}
