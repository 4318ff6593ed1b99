package org.peft4j.quant;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * How far a dequantized weight is from the original: the root mean square of the difference, that RMS
 * divided by the RMS of the original, and the largest absolute difference.
 */
public record QuantizationError(double rms, double relativeRms, double maxAbs) {
    /** The error of {@code approx} against {@code exact} (same shape), computed in double. */
    public static QuantizationError of(INDArray exact, INDArray approx) {
        INDArray e = exact.castTo(DataType.DOUBLE);
        INDArray d = approx.castTo(DataType.DOUBLE).sub(e);
        double n = e.length();
        double rms = Math.sqrt(d.mul(d).sumNumber().doubleValue() / n);
        double ref = Math.sqrt(e.mul(e).sumNumber().doubleValue() / n);
        return new QuantizationError(rms, ref == 0 ? 0 : rms / ref, d.amaxNumber().doubleValue());
    }
}
