package org.peft4j.core.nn;

import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Inverted dropout: in training, each element is zeroed with probability p (to within 1/65536) and the
 * rest scaled by 1/(1 − p); otherwise the identity. Masks are drawn on the host from the tape's seeded generator, so
 * every backend draws the same mask for the same seed.
 */
public final class Dropout extends Layer {
    private final double p;

    /** The scaled keep-mask, or null when the layer acted as the identity. */
    private record Saved(INDArray scaledMask) {
    }

    public Dropout(double p) {
        if (!(p >= 0.0 && p < 1.0)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1), got " + p);
        }
        this.p = p;
    }

    public double probability() {
        return p;
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray mask = keepMask(x.shape(), x.dataType(), tape);
        tape.push(this, new Saved(mask));
        return mask == null ? x : x.mul(mask);
    }

    /**
     * The scaled keep-mask this layer would multiply an input of the given shape by (0 or 1/(1 − p) per
     * element), drawn from the tape's generator; null when it acts as the identity (not training, or p 0).
     * For callers that fuse the product into their own kernel, as attention does.
     */
    public INDArray keepMask(long[] shape, DataType type, Tape tape) {
        if (!tape.isTraining() || p == 0.0) {
            return null;
        }
        return scaledMask(shape, tape.nextDropoutRandom()).castTo(type);
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        return s.scaledMask() == null ? gradOutput : gradOutput.mul(s.scaledMask());
    }

    private INDArray scaledMask(long[] shape, SplittableRandom rng) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float keep = (float) (1.0 / (1.0 - p));
        float[] mask = new float[Math.toIntExact(n)];
        // four 16-bit uniform draws from each 64-bit random number: p is honoured to 1/65536
        long threshold = Math.round(p * 65536);
        int i = 0;
        while (i < mask.length) {
            long bits = rng.nextLong();
            for (int lane = 0; lane < 4 && i < mask.length; lane++, i++) {
                mask[i] = (bits & 0xFFFF) < threshold ? 0f : keep;
                bits >>>= 16;
            }
        }
        return Nd4j.createFromArray(mask).reshape(shape);
    }

    @Override
    public String describe() {
        return "Dropout(p=" + p + ")";
    }
}
